#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Load and churn without loss: examples/legacy_echo under the preload,
# churn.c's connections against it, then the server's fds and memory
# back where they were.
#
#   churn.sh LIBGREEN_SO LEGACY_ECHO CHURN [CONNS [SECONDS [PARALLEL]]]
#
# (defaults: at least 10,000 connections and at least 60 s, 64 at a
# time; CI runs at least 2,000 in at least 15 s). Steps:
#  1. the server starts under LD_PRELOAD (a sanitizer's runtime first
#     when GREEN_TEST_PRELOAD says so);
#  2. a warm-up of 1,000 connections at the same parallelism, so that
#     what libgreen keeps for reuse (free stacks, up to 64 a size kept
#     warm; fd-table chunks; task records) and malloc's arenas are in
#     place before the baseline: its fd count (/proc/PID/fd) and RSS
#     (VmRSS);
#  3. the churn: connections opened and closed, with half-closes,
#     closes while the echo is unread and resets (SO_LINGER 0); every
#     echoed byte checked (churn.c);
#  4. once the last connection is closed, the server's fds must come back
#     to the baseline (within 10 s) and its RSS to within TOLERANCE_KIB
#     of it.
# The tolerance (CHURN_RSS_TOLERANCE_KIB, default 512) is measured, not
# guessed (test/fuzz/README.md): five runs of 15 s (about 30,000
# connections each) ended with the RSS exactly where it began, 0 KiB.
# 512 KiB is what a run may legitimately keep on top of the warm-up:
# libgreen keeps up to 64 free stacks of a size warm, and if the churn's
# peak of live connections passed the warm-up's, up to 64 more stacks'
# touched pages (legacy_echo's thread touches two 4 KiB pages) stay. A
# leak of anything per connection is far beyond it: 30,000 connections
# times 20 bytes is 600 KiB. A sanitizer build (its quarantine holds
# freed memory) sets it out of reach and keeps the other checks.
set -u

lib=$1
server=$2
client=$3
conns=${4:-10000}
seconds=${5:-60}
parallel=${6:-64}
tolerance=${CHURN_RSS_TOLERANCE_KIB:-512}
pre=${GREEN_TEST_PRELOAD:+$GREEN_TEST_PRELOAD:}$lib

dir=$(mktemp -d "${TMPDIR:-/tmp}/churn.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

LD_PRELOAD=$pre GREEN_MAX_BLOCKING_MS=0 "$server" 0 \
    --max-seconds $((seconds + 120)) >"$dir/port" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
port=$(head -1 "$dir/port")
if [ -z "$port" ]; then
    echo "churn: the server did not start"
    cat "$dir/err"
    exit 1
fi

fds() { ls "/proc/$pid/fd" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
# Waits (up to 10 s) until the server holds at most $1 fds.
settle() {
    local n
    for _ in $(seq 200); do
        n=$(fds)
        [ "$n" -le "$1" ] && break
        sleep 0.05
    done
    sleep 0.2
}

status=0
"$client" "$port" 1000 0 "$parallel" 999 >"$dir/warm" ||
    { echo "churn: the warm-up failed:"; cat "$dir/warm"; status=1; }
# The warm-up's connections closed: the baseline.
settle 1000000
sleep 0.5
fd0=$(fds)
settle "$fd0"
fd0=$(fds)
rss0=$(rss)

start=$(date +%s.%N)
"$client" "$port" "$conns" "$seconds" "$parallel" 1 || status=1
end=$(date +%s.%N)

settle "$fd0"
fd1=$(fds)
rss1=$(rss)
if ! kill -0 "$pid" 2>/dev/null; then
    echo "churn: the server died"
    cat "$dir/err"
    exit 1
fi
delta=$((rss1 - rss0))
echo "churn: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s;" \
    "server fds $fd0 before, $fd1 after; RSS $rss0 KiB before," \
    "$rss1 KiB after ($delta KiB, tolerance $tolerance KiB)"
if [ "$fd1" -gt "$fd0" ]; then
    echo "churn: FAIL: the server kept $((fd1 - fd0)) fds"
    ls -l "/proc/$pid/fd" | tail -5
    status=1
fi
if [ "$delta" -gt "$tolerance" ]; then
    echo "churn: FAIL: RSS grew by $delta KiB"
    status=1
fi
if [ -s "$dir/err" ]; then
    echo "churn: the server said:"
    head -5 "$dir/err"
fi
[ "$status" = 0 ] && echo "churn: ok"
exit "$status"
