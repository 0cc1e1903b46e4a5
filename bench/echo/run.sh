#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/echo/run.sh [build-dir]: the echo server benchmark. Builds the
# load client and the C servers with meson (buildtype=release, in
# build-dir, default build-bench at the top of the tree), builds the Go
# server, and runs every server at 1, 10, 100, 1,000 and 10,000
# connections, each pinned to a core of its own (server on CPU 0, client
# on CPU 1), RUNS times round by round; prints a Markdown table of medians
# (and writes a data file and a gnuplot PNG). The servers:
#
#   epoll           bench/echo/epoll_server.c: hand-written single-threaded
#                   epoll loop, the practical limit of one core
#   libgreen API    bench/echo/green_server.c: a task per connection,
#                   green_accept / green_read / green_write
#   legacy threads  examples/legacy_echo: blocking thread per connection,
#                   built without libgreen, run natively
#   legacy+preload  the same binary under green-run (or, until green-run
#                   exists, LD_PRELOAD=<build>/libgreen.so)
#   Go              bench/echo/go/main.go, goroutine per connection,
#                   GOMAXPROCS=1 (if `go` is installed)
#   gevent          bench/echo/gevent_server.py, StreamServer (if
#                   `$PYTHON -c 'import gevent'` works)
#
# Each measurement is a fresh server process and one run of the client
# (bench/echo/client.c): N connections each ping-pong a 64-byte message,
# WARMUP seconds, then DURATION seconds measured; the client reads the
# server's CPU time, RSS and threads from /proc. Load is on 127.0.0.1
# only; every server runs with --max-seconds, and all are killed on exit.
#
# Knobs (environment): RUNS (3), DURATION (3), WARMUP (1), CONNS
# ("1 10 100 1000 10000"), SERVERS ("epoll green legacy preload go
# gevent"), PYTHON (/usr/bin/python3), GO (go), SERVER_CPU (0),
# CLIENT_CPU (1), NOBUILD=1 (use build-dir as it is), PNG (where the plot
# goes; default bench/echo/echo.png). The whole sweep at the defaults
# takes about 8 minutes on a 2-vCPU VM.
#
# Files left in build-dir/echo-results: raw.txt (the client's line for
# every run), echo.dat (medians, one gnuplot block per server),
# table.md (what is printed), log.txt (build output), *.err (stderr of
# servers and clients).
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${RUNS:-3}
duration=${DURATION:-3}
warmup=${WARMUP:-1}
conns_list=${CONNS:-1 10 100 1000 10000}
servers=${SERVERS:-epoll green legacy preload go gevent}
python=${PYTHON:-/usr/bin/python3}
go=${GO:-go}
scpu=${SERVER_CPU:-0}
ccpu=${CLIENT_CPU:-1}
png=${PNG:-$here/echo.png}

say() { printf '%s\n' "$*" >&2; }

out=$build/echo-results
mkdir -p "$out" || exit 1
rm -f "$out"/*
raw=$out/raw.txt notes=$out/notes.txt log=$out/log.txt
: >"$raw"
: >"$notes"
note() { printf '%s\n' "$*" | tee -a "$notes" >&2; }
start_s=$(date +%s)

# Server processes alive; killed on any exit.
declare -A live=()
cleanup() {
    local p
    for p in "${!live[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# cpu_busy: percent of all CPUs busy over the next second (/proc/stat).
cpu_busy() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
    echo "$a $b" | awk '{ d = ($3 - $1) + ($4 - $2)
        printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }'
}

# --- build --------------------------------------------------------------

if [ -z "${NOBUILD:-}" ]; then
    command -v meson >/dev/null && command -v ninja >/dev/null || {
        say "bench/echo/run.sh: needs meson and ninja (apt-get install meson ninja-build)"
        exit 1
    }
    say "== building in $build (buildtype=release)"
    if [ -f "$build/build.ninja" ]; then
        meson configure "$build" -Dbuildtype=release -Dbenchmarks=true \
            -Dexamples=true >>"$log" 2>&1
    else
        meson setup "$build" "$root" -Dbuildtype=release -Dbenchmarks=true \
            -Dexamples=true -Dtests=false >>"$log" 2>&1
    fi || { say "meson failed; see $log"; tail -n 20 "$log" >&2; exit 1; }
    ninja -C "$build" -k 0 >>"$log" 2>&1 ||
        note "Build: some targets failed (see echo-results/log.txt); their rows are empty."
fi
client=$build/bench/echo/client
[ -x "$client" ] || { say "no $client: build failed? see $log"; exit 1; }

# The command line of each server, by name; a server that cannot run here
# gets a note instead.
declare -A cmd=() label=()
label[epoll]="epoll"
label[green]="libgreen API"
label[legacy]="legacy threads"
label[preload]="legacy+preload"
label[go]="Go (GOMAXPROCS=1)"
label[gevent]="gevent"
[ -x "$build/bench/echo/epoll_server" ] && cmd[epoll]="$build/bench/echo/epoll_server"
[ -x "$build/bench/echo/green_server" ] && cmd[green]="$build/bench/echo/green_server"
legacy=$build/examples/legacy_echo
if [ -x "$legacy" ]; then
    cmd[legacy]=$legacy
    greenrun=$(find "$build" -name green-run -type f -perm -u+x 2>/dev/null | head -n 1)
    if [ -n "$greenrun" ]; then
        cmd[preload]="$greenrun $legacy"
        label[preload]="legacy + green-run"
    elif [ -f "$build/libgreen.so" ]; then
        cmd[preload]="env LD_PRELOAD=$build/libgreen.so $legacy"
        label[preload]="legacy + LD_PRELOAD"
    fi
fi
if command -v "$go" >/dev/null; then
    if GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=auto \
        GOCACHE=${GOCACHE:-$build/go-cache} GOPATH=${GOPATH:-$build/go-path} \
        "$go" build -o "$build/bench/echo/echo-go" "$here/go/main.go" >>"$log" 2>&1; then
        cmd[go]="env GOMAXPROCS=1 $build/bench/echo/echo-go"
    else
        note "Go: \`go build\` of bench/echo/go/main.go failed (see log.txt); skipped."
    fi
fi
if "$python" -c 'import gevent' >/dev/null 2>&1; then
    cmd[gevent]="$python $here/gevent_server.py"
fi
order=()
for s in $servers; do
    if [ -z "${label[$s]:-}" ]; then
        say "unknown server '$s' (known: epoll green legacy preload go gevent)"
        exit 2
    fi
    if [ -z "${cmd[$s]:-}" ]; then
        case $s in
        go) note "Go: \`$go\` not installed (Debian: golang-go); skipped." ;;
        gevent) note "gevent: \`$python -c 'import gevent'\` failed (Debian: python3-gevent); skipped." ;;
        *) note "${label[$s]}: not built; skipped." ;;
        esac
        continue
    fi
    order+=("$s")
done

# --- run ----------------------------------------------------------------

# measure SERVER CONNS ROUND: one fresh server, one client run; appends
# "server conns round key=value..." to raw.txt.
measure() {
    local s=$1 n=$2 r=$3 portf=$out/port.$$ port="" pid i line rc=0
    local limit
    limit=$(awk -v w="$warmup" -v d="$duration" 'BEGIN { printf "%d", w + d + 120 }')
    : >"$portf"
    # shellcheck disable=SC2086 # cmd holds a command line
    taskset -c "$scpu" ${cmd[$s]} 0 --max-seconds "$limit" \
        >"$portf" 2>>"$out/$s.err" &
    pid=$!
    live[$pid]=1
    for i in $(seq 1 100); do
        port=$(head -n 1 "$portf")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        note "${label[$s]} at $n: the server printed no port (see $s.err)"
    else
        line=$(timeout $((limit - 30)) taskset -c "$ccpu" \
            "$client" --port "$port" --pid "$pid" --conns "$n" \
            --warmup "$warmup" --duration "$duration" \
            2>>"$out/client.err") || rc=$?
        if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
            echo "$s $n $r $line" >>"$raw"
        else
            note "${label[$s]} at $n, round $r: client failed (exit $rc): $(tail -n 1 "$out/client.err")"
        fi
    fi
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "live[$pid]"
    rm -f "$portf"
    return "$rc"
}

busy_start=$(cpu_busy)
# Pairs that failed once are not run again.
declare -A failed=()
for r in $(seq 1 "$runs"); do
    say "== round $r/$runs"
    for n in $conns_list; do
        for s in "${order[@]}"; do
            [ -n "${failed[$s.$n]:-}" ] && continue
            t0=$(date +%s.%N)
            measure "$s" "$n" "$r" || failed[$s.$n]=1
            t1=$(date +%s.%N)
            say "   $(awk -v l="${label[$s]}" -v n="$n" -v a="$t0" -v b="$t1" \
                'BEGIN { printf "%-22s %6d conns %6.1f s", l, n, b - a }')" \
                "$(tail -n 1 "$raw" | awk -v s="$s" -v n="$n" -v r="$r" \
                    '$1 == s && $2 == n && $3 == r { for (i = 4; i <= NF; i++)
                        if ($i ~ /^(rt_per_s|cpu_us_per_rt|server_util|client_util)=/)
                            printf " %s", $i }')"
        done
    done
done
busy_end=$(cpu_busy)
elapsed=$(($(date +%s) - start_s))

# --- summarise ------------------------------------------------------------

# echo.dat: medians per server and connection count, one block per server
# (gnuplot's `index`), in the order run.
dat=$out/echo.dat
keys="rt_per_s p50_us p99_us cpu_us_per_rt server_util client_util rss_kib hwm_kib kib_per_conn threads"
awk -v keys="$keys" -v order="${order[*]}" '
    BEGIN { nk = split(keys, K, " "); ns = split(order, S, " ") }
    {
        id = $1 SUBSEP $2
        if (!(id in runs)) { nconn[$1]++; conn[$1, nconn[$1]] = $2 }
        runs[id]++
        for (i = 4; i <= NF; i++) {
            split($i, kv, "=")
            v[id, kv[1], runs[id]] = kv[2]
        }
    }
    function median(id, k,   n, a, i, j, t) {
        n = runs[id]
        for (i = 1; i <= n; i++) a[i] = v[id, k, i] + 0
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        printf "# server conns runs"
        for (k = 1; k <= nk; k++) printf " %s", K[k]
        printf "\n"
        for (s = 1; s <= ns; s++) {
            if (!(S[s] in nconn)) continue
            printf "# %s\n", S[s]
            for (c = 1; c <= nconn[S[s]]; c++) {
                id = S[s] SUBSEP conn[S[s], c]
                printf "%s %s %d", S[s], conn[S[s], c], runs[id]
                for (k = 1; k <= nk; k++) printf " %s", median(id, K[k])
                printf "\n"
            }
            printf "\n\n"
        }
    }' "$raw" >"$dat"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
ccver=$(cc --version 2>/dev/null | head -n 1)
gover=$([ -n "${cmd[go]:-}" ] && "$go" version | awk '{ print $3 }')
pyver=$([ -n "${cmd[gevent]:-}" ] && "$python" -c 'import sys, gevent
print("Python %d.%d.%d, gevent %s" % (sys.version_info[:3] + (gevent.__version__,)))')
labels=""
for s in "${order[@]}"; do labels="$labels$s=${label[$s]};"; done

{
    echo "## Echo server benchmark"
    echo
    echo "- machine: $cpu, $(nproc) CPUs, $mem; kernel $(uname -r)"
    echo "- compilers: $ccver${gover:+; $gover}${pyver:+; $pyver}"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $runs run(s) per cell," \
        "medians shown; ${warmup} s warm-up + ${duration} s measured each;" \
        "whole run ${elapsed} s"
    echo "- server on CPU $scpu, client on CPU $ccpu (taskset); 64-byte" \
        "messages, one in flight per connection; loopback"
    echo "- other load: CPUs ${busy_start}% busy in the second before the" \
        "run, ${busy_end}% in the second after it$([ "$busy_start" -gt 5 ] ||
            [ "$busy_end" -gt 5 ] &&
            echo ' (**the machine was not quiet: figures are noisy**)')"
    echo "- command: \`RUNS=$runs DURATION=$duration WARMUP=$warmup" \
        "bench/echo/run.sh\` (git" \
        "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo '+ local changes'))"
    echo
    awk -v labels="$labels" '
    function group(s,   r) {
        r = ""
        while (length(s) > 3) {
            r = "," substr(s, length(s) - 2) r
            s = substr(s, 1, length(s) - 3)
        }
        return s r
    }
    function fmt(x) {
        if (x >= 100) return group(sprintf("%.0f", x))
        if (x >= 10) return sprintf("%.1f", x)
        return sprintf("%.2f", x)
    }
    BEGIN {
        n = split(labels, L, ";")
        for (i = 1; i <= n; i++) {
            eq = index(L[i], "=")
            name[substr(L[i], 1, eq - 1)] = substr(L[i], eq + 1)
        }
        print "| server | conns | round trips/s | p50 µs | p99 µs | server CPU µs/rt | × epoll | server CPU use | client CPU use | RSS MiB | RSS KiB/conn | OS threads |"
        print "|---|---|---|---|---|---|---|---|---|---|---|---|"
    }
    /^#/ || NF == 0 { next }
    {
        # $1 server $2 conns $3 runs $4 rt/s $5 p50 $6 p99 $7 cpu/rt
        # $8 server_util $9 client_util $10 rss $11 hwm $12 kib/conn
        # $13 threads
        rows[++nr] = $0
        if ($1 == "epoll") base[$2] = $7
    }
    END {
        for (i = 1; i <= nr; i++) {
            split(rows[i], f, " ")
            ratio = (f[2] in base && base[f[2]] > 0) ? \
                sprintf("%.2f×", f[7] / base[f[2]]) : "—"
            printf "| %s | %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %s | %s | %d |\n",
                name[f[1]], group(f[2]), group(sprintf("%.0f", f[4])),
                fmt(f[5]), fmt(f[6]), fmt(f[7]), ratio,
                100 * f[8], 100 * f[9], fmt(f[10] / 1024), fmt(f[12]), f[13]
        }
    }' "$dat"
    echo
    # Targets, at 1,000 and 10,000 connections.
    awk '
    /^#/ || NF == 0 { next }
    { cpu[$1, $2] = $7; kib[$1, $2] = $12; thr[$1, $2] = $13; seen[$1, $2] = 1 }
    function have(s, n) { return ((s, n) in seen) }
    function verdict(ok) { return ok ? "**met**" : "**missed**" }
    END {
        print "Targets (server CPU per round trip against the epoll server at the same N):"
        print ""
        for (t = 1; t <= 2; t++) {
            n = (t == 1) ? 1000 : 10000
            if (!have("epoll", n)) { print "- " n " connections: no epoll figure"; continue }
            e = cpu["epoll", n]
            if (have("green", n))
                printf "- %d: API server %.2f× epoll (≤ 1.15×): %s\n", n,
                    cpu["green", n] / e, verdict(cpu["green", n] <= 1.15 * e)
            if (!have("preload", n)) {
                printf "- %d: legacy+preload: not measured\n", n
                continue
            }
            p = cpu["preload", n]
            printf "- %d: legacy+preload %.2f× epoll (≤ 1.3×): %s", n, p / e,
                verdict(p <= 1.3 * e)
            if (have("go", n))
                printf "; vs Go %.2f× (< 1): %s", p / cpu["go", n],
                    verdict(p < cpu["go", n])
            if (have("legacy", n))
                printf "; vs native threads %.2f× (≤ 0.5): %s",
                    p / cpu["legacy", n], verdict(p <= 0.5 * cpu["legacy", n])
            if (have("gevent", n))
                printf "; vs gevent %.2f× (≤ 0.5): %s", p / cpu["gevent", n],
                    verdict(p <= 0.5 * cpu["gevent", n])
            printf "; %.2f KiB RSS/conn (≤ 5): %s; %d OS thread(s) (1): %s\n",
                kib["preload", n], verdict(kib["preload", n] <= 5),
                thr["preload", n], verdict(thr["preload", n] == 1)
        }
    }' "$dat"
    if [ -s "$notes" ]; then
        echo
        echo "Notes:"
        echo
        sed 's/^/- /' "$notes"
    fi
} >"$out/table.md"
cat "$out/table.md"

# --- plot -------------------------------------------------------------------

if command -v gnuplot >/dev/null; then
    # One title per block of echo.dat, in its order: t1, t2, ...
    gpvars="datafile='$dat'; outfile='$png'"
    nb=0
    for s in $(awk '/^# [a-z]+$/ { print $2 }' "$dat"); do
        nb=$((nb + 1))
        gpvars="$gpvars; t$nb='${label[$s]}'"
    done
    if [ "$nb" -eq 0 ]; then
        say "nothing measured; no plot"
    elif gnuplot -e "$gpvars; n=$nb" \
        "$here/echo.gp" 2>>"$out/gnuplot.err"; then
        cp "$png" "$out/echo.png" 2>/dev/null
        say "plot: $png"
    else
        say "gnuplot failed (see $out/gnuplot.err); no plot"
    fi
else
    say "gnuplot is not installed, so no plot was made:" \
        "apt-get install -y gnuplot-nox, then run this again"
fi
exit 0
