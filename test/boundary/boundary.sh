#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs test/boundary/boundary.c's cases; a program linked with libgreen
# must print nothing on stderr unless something failed or it asked.
#
#   boundary.sh BOUNDARY_PROGRAM
set -u
prog=$1
# BOUNDARY_VALGRIND=1 (dev.sh extra's valgrind step): the program runs
# under valgrind, whose reports go to stderr, which must stay empty.
# MESON_EXE_WRAPPER (a cross build's qemu) runs the program otherwise.
wrap=${MESON_EXE_WRAPPER:-}
if [ "${BOUNDARY_VALGRIND:-}" = 1 ]; then
    wrap="valgrind --error-exitcode=1 --leak-check=full"
    wrap="$wrap --errors-for-leak-kinds=definite --show-leak-kinds=definite"
    wrap="$wrap --quiet"
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
failed=0

# run NAME ENV...: runs the case with the environment given; it must exit
# 0 with an empty stderr.
run() {
    name=$1
    shift
    # shellcheck disable=SC2086 # $wrap is a command line or nothing
    env -u GREEN_PATCH -u GREEN_MAX_BLOCKING_MS -u GREEN_DEBUG "$@" \
        $wrap "$prog" "$name" 2>"$err"
    rc=$?
    if [ "$rc" != 0 ] || [ -s "$err" ]; then
        echo "boundary: FAIL: $name (exit $rc), stderr:"
        cat "$err"
        failed=1
    else
        echo "boundary: $name: ok"
    fi
}

run threads
run quiet
run log GREEN_MAX_BLOCKING_MS=50
run yield
run hubs
exit $failed
