#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/handoff.sh [build-dir]: issue 12's hand-off, measured. Builds
# bench/handoff.c (a plain pthread program, without libgreen) and
# libgreen.so with meson (buildtype=release, in build-dir, default
# build-bench, as bench/run.sh does), then runs, RUNS times round by
# round:
#
#   handoff compute   two threads computing the same fixed work at once:
#                     natively, under the preload (hand-off on, the
#                     default) and under the preload with GREEN_HANDOFF_MS=0
#                     (one OS thread, as before the hand-off)
#   handoff stall     a thread stuck ~1 s in a raw read while a ticker
#                     sleeps 1 ms at a time: how late its wake-ups are, and
#                     how many it made, the same three ways
#
# and prints a Markdown table of medians with the machine. On a 2-CPU
# machine the two computing threads have a CPU each natively.
#
# Knobs: RUNS (5), NOBUILD=1 (use build-dir as it is). Results stay in
# build-dir/handoff-results (raw.txt, medians.txt, table.md).
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${RUNS:-5}
out=$build/handoff-results

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
bin=$build/bench/handoff
lib=$build/libgreen.so
[ -x "$bin" ] && [ -e "$lib" ] || { say "no $bin or $lib"; exit 1; }
mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"
: >"$out/stderr.txt"

# one TAG CMD...: one run; its `name value unit` lines into raw.txt as
# name.TAG.
one() {
    local tag=$1
    shift
    if ! timeout 120 "$@" >"$out/run.txt" 2>>"$out/stderr.txt"; then
        say "   $tag FAILED (see $out/stderr.txt)"
        return
    fi
    awk -v r="$round" -v t="$tag" 'NF == 3 { print r, $1 "." t, $2, $3 }' \
        "$out/run.txt" >>"$raw"
    say "   $tag: $(awk '{ printf "%s %s %s; ", $1, $2, $3 }' "$out/run.txt")"
}

for round in $(seq 1 "$runs"); do
    say "== round $round/$runs"
    for mode in compute stall; do
        one native "$bin" "$mode"
        one preload env LD_PRELOAD="$lib" "$bin" "$mode"
        one off env LD_PRELOAD="$lib" GREEN_HANDOFF_MS=0 \
            GREEN_MAX_BLOCKING_MS=0 "$bin" "$mode"
    done
done

sort -k2,2 -k3,3g "$raw" | awk '
    function flush() {
        if (n == 0) return
        print cur, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    $2 != cur { flush(); cur = $2; n = 0 }
    { v[++n] = $3 }
    END { flush() }' >"$out/medians.txt"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
awk -v runs="$runs" -v cpu="$cpu" -v ncpu="$(nproc)" '
    { med[$1] = $2 }
    function f(k, d) {
        if (!(k in med)) return "—"
        return sprintf(d, med[k])
    }
    function ratio(a, b) {
        if (!(a in med) || !(b in med) || med[b] == 0) return "—"
        return sprintf("%.2f×", med[a] / med[b])
    }
    END {
        printf "Medians of %d runs on %s (%d CPUs).\n\n", runs, cpu, ncpu
        print "| benchmark | natively | preload, hand-off on | preload, GREEN_HANDOFF_MS=0 |"
        print "|---|---|---|---|"
        printf "| two computing threads, wall s | %s | %s (%s native) | %s (%s native) |\n",
            f("compute_wall.native", "%.3f"), f("compute_wall.preload", "%.3f"),
            ratio("compute_wall.preload", "compute_wall.native"),
            f("compute_wall.off", "%.3f"),
            ratio("compute_wall.off", "compute_wall.native")
        printf "| a 1 ms ticker while another thread is stuck ~1 s in a raw read: ticks made | %s | %s | %s |\n",
            f("stall_ticks.native", "%.0f"), f("stall_ticks.preload", "%.0f"),
            f("stall_ticks.off", "%.0f")
        printf "| ...its lateness p50 / p99 / max, µs | %s / %s / %s | %s / %s / %s | %s / %s / %s |\n",
            f("stall_p50.native", "%.0f"), f("stall_p99.native", "%.0f"),
            f("stall_max.native", "%.0f"), f("stall_p50.preload", "%.0f"),
            f("stall_p99.preload", "%.0f"), f("stall_max.preload", "%.0f"),
            f("stall_p50.off", "%.0f"), f("stall_p99.off", "%.0f"),
            f("stall_max.off", "%.0f")
    }' "$out/medians.txt" | tee "$out/table.md"
