#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dump signal (GREEN_DUMP_SIGNAL, lib/dump.c), seen from outside:
# test/legacy/dump.c parks named threads in read, pthread_cond_wait,
# nanosleep, waitpid, a raw futex wait and a held mutex while a ticker
# runs; this script
# sends SIGUSR2 twice and checks that each dump names every thread with
# what it waits on (an escaped name included) and a backtrace naming its
# function, and that the program ran on and exits 0 with the same output
# as natively. Then the bad input: an unknown name and reserved signals
# earn libgreen's warning and no handler (the kernel's SigCgt says), an
# unset variable neither; green-run --dump-signal=USR2 installs it.
#
# usage: dump.sh DUMP_PROGRAM LIBGREEN_SO GREEN_RUN
set -u
prog=$1
lib=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$2
green_run=$3
dir=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null; [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
out=$dir/out err=$dir/err nat=$dir/nat
failed=0

fail() {
    echo "dump: FAIL: $*"
    echo "  stdout: $(cat "$out")"
    echo "  stderr:"
    sed 's/^/    /' "$err"
    failed=1
}

# wait_for FILE PATTERN COUNT: until FILE has COUNT lines matching (5 s).
wait_for() {
    for _ in $(seq 500); do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.01
    done
    return 1
}

# start ENV...: the program under the preload in the background, its
# stdin a FIFO on fd 3 (a line there lets it finish); waits for "ready".
start() {
    rm -f "$dir/in"
    mkfifo "$dir/in"
    # Emptied here, not only by the background job's redirections: those
    # come after the fork, and the previous run's "ready" must not count.
    : >"$out"
    : >"$err"
    env -u GREEN_DUMP_SIGNAL -u GREEN_MAX_BLOCKING_MS -u GREEN_PATCH "$@" \
        "$prog" <"$dir/in" >"$out" 2>"$err" &
    pid=$!
    exec 3>"$dir/in"
    wait_for "$out" '^ready$' 1 || fail "$*: never ready"
}

# finish: lets it end; its exit status.
finish() {
    echo go >&3
    exec 3>&-
    timeout 20 tail --pid="$pid" -f /dev/null
    wait "$pid"
    rc=$?
    pid=
    return $rc
}

# caught SIG: 1 if the kernel runs a handler of the process for SIG.
caught() {
    mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status")
    echo $(( (0x$mask >> ($1 - 1)) & 1 ))
}

(sleep 0.3; echo go) | LEGACY_NATIVE=1 timeout 20 "$prog" >"$nat" 2>/dev/null ||
    { echo "dump: FAIL: natively exited $?"; exit 1; }
grep -q '^ticker ran on meanwhile: yes$' "$nat" ||
    { echo "dump: FAIL: natively: $(cat "$nat")"; exit 1; }

# --- two dumps while it runs -------------------------------------------------
start GREEN_DUMP_SIGNAL=USR2 LD_PRELOAD="$lib"
[ "$(caught 12)" = 1 ] || fail "no handler for SIGUSR2"
kill -USR2 "$pid"
wait_for "$err" '^end of dump$' 1 || fail "no dump after the first signal"
sleep 0.1
kill -USR2 "$pid"
wait_for "$err" '^end of dump$' 2 || fail "no dump after the second signal"
finish
rc=$?
[ "$rc" = 0 ] || fail "exited $rc"
cmp -s "$nat" "$out" || fail "stdout differs from the native run: $(cat "$nat")"
[ "$(grep -c '^libgreen dump: ' "$err")" = 2 ] || fail "not two dumps"
grep -q '^stats: threads [0-9]*, parked [0-9]*, ready [0-9]*, switches [0-9]*, hub turns [0-9]*, fds registered [0-9]*, longest hub stall [0-9.]* ms, pool queue depth [0-9]*' "$err" ||
    fail "no stats line"

# expect NAME WAIT FUNCTION: each dump has NAME's line, parked on WAIT,
# made by another green thread, and a backtrace naming FUNCTION.
expect() {
    n=$(grep -cE -- "^#[0-9]+ \"$1\": parked for [0-9.]+ s on $2; created by #[0-9]+\$" "$err")
    [ "$n" = 2 ] || fail "$1: $n dump lines parked on $2, wanted 2"
    bt=$(grep -A1 -E -- "^#[0-9]+ \"$1\": " "$err" | grep '^    backtrace' | head -1)
    case $bt in
    *"$3"*) ;;
    *) fail "$1: the backtrace does not name $3: $bt" ;;
    esac
}
expect reader 'fd [0-9]+ for reading' reader_main
expect condwait 'pthread_cond_wait on 0x[0-9a-f]+ \(dump_cond\)' condwait_main
expect 'sleep\\ner\\xff' 'green_sleep; its timer fires in [0-9.]+ s' sleeper_main
expect waiter 'child process [0-9]+' waiter_main
expect futex 'futex 0x[0-9a-f]+ \(futex_word\) while it holds 0' futex_main
expect locker 'pthread_mutex_lock on 0x[0-9a-f]+ \(held_lock\); held by #[0-9]+ root' locker_main
grep -qE '^#[0-9]+ "ticker": (ready|parked|running)' "$err" || fail "no ticker line"
grep -qE '^#[0-9]+ root: parked for [0-9.]+ s on fd 0 for reading$' "$err" ||
    fail "main is not parked in its read of stdin"
[ "$(grep -c 'sleep$' "$err")" = 0 ] || fail "a raw newline from a name"

# --- bad input: a warning, and no handler --------------------------------------
for bad in BOGUS KILL SIGSTOP 32 33 RTMIN+14 ''; do
    start GREEN_DUMP_SIGNAL="$bad" LD_PRELOAD="$lib"
    grep -q "^libgreen: GREEN_DUMP_SIGNAL=\"$bad\": expected a signal name or number .*; using no signal\$" "$err" ||
        fail "GREEN_DUMP_SIGNAL=$bad: no warning"
    [ "$(caught 12)" = 0 ] || fail "GREEN_DUMP_SIGNAL=$bad: SIGUSR2 is caught"
    finish || fail "GREEN_DUMP_SIGNAL=$bad: exited $?"
done
start LD_PRELOAD="$lib"
[ -s "$err" ] && fail "unset: messages"
[ "$(caught 12)" = 0 ] || fail "unset: SIGUSR2 is caught"
finish || fail "unset: exited $?"

# --- green-run --dump-signal ------------------------------------------------------
start ${GREEN_TEST_PRELOAD:+LD_PRELOAD=$GREEN_TEST_PRELOAD} "$green_run" \
    --lib="$2" --dump-signal=SIGUSR2 --
[ "$(caught 12)" = 1 ] || fail "green-run --dump-signal=SIGUSR2: no handler"
kill -USR2 "$pid"
wait_for "$err" '^end of dump$' 1 || fail "green-run: no dump"
finish || fail "green-run: exited $?"
cmp -s "$nat" "$out" || fail "green-run: stdout differs"

[ "$failed" = 0 ] && echo "dump: ok (two dumps, 6 waits named, 8 bad or unset values)"
exit "$failed"
