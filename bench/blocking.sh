#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/blocking.sh [build-dir]: issue 11's benchmarks, for what the
# preload now makes green. Builds bench/blocking.c, bench/threadpool.c and
# libgreen.so with meson (buildtype=release, in build-dir, default
# build-bench at the top of the tree, as bench/run.sh does) and the Go
# reference (bench/go, when Go is installed), then runs, RUNS times round
# by round, each on CPU 0 (taskset) where a run needs one CPU:
#
#   blocking waitpid   natively and under LD_PRELOAD=libgreen.so
#   blocking futex     ...
#   blocking cond      ...
#   blocking read      ...
#   threadpool         green_threadpool_run's round trip, beside a
#                      hand-written native one-worker pool
#   gobench handoff    Go's sync.Mutex and channel hand-off (GOMAXPROCS=1)
#
# and prints a Markdown table of medians. The native futex and condvar
# runs use two CPUs: natively the two threads are two OS threads (the
# cross-CPU wake-up is what a native program pays); pinned to one CPU
# they are measured too (".native1").
#
# Knobs (environment): RUNS (5), NOBUILD=1 (use build-dir as it is),
# BENCH_GO (go), and the counts BENCH_CHILDREN, BENCH_ROUNDS,
# BENCH_READS, BENCH_JOBS. Results stay in build-dir/blocking-results
# (raw.txt, medians.txt, table.md).
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${RUNS:-5}
go=${BENCH_GO:-go}
out=$build/blocking-results

say() { printf '%s\n' "$*" >&2; }

if [ -z "${NOBUILD:-}" ]; then
    say "== building in $build (buildtype=release)"
    if [ -f "$build/build.ninja" ]; then
        meson configure "$build" -Dbuildtype=release -Dbenchmarks=true \
            >/dev/null
    else
        meson setup "$build" "$root" -Dbuildtype=release -Dbenchmarks=true \
            -Dtests=false -Dexamples=false >/dev/null
    fi || exit 1
    ninja -C "$build" >/dev/null || exit 1
fi
bin=$build/bench
lib=$build/libgreen.so
[ -x "$bin/blocking" ] && [ -x "$bin/threadpool" ] && [ -e "$lib" ] ||
    { say "no $bin/blocking, $bin/threadpool or $lib"; exit 1; }
mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"
: >"$out/stderr.txt"

gobench=
if command -v "$go" >/dev/null &&
    GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=auto \
    GOCACHE=${GOCACHE:-$build/go-cache} GOPATH=${GOPATH:-$build/go-path} \
    "$go" build -o "$bin/gobench" "$here/go/main.go" 2>>"$out/stderr.txt"; then
    gobench=$bin/gobench
else
    say "Go: not installed or not built; its hand-off reference is skipped"
fi

# one LABEL CMD...: one run; its `name value unit` lines into raw.txt.
one() {
    local label=$1
    shift
    if ! timeout 300 "$@" >"$out/run.txt" 2>>"$out/stderr.txt"; then
        say "   $label FAILED (see $out/stderr.txt)"
        return
    fi
    awk -v r="$round" 'NF == 3 { print r, $1, $2, $3 }' "$out/run.txt" >>"$raw"
    say "   $label: $(awk '{ printf "%s %s %s; ", $1, $2, $3 }' "$out/run.txt")"
}

for round in $(seq 1 "$runs"); do
    say "== round $round/$runs"
    for mode in waitpid futex cond read; do
        case $mode in
        futex | cond)
            one "$mode native" "$bin/blocking" "$mode" native
            one "$mode native, 1 CPU" taskset -c 0 "$bin/blocking" "$mode" native1
            ;;
        *) one "$mode native" taskset -c 0 "$bin/blocking" "$mode" native ;;
        esac
        one "$mode preload" taskset -c 0 env LD_PRELOAD="$lib" \
            "$bin/blocking" "$mode" preload
    done
    one threadpool "$bin/threadpool"
    [ -n "$gobench" ] && one "go handoff" taskset -c 0 "$gobench" handoff
done

sort -k2,2 -k3,3g "$raw" | awk '
    function flush() {
        if (n == 0) return
        print cur, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    $2 != cur { flush(); cur = $2; n = 0 }
    { v[++n] = $3 }
    END { flush() }' >"$out/medians.txt"

awk -v runs="$runs" -v children="${BENCH_CHILDREN:-1000}" \
    -v rounds="${BENCH_ROUNDS:-200000}" -v reads="${BENCH_READS:-1000000}" \
    -v jobs="${BENCH_JOBS:-100000}" '
    { med[$1] = $2 }
    function m(k) { return (k in med) ? med[k] : "" }
    function f(k) {
        if (!(k in med)) return "—"
        return med[k] >= 100 ? sprintf("%.0f", med[k]) : sprintf("%.2f", med[k])
    }
    function ratio(a, b) {
        if (!(a in med) || !(b in med) || med[b] == 0) return "—"
        return sprintf("%.2f×", med[a] / med[b])
    }
    END {
        printf "Medians of %d runs.\n\n", runs
        print "| benchmark | under the preload | natively | ratio | other references |"
        print "|---|---|---|---|---|"
        printf "| `waitpid` latency, µs from the child stamping its exit to waitpid returning (%d children, each sleeping 1 ms first) | %s | %s | %s | in the same preloaded process: a raw `wait4` instruction %s, libc'"'"'s waitpid before the first green call %s; p90 %s preloaded, %s natively |\n",
            children, f("waitpid.latency.preload"), f("waitpid.latency.native"),
            ratio("waitpid.latency.preload", "waitpid.latency.native"),
            f("waitpid.latency_raw.preload"), f("waitpid.latency_libc.preload"),
            f("waitpid.latency_p90.preload"), f("waitpid.latency_p90.native")
        printf "| fork + `waitpid` round, µs | %s | %s | %s | |\n",
            f("waitpid.round.preload"), f("waitpid.round.native"),
            ratio("waitpid.round.preload", "waitpid.round.native")
        printf "| futex wake-to-run through `syscall(SYS_futex)`, ns per wake (2 threads ping-pong, %d rounds) | %s | %s (two CPUs); %s (one CPU) | %s | Go `sync.Mutex` hand-off %s; Go unbuffered channel %s (GOMAXPROCS=1) |\n",
            rounds, f("futex.wake.preload"), f("futex.wake.native"),
            f("futex.wake.native1"), ratio("futex.wake.preload", "futex.wake.native1"),
            f("handoff.go_mutex"), f("handoff.go_chan")
        printf "| pthread condvar wake-to-run, ns per wake (mutex, 2 condvars, a turn flag) | %s | %s (two CPUs); %s (one CPU) | %s | |\n",
            f("cond.wake.preload"), f("cond.wake.native"), f("cond.wake.native1"),
            ratio("cond.wake.preload", "cond.wake.native1")
        printf "| cache-hit `pread` of 4 KiB, ns (%d calls a way, a 1 MiB file; median block of 10,000) | %s | %s | %s | in the preloaded process: the kernel'"'"'s pread (a raw instruction) %s, so the probe costs %s; `preadv2(RWF_NOWAIT)` alone %s |\n",
            reads, f("read.pread_4k.preload"), f("read.pread_4k.native"),
            ratio("read.pread_4k.preload", "read.pread_4k.native"),
            f("read.raw_pread_4k.preload"),
            ratio("read.pread_4k.preload", "read.raw_pread_4k.preload"),
            f("read.preadv2_nowait_4k.preload")
        printf "| cache-hit `pread` of 64 bytes, ns | %s | %s | %s | the kernel'"'"'s pread %s, so %s; `preadv2(RWF_NOWAIT)` alone %s |\n",
            f("read.pread_64.preload"), f("read.pread_64.native"),
            ratio("read.pread_64.preload", "read.pread_64.native"),
            f("read.raw_pread_64.preload"),
            ratio("read.pread_64.preload", "read.raw_pread_64.preload"),
            f("read.preadv2_nowait_64.preload")
        printf "| worker pool round trip, µs per `green_threadpool_run` (%d calls, one caller) | %s | — | %s (× the native pool) | hand-written native one-worker pool %s; 8 callers at once %s per call |\n",
            jobs, f("threadpool.libgreen"),
            ratio("threadpool.libgreen", "threadpool.pthread"),
            f("threadpool.pthread"), f("threadpool.libgreen_8")
    }' "$out/medians.txt" | tee "$out/table.md"
