#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/tls_switch.sh [build-dir]: what a green pthread's own TLS adds to
# a switch (bench/tls_switch.c), RUNS times round by round, medians:
#
#   greenlet_switch          bench/switch.c (switch-asm): two greenlets of
#                            the API, which never load a thread pointer
#   green pthreads, yield    two pthreads taking turns by sched_yield under
#                            LD_PRELOAD=libgreen.so, GREEN_TLS=private and
#                            GREEN_TLS=shared
#   green pthreads, sem      the same through a pair of semaphores
#   native pthreads, sem     the semaphore pair natively (a futex wake and
#                            a sleep per hand-off, the two threads on two
#                            CPUs)
#
# Knobs: RUNS (5), N (2000000 hand-offs per thread), NOBUILD=1 (use
# build-dir as it is). Builds as bench/run.sh does (buildtype=release,
# default build-bench). Prints a Markdown table; results stay in
# build-dir/tls-switch-results (raw.txt, table.md).
set -u
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${RUNS:-5}
n=${N:-2000000}
out=$build/tls-switch-results
say() { printf '%s\n' "$*" >&2; }

if [ -z "${NOBUILD:-}" ]; then
    say "== building in $build (buildtype=release)"
    if [ -f "$build/build.ninja" ]; then
        meson configure "$build" -Dbuildtype=release -Dbenchmarks=true \
            >/dev/null
    else
        meson setup "$build" "$root" -Dbuildtype=release \
            -Dbenchmarks=true >/dev/null
    fi || exit 1
    ninja -C "$build" >/dev/null || exit 1
fi
prog=$build/bench/tls_switch
lib=$build/libgreen.so
sw=$build/bench/switch-asm
for f in "$prog" "$lib" "$sw"; do
    [ -e "$f" ] || { say "tls_switch.sh: $f is missing"; exit 1; }
done
mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"

# sample NAME CMD...: one run; appends "NAME value" to raw.txt.
sample() {
    local name=$1 v
    shift
    # switch-asm prints several lines: the greenlet_switch one.
    v=$("$@" | awk '$1 !~ /^switch\./ || $1 ~ /greenlet_/ {print $2; exit}') ||
        { say "$name failed"; exit 1; }
    echo "$name $v" >>"$raw"
}
for r in $(seq "$runs"); do
    say "== round $r of $runs"
    sample switch env BENCH_SWITCHES=$((n * 5)) "$sw"
    for tls in private shared; do
        for m in yield sem; do
            sample "$tls-$m" env GREEN_TLS=$tls LD_PRELOAD="$lib" \
                "$prog" "$m" "$n"
        done
    done
    sample native-sem "$prog" sem $((n / 20))
done

median() {
    awk -v k="$1" '$1 == k {print $2}' "$raw" | sort -g |
        awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2];
             else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
sw_ns=$(median switch)
{
    echo "| hand-off (ns, median of $runs) | private TLS | shared TLS | private − shared |"
    echo "|---|---|---|---|"
    for m in yield sem; do
        p=$(median "private-$m") s=$(median "shared-$m")
        echo "| two green pthreads, $m | $p | $s | $(awk -v p="$p" -v s="$s" 'BEGIN {printf "%.1f", p - s}') |"
    done
    echo "| two API greenlets, \`greenlet_switch\` (switch-asm) | — | $sw_ns | — |"
    echo "| two native pthreads, sem | $(median native-sem) | | |"
} | tee "$out/table.md"
