"""gevent and greenlet references for bench/yield.c, bench/spawn.c,
bench/memory.c and bench/switch.c, measured the same way.

Usage: /usr/bin/python3 bench.py switch|yield|spawn|memory
(Debian's python3-gevent, which brings python3-greenlet). Prints
`name value unit` lines:

  switch.pygreenlet   ns per greenlet.switch(), two greenlets ping-ponging
  yield.gevent        ns per gevent.sleep(0), two greenlets taking turns
  spawn.gevent        ns per greenlet: gevent.spawn of N that return at
                      once, then gevent.joinall (cyclic GC paused)
  memory.gevent       KiB of VmRSS per greenlet, N blocked in
                      gevent.sleep(3600) at once, then killed

Counts are smaller than for the C programs (gevent is 50-100 times slower);
the per-operation figures do not depend on them. BENCH_PY_SWITCHES,
BENCH_PY_YIELDS, BENCH_PY_TASKS and BENCH_PY_BLOCKED change them.
"""
import gc
import os
import sys
import time

import gevent
import greenlet


def env_int(name, default):
    try:
        v = int(os.environ.get(name, ""))
        return v if v > 0 else default
    except ValueError:
        return default


def check(ok, what):
    if not ok:
        sys.stderr.write("check failed: %s\n" % what)
        sys.exit(1)


def report(name, value, unit):
    print("%s %.2f %s" % (name, value, unit), flush=True)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    check(False, "no VmRSS")


def bench_switch():
    n = env_int("BENCH_PY_SWITCHES", 1000000)
    main = greenlet.getcurrent()

    def pong(v):
        back = main.switch
        while True:
            v = back(v + 1)

    g = greenlet.greenlet(pong)
    check(g.switch(1) == 2, "warm-up")
    switch = g.switch
    t0 = time.perf_counter_ns()
    for i in range(n):
        out = switch(i)
    t1 = time.perf_counter_ns()
    check(out == n, "values came back")
    report("switch.pygreenlet", (t1 - t0) / (2 * n), "ns")


def bench_yield():
    n = env_int("BENCH_PY_YIELDS", 200000)
    done = [0, 0]

    def yielder(me):
        sleep = gevent.sleep
        for _ in range(n):
            sleep(0)
            done[me] += 1

    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(yielder, 0), gevent.spawn(yielder, 1)])
    t1 = time.perf_counter_ns()
    check(done == [n, n], "yield counts")
    report("yield.gevent", (t1 - t0) / (2 * n), "ns")


def bench_spawn():
    n = env_int("BENCH_PY_TASKS", 100000)

    def body(i):
        return i + 1

    spawn = gevent.spawn
    # With the cyclic collector on, the cost per greenlet grows with n (it
    # rescans the live ones: 14.7 us each at 10,000, 18.5 us at 100,000);
    # paused, it is flat. Pausing it gives gevent its best case.
    gc.collect()
    gc.disable()
    t0 = time.perf_counter_ns()
    tasks = [spawn(body, i) for i in range(n)]
    gevent.joinall(tasks)
    t1 = time.perf_counter_ns()
    gc.enable()
    check(all(t.value == i + 1 for i, t in enumerate(tasks)), "results")
    report("spawn.gevent", (t1 - t0) / n, "ns")


def bench_memory():
    n = env_int("BENCH_PY_BLOCKED", 50000)
    tasks = [None] * n  # the list itself is not counted
    gevent.sleep(0)  # make the hub first
    # The cyclic collector rescans every live greenlet as they pile up,
    # which makes this quadratic (9 s for 100,000) without freeing anything.
    gc.collect()
    gc.disable()
    rss0 = rss_kib()
    for i in range(n):
        tasks[i] = gevent.spawn(gevent.sleep, 3600)
    gevent.sleep(0)
    check(all(t.started and not t.dead for t in tasks), "all blocked")
    rss1 = rss_kib()
    gevent.killall(tasks)
    check(all(t.dead for t in tasks), "all killed")
    gc.enable()
    report("memory.gevent", (rss1 - rss0) / n, "KiB")


def main():
    benches = {"switch": bench_switch, "yield": bench_yield,
               "spawn": bench_spawn, "memory": bench_memory}
    if len(sys.argv) != 2 or sys.argv[1] not in benches:
        sys.stderr.write("usage: bench.py switch|yield|spawn|memory\n")
        sys.exit(2)
    benches[sys.argv[1]]()
    # Skip the interpreter's teardown: freeing 50,000 dead greenlets one by
    # one takes longer than the benchmark.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
