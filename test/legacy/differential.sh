#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential test of the preload: runs a program natively and under
# LD_PRELOAD=<libgreen.so> and requires byte-identical standard output
# and the same exit status.
#
# The program runs once per group ("PROGRAM list" names them; a program
# without groups is run once, whole), each with its own time limit, so
# that a hang in one group does not hide the outcomes of the others. On
# a difference it prints a unified diff per group (native first) and,
# for a group killed by the limit, the first case that never printed.
# A group whose native output differs between two runs is reported as
# the program's own fault.
#
# usage: differential.sh PROGRAM LIBGREEN_SO [SECONDS_PER_GROUP]
set -u

prog=$1
lib=$2
# A sanitizer's runtime (a sanitizer build's tests) goes first.
lib=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$lib
limit=${3:-60}
dir=$(mktemp -d "${TMPDIR:-/tmp}/differential.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# run OUTNAME GROUP [ENV...]: $dir/OUTNAME.{out,err,rc}
run() {
    name=$1
    group=$2
    shift 2
    # shellcheck disable=SC2086 # an empty group is no argument
    env "$@" timeout -s KILL "$limit" "$prog" $group >"$dir/$name.out" \
        2>"$dir/$name.err"
    echo $? >"$dir/$name.rc"
}

groups=$(LEGACY_NATIVE=1 timeout 10 "$prog" list 2>/dev/null) || groups=
[ -n "$groups" ] || groups=all

status=0
lines=0
for g in $groups; do
    arg=$g
    [ "$g" = all ] && arg=
    run "native.$g" "$arg" LEGACY_NATIVE=1
    if [ "$(cat "$dir/native.$g.rc")" != 0 ]; then
        echo "differential: [$g] fails natively (status" \
            "$(cat "$dir/native.$g.rc")): fix the program first"
        cat "$dir/native.$g.err"
        status=1
        continue
    fi
    run "preload.$g" "$arg" LD_PRELOAD="$lib"
    rc=$(cat "$dir/preload.$g.rc")
    n=$(wc -l <"$dir/native.$g.out")
    lines=$((lines + n))
    if cmp -s "$dir/native.$g.out" "$dir/preload.$g.out" && [ "$rc" = 0 ]; then
        echo "differential: [$g] $n lines identical"
        continue
    fi
    status=1
    echo "differential: [$g] FAILED under LD_PRELOAD (status $rc)"
    if ! cmp -s "$dir/native.$g.out" "$dir/preload.$g.out"; then
        diff -u "$dir/native.$g.out" "$dir/preload.$g.out" |
            sed -e '1s|.*|--- native|' -e '2s|.*|+++ LD_PRELOAD|'
    fi
    if [ "$rc" = 137 ]; then
        got=$(wc -l <"$dir/preload.$g.out")
        next=$(sed -n "$((got + 1))p" "$dir/native.$g.out" |
            sed 's/  .*//')
        echo "differential: [$g] killed after $limit s; hung in the case" \
            "after line $got: '$next'"
    fi
    if [ -s "$dir/preload.$g.err" ]; then
        echo "differential: [$g] stderr under LD_PRELOAD:"
        head -20 "$dir/preload.$g.err"
    fi
    run "again.$g" "$arg" LEGACY_NATIVE=1
    if ! cmp -s "$dir/native.$g.out" "$dir/again.$g.out"; then
        echo "differential: [$g] WARNING: two native runs differ too:"
        diff -u "$dir/native.$g.out" "$dir/again.$g.out"
    fi
done
if [ $status = 0 ]; then
    echo "differential: all $lines lines identical"
fi
exit $status
