#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/run.sh [build-dir]: builds the benchmarks with meson
# (buildtype=release, in build-dir, default build-bench at the top of the
# tree), runs every program BENCH_RUNS times (default 5) round by round,
# beside the references this machine has (Boost fcontext, swapcontext,
# pthreads, Go, gevent/greenlet, asyncio), and prints a Markdown table of
# medians with the machine it ran on: the core (switch, yield, spawn,
# memory), then the synchronisation toolbox (queues, channel, event,
# semaphore and lock, gather). Missing references are skipped with a note.
#
# Everything is measured in this run; nothing is quoted. Files it leaves in
# build-dir/bench-results: raw.txt (every sample), summary.txt (median, min,
# max per metric), table.md (what is printed), log.txt (build output) and
# <program>.err (each program's stderr).
#
# Knobs (environment): BENCH_RUNS, BENCH_TIMEOUT (seconds per program run,
# default 240), BENCH_PYTHON (default /usr/bin/python3: Debian's, which has
# python3-gevent, rather than a pyenv one), BENCH_GO (default go), and the
# per-program counts BENCH_SWITCHES, BENCH_YIELDS, BENCH_TASKS,
# BENCH_BLOCKED, BENCH_THREADS, BENCH_PTHREADS_BLOCKED, BENCH_ITEMS,
# BENCH_ROUNDS, BENCH_SEM_TASKS, BENCH_SEM_ROUNDS, BENCH_GATHER_TASKS,
# BENCH_PY_*.
#
# The figures are only as good as the machine is quiet: the header says how
# busy the CPUs were just before and after the run. The whole run takes
# about three minutes on a 2-vCPU VM (most of it the 1,000,000-task memory
# benchmarks and 100,000 pthread_create calls).
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build-bench}
case $build in /*) ;; *) build=$PWD/$build ;; esac
runs=${BENCH_RUNS:-5}
timeout_s=${BENCH_TIMEOUT:-240}
python=${BENCH_PYTHON:-/usr/bin/python3}
go=${BENCH_GO:-go}

say() { printf '%s\n' "$*" >&2; }

command -v meson >/dev/null && command -v ninja >/dev/null || {
    say "bench/run.sh: needs meson and ninja (apt-get install meson ninja-build)"
    exit 1
}

mkdir -p "$build"
out=$build/bench-results
rm -rf "$out"
mkdir -p "$out"
raw=$out/raw.txt notes=$out/notes.txt log=$out/log.txt
: >"$raw"
: >"$notes"
note() { printf '%s\n' "$*" >>"$notes"; }
start_s=$(date +%s)

# cpu_busy: percent of all CPUs busy over the next second (from /proc/stat),
# to tell a quiet machine from one whose other work skews the figures.
cpu_busy() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
    echo "$a $b" | awk '{ d = ($3 - $1) + ($4 - $2)
        printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }'
}
busy_start=$(cpu_busy)

# --- build --------------------------------------------------------------

say "== building in $build (buildtype=release)"
if [ -f "$build/build.ninja" ]; then
    meson configure "$build" -Dbuildtype=release -Dbenchmarks=true >>"$log" 2>&1
else
    meson setup "$build" "$root" -Dbuildtype=release -Dbenchmarks=true \
        -Dtests=false -Dexamples=false >>"$log" 2>&1
fi || { say "meson failed; see $log"; tail -n 20 "$log" >&2; exit 1; }
if ! ninja -C "$build" -k 0 >>"$log" 2>&1; then
    say "ninja failed for some targets; running what was built (see $log)"
    note "Build: some targets failed to build (see bench-results/log.txt);" \
        "their rows are empty."
fi
bin=$build/bench

gobench=
if command -v "$go" >/dev/null; then
    if GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=auto \
        GOCACHE=${GOCACHE:-$build/go-cache} GOPATH=${GOPATH:-$build/go-path} \
        "$go" build -o "$bin/gobench" "$here/go/main.go" >>"$log" 2>&1; then
        gobench=$bin/gobench
    else
        note "Go: \`go build\` of bench/go/main.go failed (see log.txt); Go skipped."
    fi
else
    note "Go: not installed (Debian: golang-go); Go references skipped."
fi

pybench=
if "$python" -c 'import gevent, greenlet' >/dev/null 2>&1; then
    pybench=$here/gevent/bench.py
else
    note "gevent: \`$python -c 'import gevent'\` failed (Debian: python3-gevent);" \
        "gevent and greenlet references skipped."
fi
asyncbench=
if "$python" -c 'import asyncio' >/dev/null 2>&1; then
    asyncbench=$here/asyncio/bench.py
else
    note "asyncio: \`$python -c 'import asyncio'\` failed; asyncio skipped."
fi
[ -x "$bin/fcontext" ] ||
    note "Boost fcontext: not built (Debian: libboost-context-dev); skipped."

# --- run ------------------------------------------------------------------

# Labels of programs that failed once; they are not run again.
declare -A failed=()

# run_prog LABEL CMD...: one run of one program; its `name value unit`
# lines go to raw.txt with the round number.
run_prog() {
    local label=$1
    shift
    [ -n "${failed[$label]:-}" ] && return
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout "$timeout_s" "$@" >"$out/$label.out" 2>>"$out/$label.err" || rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" -ne 0 ]; then
        failed[$label]=1
        note "$label: failed in round $round (exit $rc$([ $rc = 124 ] &&
            echo ", timed out after ${timeout_s} s")): $(tail -n 1 "$out/$label.err")"
        say "   $label FAILED (exit $rc)"
        return
    fi
    awk -v r="$round" -v l="$label" 'NF == 3 { print r, l, $1, $2, $3 }' \
        "$out/$label.out" >>"$raw"
    say "   $(awk -v l="$label" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%-16s %6.2f s", l, b - a }')"
}

# run_if FILE LABEL CMD...: run_prog if FILE is executable.
run_if() {
    local file=$1
    shift
    [ -x "$file" ] && run_prog "$@"
}

for round in $(seq 1 "$runs"); do
    say "== round $round/$runs"
    # Context switch.
    run_if "$bin/switch-asm" switch-asm "$bin/switch-asm"
    run_if "$bin/switch-ucontext" switch-ucontext "$bin/switch-ucontext"
    run_if "$bin/fcontext" fcontext "$bin/fcontext"
    [ -n "$pybench" ] && run_prog py-switch "$python" "$pybench" switch
    # Yield.
    run_if "$bin/yield" yield "$bin/yield"
    [ -n "$gobench" ] && run_prog go-yield "$gobench" yield
    [ -n "$pybench" ] && run_prog gevent-yield "$python" "$pybench" yield
    # Spawn + join.
    run_if "$bin/spawn" spawn "$bin/spawn"
    [ -n "$gobench" ] && run_prog go-spawn "$gobench" spawn
    [ -n "$pybench" ] && run_prog gevent-spawn "$python" "$pybench" spawn
    run_if "$bin/pthread_spawn" pthread-spawn "$bin/pthread_spawn"
    # Memory per blocked task.
    run_if "$bin/memory" memory "$bin/memory"
    [ -n "$gobench" ] && run_prog go-memory "$gobench" memory
    [ -n "$pybench" ] && run_prog gevent-memory "$python" "$pybench" memory
    run_if "$bin/pthread_memory" pthread-memory "$bin/pthread_memory"
    # Synchronisation: queues and channel, event, semaphore, gather.
    run_if "$bin/sync_queue" sync-queue "$bin/sync_queue"
    [ -n "$gobench" ] && run_prog go-queue "$gobench" queue
    [ -n "$pybench" ] && run_prog gevent-queue "$python" "$pybench" queue
    run_if "$bin/sync_event" sync-event "$bin/sync_event"
    [ -n "$gobench" ] && run_prog go-event "$gobench" event
    [ -n "$pybench" ] && run_prog gevent-event "$python" "$pybench" event
    run_if "$bin/sync_sem" sync-sem "$bin/sync_sem"
    [ -n "$gobench" ] && run_prog go-sem "$gobench" sem
    [ -n "$pybench" ] && run_prog gevent-sem "$python" "$pybench" sem
    run_if "$bin/sync_cross" sync-cross "$bin/sync_cross"
    [ -n "$gobench" ] && run_prog go-crosshub "$gobench" crosshub
    run_if "$bin/sync_gather" sync-gather "$bin/sync_gather"
    [ -n "$gobench" ] && run_prog go-gather "$gobench" gather
    [ -n "$asyncbench" ] && run_prog asyncio-gather "$python" "$asyncbench" gather
done

# --- summarise ----------------------------------------------------------

# summary.txt: metric median min max samples unit
sum=$out/summary.txt
sort -k3,3 -k4,4g "$raw" | awk '
    function flush() {
        if (n == 0) return
        med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        print cur, med, v[1], v[n], n, unit
    }
    $3 != cur { flush(); cur = $3; unit = $5; n = 0 }
    { v[++n] = $4 }
    END { flush() }' >"$sum"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
ccver=$(cc --version 2>/dev/null | head -n 1)
gover=$([ -n "$gobench" ] && "$go" version | awk '{ print $3 }')
pyver=$([ -n "$pybench" ] && "$python" -c 'import sys, gevent, greenlet
print("Python %d.%d.%d, gevent %s, greenlet %s" % (sys.version_info[:3]
      + (gevent.__version__, greenlet.__version__)))')
[ -z "$pyver" ] && [ -n "$asyncbench" ] &&
    pyver=$("$python" -c 'import sys; print("Python %d.%d.%d" % sys.version_info[:3])')
boostver=$(awk '/define BOOST_LIB_VERSION/ { gsub(/"/, "", $3); print $3 }' \
    /usr/include/boost/version.hpp 2>/dev/null)
elapsed=$(($(date +%s) - start_s))
busy_end=$(cpu_busy)

{
    echo "## libgreen benchmarks"
    echo
    echo "- machine: $cpu, $(nproc) CPUs, $mem"
    echo "- kernel: $(uname -sr) $(uname -m); vm.max_map_count" \
        "$(cat /proc/sys/vm/max_map_count)"
    echo "- compilers: $ccver${gover:+; $gover}${boostver:+; Boost $boostver}"
    [ -n "$pyver" ] && echo "- $pyver"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $runs run(s) per program," \
        "medians shown; whole run ${elapsed} s"
    echo "- other load: CPUs ${busy_start}% busy in the second before the" \
        "run, ${busy_end}% in the second after it$([ "$busy_start" -gt 5 ] ||
            [ "$busy_end" -gt 5 ] &&
            echo ' (**the machine was not quiet: figures are noisy**)')"
    echo "- command: \`bench/run.sh\` (meson buildtype=release; git" \
        "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo '+ local changes'))"
    echo
    awk -v tasks="${BENCH_TASKS:-1000000}" \
        -v blocked="${BENCH_BLOCKED:-1000000}" \
        -v threads="${BENCH_THREADS:-100000}" \
        -v pthreads_blocked="${BENCH_PTHREADS_BLOCKED:-10000}" \
        -v py_tasks="${BENCH_PY_TASKS:-100000}" \
        -v py_blocked="${BENCH_PY_BLOCKED:-50000}" \
        -v items="${BENCH_ITEMS:-2000000}" \
        -v rounds="${BENCH_ROUNDS:-1000000}" \
        -v sem_tasks="${BENCH_SEM_TASKS:-10000}" \
        -v sem_rounds="${BENCH_SEM_ROUNDS:-100}" \
        -v gather_tasks="${BENCH_GATHER_TASKS:-100000}" \
        -v py_items="${BENCH_PY_ITEMS:-50000}" \
        -v py_rounds="${BENCH_PY_ROUNDS:-50000}" \
        -v py_sem_rounds="${BENCH_PY_SEM_ROUNDS:-10}" '
    # Numbers: 3 significant digits, thousands grouped.
    function group(s,   r) {
        r = ""
        while (length(s) > 3) {
            r = "," substr(s, length(s) - 2) r
            s = substr(s, 1, length(s) - 3)
        }
        return s r
    }
    function fmt(x) {
        if (x == "") return "—"
        if (x >= 100) return group(sprintf("%.0f", x))
        if (x >= 10) return sprintf("%.1f", x)
        return sprintf("%.2f", x)
    }
    function count(n) { return group(sprintf("%d", n)) }
    function has(k) { return (k in med) }
    function m(k) { return has(k) ? med[k] : "" }
    # "label value" for a reference, or nothing when it was not measured.
    function ref(label, k, extra) {
        if (!has(k)) return ""
        return label " " fmt(med[k]) extra
    }
    function join(a, b) { return (a == "" ? b : (b == "" ? a : a "; " b)) }
    function ratio(k, base, label) {
        if (!has(k) || !has(base) || med[base] == 0) return "—"
        return sprintf("%.2f× %s", med[k] / med[base], label)
    }
    function verdict(ok, k) {
        if (!has(k)) return "not measured"
        return ok ? "**met**" : "**missed**"
    }
    function row(a, b, c, d, e) {
        printf "| %s | %s | %s | %s | %s |\n", a, b, (c == "" ? "—" : c), d, e
    }
    { med[$1] = $2 }
    END {
        print "| benchmark | libgreen | reference(s) | ratio | target |"
        print "|---|---|---|---|---|"

        r = join(ref("Boost fcontext", "switch.fcontext"),
                 ref("raw `green__ctx_jump`", "switch.ctx_jump_asm"))
        ok = has("switch.fcontext") && \
             m("switch.greenlet_asm") <= 1.25 * m("switch.fcontext")
        row("context switch, asm backend (ns per `greenlet_switch`)",
            fmt(m("switch.greenlet_asm")), r,
            ratio("switch.greenlet_asm", "switch.fcontext", "fcontext"),
            "≤ 1.25× fcontext: " (has("switch.fcontext") ? \
                verdict(ok, "switch.greenlet_asm") : "no fcontext here"))

        r = join(join(ref("`swapcontext`", "switch.swapcontext"),
                      ref("raw `green__ctx_jump`", "switch.ctx_jump_ucontext")),
                 ref("Python greenlet", "switch.pygreenlet"))
        row("context switch, ucontext backend (ns per `greenlet_switch`)",
            fmt(m("switch.greenlet_ucontext")), r,
            ratio("switch.greenlet_ucontext", "switch.swapcontext",
                  "swapcontext"), "—")

        r = join(ref("Go `Gosched`", "yield.go"),
                 ref("gevent `sleep(0)`", "yield.gevent"))
        row("yield (ns per `green_sleep(0)`, 2 tasks taking turns)",
            fmt(m("yield.libgreen")), r, ratio("yield.libgreen", "yield.go", "Go"),
            "< 25 ns: " verdict(m("yield.libgreen") < 25, "yield.libgreen"))

        r = join(join(ref("Go", "spawn.go", ""),
                      ref("gevent", "spawn.gevent", " (" count(py_tasks) ")")),
                 ref("pthreads", "spawn.pthread", " (" count(threads) ")"))
        row("spawn + join (ns per task, " count(tasks) " tasks)",
            fmt(m("spawn.libgreen")), r, ratio("spawn.libgreen", "spawn.go", "Go"),
            "< 250 ns: " verdict(m("spawn.libgreen") < 250, "spawn.libgreen"))

        kst = has("memory.pthread_kernel_stack") ? \
            " + " fmt(m("memory.pthread_kernel_stack")) " kernel stack" : ""
        r = join(join(ref("Go", "memory.go", ""),
                      ref("gevent", "memory.gevent", " (" count(py_blocked) ")")),
                 ref("pthreads", "memory.pthread",
                     kst " (" count(pthreads_blocked) ")"))
        rr = ratio("memory.libgreen", "memory.gevent", "gevent")
        if (has("memory.pthread"))
            rr = (rr == "—" ? "" : rr ", ") \
                 ratio("memory.libgreen", "memory.pthread", "pthreads")
        row("memory (KiB of RSS per task blocked in `green_sleep`, " \
            count(blocked) " tasks)",
            fmt(m("memory.libgreen")), r, rr,
            "≤ 4.5 KiB: " verdict(m("memory.libgreen") <= 4.5, "memory.libgreen"))

        # Synchronisation: no targets yet; ratios are to Go.
        print "| **synchronisation** | | | | |"
        pyn = " (" count(py_items) ")"
        r = join(ref("Go chan with room for all", "queue.go_buffered"),
                 ref("gevent `Queue()`", "queue.gevent_unbounded", pyn))
        row("queue put + get, unbounded `green_queue_t` (ns per item, " \
            count(items) " items, producer task to consumer task)",
            fmt(m("queue.libgreen_unbounded")), r,
            ratio("queue.libgreen_unbounded", "queue.go_buffered", "Go"), "—")

        r = join(ref("Go chan of capacity 1", "queue.go_cap1"),
                 ref("gevent `Queue(1)`", "queue.gevent_bounded1", pyn))
        row("queue put + get, `green_queue_t` of maxsize 1 (ns per item)",
            fmt(m("queue.libgreen_bounded1")), r,
            ratio("queue.libgreen_bounded1", "queue.go_cap1", "Go"), "—")

        r = join(ref("Go unbuffered chan", "queue.go_unbuffered"),
                 ref("gevent `Channel()`", "queue.gevent_channel", pyn))
        row("channel send + recv, `green_channel_t` (ns per item)",
            fmt(m("queue.libgreen_channel")), r,
            ratio("queue.libgreen_channel", "queue.go_unbuffered", "Go"), "—")

        r = join(join(ref("Go 2 unbuffered chans", "event.go_chan"),
                      ref("Go `sync.Cond`", "event.go_cond")),
                 ref("gevent `Event`", "event.gevent",
                     " (" count(py_rounds) " rounds)"))
        row("event wake-up (ns from `green_event_set` to the waiter " \
            "running; 2 tasks ping-pong over 2 events, " count(rounds) \
            " rounds)",
            fmt(m("event.libgreen")), r,
            ratio("event.libgreen", "event.go_chan", "Go chans"), "—")

        r = join(join(ref("Go chan of capacity 1", "sem.go_chan"),
                      ref("Go `sync.Mutex` (not FIFO)", "sem.go_mutex")),
                 ref("gevent `Semaphore(1)`", "sem.gevent",
                     " (" count(py_sem_rounds) " each)"))
        row("semaphore under contention (ns per acquire + release of " \
            "`green_sem_t(1)`; " count(sem_tasks) " tasks all waiting, " \
            count(sem_rounds) " each)",
            fmt(m("sem.libgreen")), r,
            ratio("sem.libgreen", "sem.go_chan", "Go chan"), "—")

        r = join(ref("Go chan of capacity 1", "sem.go_chan"),
                 ref("Go `sync.Mutex` (not FIFO)", "sem.go_mutex"))
        row("lock under contention (ns per acquire + release of " \
            "`green_lock_t`, the same way)",
            fmt(m("lock.libgreen")), r,
            ratio("lock.libgreen", "sem.go_chan", "Go chan"), "—")

        row("lock, uncontended, one OS thread (ns per acquire + release " \
            "of `green_lock_t`)",
            fmt(m("lock-fast.libgreen")),
            ref("`pthread_mutex_t`", "lock-fast.pthread"),
            ratio("lock-fast.libgreen", "lock-fast.pthread", "pthread"), "—")
        row("semaphore, uncontended, one OS thread (ns per acquire + " \
            "release of `green_sem_t(1)`)",
            fmt(m("sem-fast.libgreen")),
            ref("`pthread_mutex_t`", "lock-fast.pthread"),
            ratio("sem-fast.libgreen", "lock-fast.pthread", "pthread"), "—")
        row("lock, uncontended, after a second OS thread used libgreen " \
            "(atomic words)",
            fmt(m("lock-fast-mt.libgreen")),
            ref("`pthread_mutex_t`", "lock-fast-mt.pthread"),
            ratio("lock-fast-mt.libgreen", "lock-fast-mt.pthread", "pthread"),
            "—")
        r = join(join(ref("two native threads, `sem_t`",
                          "sem-pingpong-x.pthread"),
                      ref("Go `sync.Mutex`, GOMAXPROCS=2",
                          "pingpong-x.go_mutex")),
                 ref("Go unbuffered chans, GOMAXPROCS=2",
                     "pingpong-x.go_chan"))
        row("hand-off across OS threads (ns per one-way wake-up: " \
            "greenlets of two hubs ping-pong through two `green_sem_t`)",
            fmt(m("sem-pingpong-x.libgreen")), r,
            ratio("sem-pingpong-x.libgreen", "sem-pingpong-x.pthread",
                  "native"), "—")
        row("condition wake-up across OS threads (the same through " \
            "`green_lock_t` + `green_cond_t`)",
            fmt(m("cond-pingpong-x.libgreen")),
            ref("two native threads, mutex + condvar",
                "cond-pingpong-x.pthread"),
            ratio("cond-pingpong-x.libgreen", "cond-pingpong-x.pthread",
                  "native"), "—")

        r = join(join(join(ref("Go WaitGroup + result slice", "gather.go"),
                           ref("asyncio `gather`", "gather.asyncio")),
                      ref("gevent spawn + `joinall`", "spawn.gevent",
                          " (" count(py_tasks) ", spawn row)")),
                 join(ref("libgreen `green_gather_run`",
                          "gather.libgreen_run"),
                      ref("libgreen spawn + join each",
                          "gather.libgreen_join")))
        row("gather (ns per task: " count(gather_tasks) " tasks that " \
            "return at once, spawn + `green_gather` + release)",
            fmt(m("gather.libgreen")), r,
            ratio("gather.libgreen", "gather.go", "Go"), "—")
    }' "$sum"
    echo
    if [ -s "$sum" ]; then
        echo "All metrics (median, min, max of the runs):"
        echo
        echo "| metric | median | min | max | runs | unit |"
        echo "|---|---|---|---|---|---|"
        awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' \
            "$sum"
        echo
    fi
    if [ -s "$notes" ]; then
        echo "Notes:"
        echo
        sed 's/^/- /' "$notes"
    fi
} >"$out/table.md"

cat "$out/table.md"
# Fail if any program failed (wrong results are failures too).
[ ${#failed[@]} -eq 0 ]
