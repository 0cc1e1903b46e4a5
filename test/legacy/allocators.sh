#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The preload starts safely beside an allocator that takes pthread mutexes
# while it initialises (jemalloc, tcmalloc), loaded before or after
# libgreen, and real programs that use one run under it:
#   a) /bin/true, with each allocator before and after libgreen;
#   b) threaded legacy programs (test/legacy/thread_mutex, thread_exit:
#      main's pthread_exit runs the allocator's own thread-exit cleanup
#      after every green thread's; thread_churn: 12,000 short threads, each
#      setting up the allocator's per-thread state, whose TLS is freed
#      from the thread that runs next) the same way, which must still pass
#      their own checks on one OS thread;
#   c) python3 starting threads, the same way, printing what it printed
#      natively;
#   d) redis-server (Debian's, linked with jemalloc) under the preload,
#      with redis-benchmark's 100 clients: every request answered, its
#      background threads green (one OS thread runs the program's
#      threads; jemalloc's own background thread, which jemalloc makes
#      with libc's pthread_create found behind every interposer, stays an
#      OS thread), and SHUTDOWN saves and ends it.
# A part whose program or allocator is missing is skipped; the whole test
# is skipped (77) when none can run.
#
#   allocators.sh LIBGREEN_SO LEGACY_THREAD_PROGRAM...
set -u
lib=$1
shift
legacy_programs=("$@")
legacy=$1
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac
if [ -n "${GREEN_TEST_PRELOAD:-}" ]; then
    # A sanitizer build: its runtime would have to come before the
    # allocators too, which then do not replace malloc. The plain build's
    # run is the test.
    say() { echo "allocators: $*"; }
    say "SKIP: a sanitizer build"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/allocators.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
ran=0
say() { echo "allocators: $*"; }
fail() { say "FAIL: $*"; failed=1; }

arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
allocs=()
for a in "/usr/lib/$arch/libjemalloc.so.2" \
         "/usr/lib/$arch/libtcmalloc_minimal.so.4"; do
    [ -f "$a" ] && allocs+=("$a") || say "SKIP: $a is not installed"
done

# orders ALLOC: the two LD_PRELOAD orders of libgreen and ALLOC.
orders() { echo "$lib:$1 $1:$lib"; }

# a) and b)
for a in "${allocs[@]}"; do
    for pre in $(orders "$a"); do
        ran=1
        timeout 20 env LD_PRELOAD="$pre" /bin/true ||
            fail "a) /bin/true with LD_PRELOAD=$pre: status $?"
        for prog in "${legacy_programs[@]}"; do
            out=$(timeout 60 env LD_PRELOAD="$pre" "$prog" 2>&1) ||
                fail "b) ${prog##*/} with LD_PRELOAD=$pre: status $?: $out"
        done
    done
done
[ "$ran" = 1 ] && say "a) b) /bin/true and ${#legacy_programs[@]} legacy programs: done"

# c) python3: eight threads each sleep and count; the output must be what
# the native run printed, and there must be one OS thread meanwhile.
py=/usr/bin/python3
cat >"$work/threads.py" <<'PY'
import os, threading, time
done = []
lock = threading.Lock()
def work(i):
    time.sleep(0.05)
    with lock:
        done.append(sum(range(i * 1000)))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts:
    t.start()
print("tasks", sum(not open(f"/proc/self/task/{t}/comm").read().startswith("green-")
                  for t in os.listdir("/proc/self/task")) if os.environ.get("COUNT") else "-")
for t in ts:
    t.join()
print("sums", sorted(done))
PY
if [ -x "$py" ] && [ ${#allocs[@]} -gt 0 ]; then
    want=$(timeout 60 "$py" "$work/threads.py")
    for a in "${allocs[@]}"; do
        for pre in $(orders "$a"); do
            ran=1
            got=$(timeout 60 env LD_PRELOAD="$pre" "$py" "$work/threads.py")
            [ "$got" = "$want" ] ||
                fail "c) python3 with LD_PRELOAD=$pre printed '$got', natively '$want'"
            n=$(COUNT=1 timeout 60 env LD_PRELOAD="$pre" "$py" "$work/threads.py" |
                awk '/^tasks/ {print $2}')
            [ "$n" = 1 ] || fail "c) python3 with LD_PRELOAD=$pre: $n OS threads, want 1"
        done
    done
    say "c) python3 threads beside each allocator: done"
else
    say "SKIP: c) needs $py and an allocator"
fi

# d) redis-server under the preload.
rs=/usr/bin/redis-server
rb=/usr/bin/redis-benchmark
rc=/usr/bin/redis-cli
if [ -x "$rs" ] && [ -x "$rb" ] && [ -x "$rc" ]; then
    ran=1
    # A port the kernel has just given out free (other tests' clients
    # take ephemeral ports too); three tries if it is taken meanwhile.
    spid=
    for _try in 1 2 3; do
        port=$(python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
            port=$(( 20000 + ($$ + _try) % 12000 ))
        (cd "$work" && exec env LD_PRELOAD="$lib" timeout 120 "$rs" \
            --port "$port" --bind 127.0.0.1 --dir "$work" --save '' \
            --appendonly no --daemonize no --logfile "$work/redis.log") &
        pids+=($!)
        for _ in $(seq 50); do
            "$rc" -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        spid=$(pgrep -f "redis-server 127.0.0.1:$port" | head -1)
        [ -n "$spid" ] && break
        grep -q 'Address already in use' "$work/redis.log" 2>/dev/null ||
            break
    done
    if [ -z "$spid" ]; then
        fail "d) redis-server did not start under the preload: $(tail -3 "$work/redis.log" 2>/dev/null)"
    else
        own=$(cat /proc/"$spid"/task/*/comm | grep -vc -e '^jemalloc_bg_thd$' -e '^green-')
        [ "$own" = 1 ] ||
            fail "d) redis-server runs its threads on $own OS threads: $(cat /proc/"$spid"/task/*/comm | tr '\n' ' ')"
        csv=$(timeout 120 "$rb" -p "$port" -c 100 -n 20000 -r 10000 \
                  -t set,get,incr,lpush --csv 2>/dev/null)
        for t in SET GET INCR LPUSH; do
            echo "$csv" | grep -q "^\"$t\"" ||
                fail "d) redis-benchmark: no result for $t: $csv"
        done
        [ "$("$rc" -p "$port" incrby probe 5)" = 5 ] ||
            fail "d) redis-cli INCRBY did not answer 5"
        "$rc" -p "$port" shutdown save >/dev/null 2>&1
        for _ in $(seq 50); do
            kill -0 "$spid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$spid" 2>/dev/null && fail "d) redis-server did not stop on SHUTDOWN"
        [ -s "$work/dump.rdb" ] || fail "d) SHUTDOWN SAVE wrote no dump.rdb"
        say "d) redis-server: 100 clients, set/get/incr/lpush answered; $own OS thread for its threads"
    fi
else
    say "SKIP: d) needs redis-server, redis-benchmark and redis-cli"
fi

[ "$ran" = 1 ] || { say "SKIP: nothing could run"; exit 77; }
[ "$failed" = 0 ] && say "all passed"
exit "$failed"
