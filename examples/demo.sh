#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/demo.sh [build-dir]: the preload demo. Runs one unmodified
# blocking thread-per-connection echo server (examples/legacy_echo, built
# without libgreen) twice, natively and then under libgreen (green-run if
# it was built, else LD_PRELOAD=libgreen.so), hits each with 1,000
# concurrent connections ping-ponging 64-byte messages for a few seconds
# (bench/echo/client), and prints what changed: round trips per second,
# p99 latency, the server's CPU time per round trip, its peak RSS and its
# OS threads. Builds nothing (./dev.sh demo builds first); loopback only;
# about 15 seconds; the servers are killed on exit.
#
# Knobs (environment): CONNS (1000), DURATION (3), WARMUP (1).
set -u
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-${BUILD:-$root/build}}
case $build in /*) ;; *) build=$root/$build ;; esac
conns=${CONNS:-1000}
duration=${DURATION:-3}
warmup=${WARMUP:-1}

server=$build/examples/legacy_echo
client=$build/bench/echo/client
for f in "$server" "$client"; do
    if [ ! -x "$f" ]; then
        echo "demo.sh: $f is missing: build first (./dev.sh demo, or ninja -C $build)" >&2
        exit 1
    fi
done
if [ -x "$build/green-run" ]; then
    green=("$build/green-run")
    how="green-run"
elif [ -f "$build/libgreen.so" ]; then
    green=(env "LD_PRELOAD=$build/libgreen.so")
    how="LD_PRELOAD=libgreen.so"
else
    echo "demo.sh: neither $build/green-run nor $build/libgreen.so: build first" >&2
    exit 1
fi

# Server and client on different cores when there are two.
pin_s=() pin_c=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_s=(taskset -c 0) pin_c=(taskset -c 1)
fi

tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run NAME CMD...: starts the server CMD (plus its port argument), runs
# the client against it, stores the client's key=value line in $tmp/NAME.
run() {
    local name=$1 port="" i
    shift
    "${pin_s[@]}" "$@" 0 --max-seconds 60 >"$tmp/port" 2>"$tmp/$name.err" &
    pid=$!
    for i in $(seq 1 50); do
        port=$(head -n 1 "$tmp/port")
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "demo.sh: $name: the server did not start: $(tail -n 1 "$tmp/$name.err")" >&2
    elif ! timeout 50 "${pin_c[@]}" "$client" --port "$port" --pid "$pid" \
        --conns "$conns" --warmup "$warmup" --duration "$duration" \
        >"$tmp/$name" 2>>"$tmp/$name.err"; then
        echo "demo.sh: $name: the client failed: $(tail -n 1 "$tmp/$name.err")" >&2
        : >"$tmp/$name"
    fi
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}

echo "== examples/legacy_echo: a blocking echo server, one pthread per connection,"
echo "   built without libgreen; $conns connections ping-pong 64-byte messages"
echo "   for ${duration} s (after ${warmup} s of warm-up)"
echo "   natively ..."
run native "$server"
echo "   under libgreen ($how) ..."
run green "${green[@]}" "$server"
echo

get() { tr ' ' '\n' <"$tmp/$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
row() {
    if [ ! -s "$tmp/$1" ]; then
        printf '%-26s %14s\n' "$2" "failed"
        return
    fi
    awk -v l="$2" -v rt="$(get "$1" rt_per_s)" -v p99="$(get "$1" p99_us)" \
        -v cpu="$(get "$1" cpu_us_per_rt)" -v hwm="$(get "$1" hwm_kib)" \
        -v thr="$(get "$1" threads)" 'BEGIN {
        printf "%-26s %14d %12.1f %14.1f %14.1f %12d\n", l, rt, p99 / 1000,
            cpu, hwm / 1024, thr }'
}
printf '%-26s %14s %12s %14s %14s %12s\n' "legacy_echo, $conns conns" \
    "round trips/s" "p99 ms" "CPU µs/trip" "peak RSS MiB" "OS threads"
row native "native pthreads"
row green "$how"
echo
if [ -s "$tmp/green" ] && [ "$(get green threads)" != 1 ]; then
    echo "(more than one OS thread under libgreen: this build's preload does" \
        "not make pthreads green yet)"
fi
[ -s "$tmp/native" ] && [ -s "$tmp/green" ]
