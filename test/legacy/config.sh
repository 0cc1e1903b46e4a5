#!/bin/sh
# The preload's configuration, seen from outside: green-run's options,
# GREEN_PATCH, GREEN_MAX_BLOCKING_MS (the blocking monitor) and what an
# invalid value does (a message on stderr, the default, no crash).
#
# usage: config.sh CONFIG_PROGRAM LIBGREEN_SO GREEN_RUN
set -u
prog=$1
lib=$2
run=$3
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
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
grep -q "GREEN_PATCH=all,bogus: unknown family 'bogus'" "$err" ||
    fail "no message for GREEN_PATCH=all,bogus"
grep -qx 'os_threads=1' "$out" || fail "bad GREEN_PATCH: not patching all"
expect 0 env GREEN_MAX_BLOCKING_MS=soon GREEN_DEBUG=x LD_PRELOAD="$lib" "$prog"
grep -q "GREEN_MAX_BLOCKING_MS=soon" "$err" ||
    fail "no message for GREEN_MAX_BLOCKING_MS=soon"
grep -q "GREEN_DEBUG=x" "$err" || fail "no message for GREEN_DEBUG=x"
grep -q "$monitor" "$err" || fail "bad GREEN_MAX_BLOCKING_MS: no default"

# green-run's own errors.
expect 2 "$run"
grep -q "no program given" "$err" || fail "green-run without a program"
expect 2 "$run" --frobnicate "$prog"
expect 127 "$run" /nonexistent/program
expect 127 "$run" --lib=/nonexistent/libgreen.so "$prog"

[ "$failed" = 0 ] && echo "config: all checks passed"
exit "$failed"
