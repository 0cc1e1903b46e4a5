#!/bin/sh
# SPDX-License-Identifier: MIT
# The preload's configuration, seen from outside: green-run's options,
# GREEN_PATCH, GREEN_MAX_BLOCKING_MS (the blocking monitor) and what an
# invalid value does (a message on stderr, the default, no crash); and
# green-run itself: --version, --patch= checked before anything runs,
# finding the library by its SONAME alone, and where libgreen goes in an
# LD_PRELOAD that already holds a sanitizer runtime or a libgreen.
#
# usage: config.sh CONFIG_PROGRAM LIBGREEN_SO GREEN_RUN
set -u
if [ -n "${GREEN_TEST_PRELOAD:-}" ]; then
    # green-run's option handling and LD_PRELOAD ordering are the same
    # code in a sanitizer build; the plain build's run checks them.
    echo "config: skipped in a sanitizer build"
    exit 77
fi
prog=$1
lib=$2
run=$3
out=$(mktemp)
err=$(mktemp)
tmpd=$(mktemp -d)
tmpd=$(cd "$tmpd" && pwd -P) # green-run puts real paths in LD_PRELOAD
trap 'rm -f "$out" "$err"; rm -rf "$tmpd"' EXIT
failed=0

fail() {
    echo "config: FAIL: $*"
    echo "  stdout: $(cat "$out")"
    echo "  stderr: $(cat "$err")"
    failed=1
}

# expect STATUS CMD...: runs CMD, checks its exit status.
expect() {
    want=$1
    shift
    "$@" >"$out" 2>"$err"
    got=$?
    [ "$got" = "$want" ] || fail "$* exited $got, wanted $want"
}

monitor='kept the hub from running'

# The hand-off (GREEN_HANDOFF_MS, 20 ms) gives the spinner, a green
# pthread computing 300 ms, an OS thread of its own: the hub is never
# kept, and the monitor has nothing to say.
expect 0 env GREEN_MAX_BLOCKING_MS=50 GREEN_DEBUG=2 "$run" "$prog"
grep -qx 'os_threads=1' "$out" || fail "hand-off: not one OS thread"
grep -q "$monitor" "$err" && fail "hand-off: the monitor still reported"
grep -q 'hand-off: ' "$err" || fail "hand-off: no hand-off"
expect 0 env GREEN_HANDOFF_MS=soon GREEN_DEBUG=2 LD_PRELOAD="$lib" "$prog"
grep -q 'GREEN_HANDOFF_MS="soon": expected milliseconds' "$err" ||
    fail "no message for GREEN_HANDOFF_MS=soon"
grep -q 'hand-off: ' "$err" || fail "bad GREEN_HANDOFF_MS: no default"

# The rest is the monitor's, with the hand-off off.
export GREEN_HANDOFF_MS=0

# Everything patched, monitor at 50 ms: one OS thread, the spinner named.
expect 0 env GREEN_MAX_BLOCKING_MS=50 "$run" "$prog"
grep -qx 'os_threads=1' "$out" || fail "green-run: not one OS thread"
grep -q "$monitor" "$err" || fail "the blocking monitor did not report"
[ "$(grep -c "$monitor" "$err")" = 1 ] || fail "the monitor reported twice"

# The option turns the monitor off.
expect 0 "$run" --max-blocking-ms=0 "$prog"
grep -q "$monitor" "$err" && fail "--max-blocking-ms=0 still reported"

# All but threads: real pthreads again.
expect 0 "$run" --patch=all,-thread "$prog"
grep -qx 'os_threads=3' "$out" || fail "--patch=all,-thread: threads green"

# Invalid values: a message, the default, the program runs as usual.
expect 0 env GREEN_PATCH=all,bogus LD_PRELOAD="$lib" "$prog"
grep -q "GREEN_PATCH=\"all,bogus\": expected .*'bogus' is not one; using all" "$err" ||
    fail "no message for GREEN_PATCH=all,bogus"
grep -qx 'os_threads=1' "$out" || fail "bad GREEN_PATCH: not patching all"
expect 0 env GREEN_MAX_BLOCKING_MS=soon GREEN_DEBUG=x LD_PRELOAD="$lib" "$prog"
grep -q 'GREEN_MAX_BLOCKING_MS="soon": expected' "$err" ||
    fail "no message for GREEN_MAX_BLOCKING_MS=soon"
grep -q 'GREEN_DEBUG="x": expected a level from 0 to 9; using 0' "$err" || fail "no message for GREEN_DEBUG=x"
grep -q "$monitor" "$err" || fail "bad GREEN_MAX_BLOCKING_MS: no default"

# One rule for every variable: an empty value is a bad value too.
expect 0 env GREEN_PATCH= GREEN_STACK_SIZE= GREEN_MAX_BLOCKING_MS= \
    LD_PRELOAD="$lib" "$prog"
for v in GREEN_PATCH GREEN_STACK_SIZE GREEN_MAX_BLOCKING_MS; do
    [ "$(grep -c "^libgreen: $v=\"\": expected .*; using " "$err")" = 1 ] ||
        fail "empty $v: not exactly one message"
done
grep -qx 'os_threads=1' "$out" || fail "empty GREEN_PATCH: not patching all"
expect 0 env GREEN_MAX_BLOCKING_MS=99999999999 LD_PRELOAD="$lib" "$prog"
grep -q 'GREEN_MAX_BLOCKING_MS="99999999999": expected' "$err" ||
    fail "an out-of-range GREEN_MAX_BLOCKING_MS was taken"

# GREEN_PATCH=none under the preload: libc's own threads, no monitor.
expect 0 env GREEN_PATCH=none LD_PRELOAD="$lib" "$prog"
grep -qx 'os_threads=3' "$out" || fail "GREEN_PATCH=none: threads green"
[ -s "$err" ] && fail "GREEN_PATCH=none: something was printed"

# green-run's own errors.
expect 2 "$run"
grep -q "no program given" "$err" || fail "green-run without a program"
expect 2 "$run" --frobnicate "$prog"
expect 127 "$run" /nonexistent/program
expect 127 "$run" --lib=/nonexistent/libgreen.so "$prog"

# --version: green-run's version is the library's (libgreen.so.X.Y.Z).
expect 0 "$run" --version
grep -qx "green-run ${lib##*/libgreen.so.}" "$out" ||
    fail "green-run --version is not 'green-run ${lib##*/libgreen.so.}'"

# An unknown --patch= word: exit 2 before anything runs, the bad word and
# the known ones named.
expect 2 "$run" --patch=all,bogus "$prog"
grep -q "unknown word 'bogus'" "$err" || fail "--patch=all,bogus: word not named"
grep -q "socket select time thread dns" "$err" ||
    fail "--patch=all,bogus: known words not listed"
[ -s "$out" ] && fail "--patch=all,bogus: the program ran"
expect 2 "$run" --patch= "$prog"

# The SONAME alone (no libgreen.so symlink), next to a copy of green-run.
mkdir "$tmpd/soname"
cp "$run" "$tmpd/soname/green-run"
cp "$lib" "$tmpd/soname/libgreen.so.0"
expect 0 "$tmpd/soname/green-run" /usr/bin/env
grep -qx "LD_PRELOAD=$tmpd/soname/libgreen.so.0" "$out" ||
    fail "green-run did not find libgreen.so.0 next to it"
expect 0 "$tmpd/soname/green-run" "$prog"
grep -qx 'os_threads=1' "$out" || fail "libgreen.so.0 found: not one OS thread"

# Sanitizer runtimes stay first in LD_PRELOAD, libgreen right after them.
# The fake libasan.so.8 is a copy of libev (which libgreen loads anyway),
# so that ld.so really preloads it.
real=$(readlink -f "$lib")
libev=$(ldd "$lib" | awk '$1 ~ /^libev\.so/ {print $3; exit}')
if [ -f "$libev" ]; then
    cp "$libev" "$tmpd/libasan.so.8"
    cp "$libev" "$tmpd/libother.so"
    asan=$tmpd/libasan.so.8
    other=$tmpd/libother.so
    expect 0 env LD_PRELOAD="$asan" "$run" /usr/bin/env
    grep -qx "LD_PRELOAD=$asan:$real" "$out" ||
        fail "libasan not kept first: $(grep LD_PRELOAD "$out")"
    expect 0 env LD_PRELOAD="$asan $other" "$run" /usr/bin/env
    grep -qx "LD_PRELOAD=$asan:$real:$other" "$out" ||
        fail "libgreen not right after libasan: $(grep LD_PRELOAD "$out")"
    expect 0 env LD_PRELOAD="$other" "$run" /usr/bin/env
    grep -qx "LD_PRELOAD=$real:$other" "$out" ||
        fail "libgreen not first: $(grep LD_PRELOAD "$out")"
    # The program runs green behind the fake sanitizer, which did load.
    expect 0 env LD_PRELOAD="$asan" "$run" "$prog"
    grep -qx 'os_threads=1' "$out" || fail "behind libasan: not one OS thread"
    grep -q 'cannot be preloaded' "$err" && fail "the fake libasan did not load"
else
    fail "no libev found in ldd $lib for the fake sanitizer"
fi

# A libgreen already in LD_PRELOAD is not added twice.
expect 0 env LD_PRELOAD="$real" "$run" /usr/bin/env
grep -qx "LD_PRELOAD=$real" "$out" ||
    fail "libgreen twice in LD_PRELOAD: $(grep LD_PRELOAD "$out")"

[ "$failed" = 0 ] && echo "config: all checks passed"
exit "$failed"
