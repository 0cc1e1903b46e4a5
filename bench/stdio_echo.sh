#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/stdio_echo.sh [build-dir]: the stdio line-echo benchmark
# (bench/stdio_echo.c). Builds it and libgreen.so with meson
# (buildtype=release, in build-dir, default build-bench at the top of the
# tree, as bench/run.sh does), then runs, RUNS times round by round:
#
#   stdio, native        fgets/fputs/fflush server, an OS thread per
#                        connection
#   stdio, preloaded     the same binary under LD_PRELOAD=libgreen.so
#   read/write, native   the same server with read and write instead of
#                        streams (STDIO_ECHO_RAW=1): what streams cost
#   read/write, preloaded
#
# and prints a Markdown table of medians: the server's CPU time per line
# echoed (user + system), lines per second, the server's OS threads.
#
# Knobs (environment): RUNS (5), CONNS (100), LINES (5000 per
# connection), NOBUILD=1 (use build-dir as it is). Results stay in
# build-dir/stdio-echo-results (raw.txt, table.md).
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${RUNS:-5}
conns=${CONNS:-100}
lines=${LINES:-5000}
out=$build/stdio-echo-results

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
prog=$build/bench/stdio_echo
lib=$build/libgreen.so
[ -x "$prog" ] && [ -e "$lib" ] || { say "no $prog or $lib"; exit 1; }

mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"
for round in $(seq 1 "$runs"); do
    say "== round $round/$runs"
    for mode in native preload raw_native raw_preload; do
        env=()
        case $mode in raw_*) env+=(STDIO_ECHO_RAW=1) ;; esac
        case $mode in *preload) env+=(LD_PRELOAD="$lib") ;; esac
        if ! env "${env[@]}" "$prog" "$conns" "$lines" "$mode" >"$out/run.txt" \
            2>>"$out/stderr.txt"; then
            say "   $mode FAILED (see $out/stderr.txt)"
            continue
        fi
        awk -v r="$round" 'NF == 3 { print r, $1, $2, $3 }' "$out/run.txt" >>"$raw"
        say "   $mode: $(awk '/cpu_per_line/ { print $2 " ns/line" }' "$out/run.txt")"
    done
done

# Medians per metric, then the table.
sort -k2,2 -k3,3g "$raw" | awk '
    function flush() {
        if (n == 0) return
        print cur, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    $2 != cur { flush(); cur = $2; n = 0 }
    { v[++n] = $3 }
    END { flush() }' >"$out/medians.txt"

awk -v conns="$conns" -v lines="$lines" -v runs="$runs" '
    { med[$1] = $2 }
    function m(mode, what) { return med["stdio_echo." mode "." what] }
    function row(name, mode) {
        printf "| %s | %.2f | %.0f | %s |\n", name, m(mode, "cpu_per_line") / 1000,
               m(mode, "lines_per_s"), m(mode, "threads")
    }
    END {
        printf "%d connections, %d lines of 64 bytes each, medians of %d runs\n\n",
               conns, lines, runs
        print "| server | server CPU per line (µs) | lines/s | OS threads |"
        print "|---|---|---|---|"
        row("fgets/fputs/fflush, native threads", "native")
        row("fgets/fputs/fflush, under the preload", "preload")
        row("read/write, native threads", "raw_native")
        row("read/write, under the preload", "raw_preload")
        if (m("native", "cpu_per_line") > 0)
            printf "\nstdio under the preload: %.2f× the native CPU per line; " \
                   "streams cost %.2f µs per line over read/write preloaded " \
                   "(%.2f natively)\n",
                m("preload", "cpu_per_line") / m("native", "cpu_per_line"),
                (m("preload", "cpu_per_line") - m("raw_preload", "cpu_per_line")) / 1000,
                (m("native", "cpu_per_line") - m("raw_native", "cpu_per_line")) / 1000
    }' "$out/medians.txt" | tee "$out/table.md"
