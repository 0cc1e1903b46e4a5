#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Deadlock cycles reported the moment they close (lib/cycle.c), seen from
# outside: test/legacy/deadlock.c deadlocks two threads (ABBA on two
# mutexes; a join and a lock) while main sleeps on in a loop, so a timer
# is always pending and the hub's own deadlock report can never come.
# Under the preload the report must come within a second of the cycle
# closing, name both threads, both objects and where the closing one
# waits, come once, and leave main ticking (the program waits on, as it
# would natively; the script then kills it, by pid). A run with the locks
# in one order prints no report and exits 0. Natively the cycles just
# hang, so they are run preloaded only.
#
# usage: deadlock.sh DEADLOCK_PROGRAM LIBGREEN_SO
set -u
prog=$1
lib=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$2
dir=$(mktemp -d)
trap '[ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
out=$dir/out err=$dir/err
failed=0

fail() {
    echo "deadlock: FAIL: $*"
    echo "  stdout: $(tr '\n' ' ' <"$out")"
    echo "  stderr:"
    sed 's/^/    /' "$err"
    failed=1
}

# wait_for FILE PATTERN COUNT TENTHS: until FILE has COUNT lines matching.
wait_for() {
    for _ in $(seq "$(($4 * 10))"); do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.01
    done
    return 1
}

# cycle MODE PATTERN...: the program preloaded; after "holding", a report
# within a second whose lines match every PATTERN; main ticks on after it.
cycle() {
    local mode=$1
    shift
    : >"$out" # here: the job's own redirection comes after the fork
    : >"$err"
    env -u GREEN_MAX_BLOCKING_MS -u GREEN_DEBUG LD_PRELOAD="$lib" \
        "$prog" "$mode" >"$out" 2>"$err" &
    pid=$!
    if ! wait_for "$out" '^holding$' 1 50; then
        fail "$mode: never holding"
    elif ! wait_for "$err" 'deadlock cycle: 2 green threads' 1 10; then
        fail "$mode: no cycle report within a second of holding"
    else
        sleep 0.2 # the report's lines are one write each
        for p in "$@"; do
            grep -q -- "$p" "$err" || fail "$mode: no report line matching '$p'"
        done
        wait_for "$out" '^ticks 100$' 1 50 ||
            fail "$mode: main did not tick on after the report"
        [ "$(grep -c 'deadlock cycle' "$err")" -eq 1 ] ||
            fail "$mode: the cycle was reported more than once"
        kill -0 "$pid" 2>/dev/null || fail "$mode: the program ended"
    fi
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
    [ "$failed" -eq 0 ] && echo "deadlock: $mode: reported"
}

cycle abba \
    'waits in pthread_mutex_lock on mutex_a (0x[0-9a-f]*), held by #[0-9]* "locker-a"' \
    'waits in pthread_mutex_lock on mutex_b (0x[0-9a-f]*), held by #[0-9]* "locker-b"' \
    '"locker-b" waits in pthread_mutex_lock on mutex_a.*; at locker+0x[0-9a-f]* ([^)]*deadlock)\|"locker-a" waits in pthread_mutex_lock on mutex_b.*; at locker+0x[0-9a-f]* ([^)]*deadlock)' \
    'the program waits on, as it would natively'
cycle mixed \
    '"holder" waits in pthread_join on 0x[0-9a-f]*, for the end of #[0-9]* "joinee"' \
    'at \(holder_main\|joinee_main\)+0x[0-9a-f]* ([^)]*deadlock)' \
    '"joinee" waits in pthread_mutex_lock on mutex_a (0x[0-9a-f]*), held by #[0-9]* "holder"'

# No cycle: the same lockers in one order end, and nothing is reported.
env -u GREEN_MAX_BLOCKING_MS -u GREEN_DEBUG LD_PRELOAD="$lib" \
    timeout 20 "$prog" ordered >"$out" 2>"$err"
rc=$?
[ "$rc" -eq 0 ] || fail "ordered: exit $rc"
grep -qx done "$out" || fail "ordered: not done"
! grep -q 'deadlock' "$err" || fail "ordered: a report without a cycle"
[ "$failed" -eq 0 ] && echo "deadlock: ordered: no report"
exit "$failed"
