#!/bin/sh
# SPDX-License-Identifier: MIT
# The watchdog (lib/watchdog.c), seen from outside: test/legacy/watchdog.c
# blocks its OS thread in raw `syscall` instructions, which the preload
# cannot reach, and the report must come while the call is still blocked
# (before the marker the program writes after it), name the function the
# call is in, come once per episode, and not at all with
# GREEN_MAX_BLOCKING_MS=0. The calls themselves must end as natively (the
# probe signal never makes them fail with EINTR).
#
# usage: watchdog.sh WATCHDOG_PROGRAM LIBGREEN_SO
set -u
# These are the watchdog's reports: the hand-off (legacy-handoff) would
# give a stuck main its OS thread and leave nothing to report.
export GREEN_HANDOFF_MS=0
prog=$1
lib=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$2
out=$(mktemp)
err=$(mktemp)
nat=$(mktemp)
trap 'rm -f "$out" "$err" "$nat"' EXIT
failed=0
report='kept the hub from running'

fail() {
    echo "watchdog: FAIL: $*"
    echo "  stdout: $(cat "$out")"
    echo "  stderr:"
    sed 's/^/    /' "$err"
    failed=1
}

# run EXPECTED_STATUS ENV... -- ARGS: the program under the preload.
run() {
    want=$1
    shift
    timeout 20 env -u GREEN_MAX_BLOCKING_MS -u GREEN_PATCH "$@" >"$out" \
        2>"$err"
    got=$?
    [ "$got" = "$want" ] || fail "$* exited $got, wanted $want"
}

# line_of PATTERN: the first stderr line number matching, or 0.
line_of() {
    n=$(grep -n -- "$1" "$err" | head -1 | cut -d: -f1)
    echo "${n:-0}"
}

LEGACY_NATIVE=1 timeout 20 "$prog" episodes >"$nat" 2>/dev/null
rc=$?
[ "$rc" = 77 ] && { echo "watchdog: no raw system calls here: skipped"; exit 77; }
[ "$rc" = 0 ] || { echo "watchdog: FAIL: natively exited $rc"; exit 1; }

# Two episodes: two reports, each before its marker and after the last.
run 0 GREEN_MAX_BLOCKING_MS=100 LD_PRELOAD="$lib" "$prog" episodes
cmp -s "$nat" "$out" || fail "stdout differs from the native run: $(cat "$nat")"
[ "$(grep -c "$report" "$err")" = 2 ] ||
    fail "not exactly two reports for two episodes"
r1=$(line_of "$report.*stuck_in_raw_nanosleep")
m1=$(line_of 'marker: episode 1 returned')
r2=$(line_of "$report.*stuck_in_raw_read")
m2=$(line_of 'marker: episode 2 returned')
[ "$r1" -gt 0 ] || fail "the first report does not name stuck_in_raw_nanosleep"
[ "$r2" -gt 0 ] || fail "the second report does not name stuck_in_raw_read"
[ "$r1" -gt 0 ] && [ "$r1" -lt "$m1" ] ||
    fail "the first report did not come while the call was blocked"
[ "$r2" -gt "$m1" ] && [ "$r2" -lt "$m2" ] ||
    fail "the second report did not come while the call was blocked"
grep "$report" "$err" | head -1 | grep -q 'nanosleep (' ||
    fail "the first report does not name the system call"
grep "$report" "$err" | sed -n 2p | grep -q 'backtrace: stuck_in_raw_read+.* <- main+' ||
    fail "the second report's backtrace (the probe's) is not read <- main"
grep "$report" "$err" | head -1 | grep -q 'greenlet root' ||
    fail "the first report does not name the root greenlet"

# The monitor off: nothing.
run 0 GREEN_MAX_BLOCKING_MS=0 LD_PRELOAD="$lib" "$prog" episodes
grep -q "$report" "$err" && fail "GREEN_MAX_BLOCKING_MS=0 still reported"
grep -q "libgreen" "$err" && fail "GREEN_MAX_BLOCKING_MS=0: libgreen said something"

# A constructor blocks before main and before any green call.
run 0 WATCHDOG_EARLY=1 GREEN_MAX_BLOCKING_MS=100 LD_PRELOAD="$lib" \
    "$prog" early
[ "$(grep -c "$report" "$err")" = 1 ] ||
    fail "the block before the first green call: not exactly one report"
re=$(line_of "$report.*stuck_in_raw_nanosleep")
me=$(line_of 'marker: early returned')
[ "$re" -gt 0 ] && [ "$re" -lt "$me" ] ||
    fail "the block before the first green call was not named while it lasted"
grep -q 'before its first green call' "$err" ||
    fail "the early report does not say it came before the first green call"
grep -q 'marker: early returned' "$err" || fail "no early marker"

[ "$failed" = 0 ] && echo "watchdog: all checks passed"
exit "$failed"
