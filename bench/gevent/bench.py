# SPDX-License-Identifier: MIT
"""gevent and greenlet references for bench/yield.c, bench/spawn.c,
bench/memory.c, bench/switch.c and the synchronisation benchmarks
bench/sync_queue.c, sync_event.c and sync_sem.c, measured the same way.

Usage: /usr/bin/python3 bench.py switch|yield|spawn|memory|queue|event|sem
(Debian's python3-gevent, which brings python3-greenlet). Prints
`name value unit` lines:

  switch.pygreenlet   ns per greenlet.switch(), two greenlets ping-ponging
  yield.gevent        ns per gevent.sleep(0), two greenlets taking turns
  spawn.gevent        ns per greenlet: gevent.spawn of N that return at
                      once, then gevent.joinall (cyclic GC paused)
  memory.gevent       KiB of VmRSS per greenlet, N blocked in
                      gevent.sleep(3600) at once, then killed
  queue.gevent_unbounded  ns per item, producer to consumer greenlet
                      through gevent.queue.Queue()
  queue.gevent_bounded1   ditto, Queue(1)
  queue.gevent_channel    ditto, gevent.queue.Channel()
  event.gevent        ns per wake-up, two greenlets ping-ponging over two
                      gevent.event.Event (set, wait, clear)
  sem.gevent          ns per acquire + release of gevent.lock.Semaphore(1),
                      10,000 greenlets all waiting from the start

Counts are smaller than for the C programs (gevent is 50-100 times slower);
the per-operation figures do not depend on them. BENCH_PY_SWITCHES,
BENCH_PY_YIELDS, BENCH_PY_TASKS, BENCH_PY_BLOCKED, BENCH_PY_ITEMS,
BENCH_PY_ROUNDS and BENCH_PY_SEM_ROUNDS change them (BENCH_SEM_TASKS sets
the number of greenlets of `sem`, as for sync_sem.c).
"""
import gc
import os
import sys
import time

import gevent
import gevent.event
import gevent.lock
import gevent.queue
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


def queue_run(n, q):
    """Items 1..n from a producer greenlet to a consumer through q; the
    consumer, spawned first, checks the order (gevent queues have no
    close, so it takes exactly n)."""
    got = [0]

    def consumer():
        get = q.get
        for i in range(1, n + 1):
            check(get() == i, "items in order")
            got[0] += 1

    def producer():
        put = q.put
        for i in range(1, n + 1):
            put(i)

    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(consumer), gevent.spawn(producer)])
    t1 = time.perf_counter_ns()
    check(got[0] == n and q.empty(), "queue counts")
    return t1 - t0


def bench_queue():
    n = env_int("BENCH_PY_ITEMS", 50000)
    for name, make in (("queue.gevent_unbounded", gevent.queue.Queue),
                       ("queue.gevent_bounded1",
                        lambda: gevent.queue.Queue(1)),
                       ("queue.gevent_channel", gevent.queue.Channel)):
        queue_run(n // 100, make())
        report(name, queue_run(n, make()) / n, "ns")


def event_run(n):
    ping, pong = gevent.event.Event(), gevent.event.Event()
    done = [0, 0]  # rounds completed by the pinger, the ponger

    def pinger():
        for _ in range(n):
            ping.set()
            check(pong.wait(), "pong set")
            pong.clear()
            done[0] += 1
            check(done[0] == done[1], "one round at a time")

    def ponger():
        for _ in range(n):
            check(ping.wait(), "ping set")
            ping.clear()
            done[1] += 1
            pong.set()

    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(ponger), gevent.spawn(pinger)])
    t1 = time.perf_counter_ns()
    check(done == [n, n], "event counts")
    return t1 - t0


def bench_event():
    n = env_int("BENCH_PY_ROUNDS", 50000)
    event_run(n // 100)
    report("event.gevent", event_run(n) / (2 * n), "ns")


def sem_run(n, k):
    """n greenlets take a Semaphore(1) k times each, all waiting for it
    from the start, as in sync_sem.c; counts and exclusion checked."""
    sem = gevent.lock.Semaphore(1)
    state = {"holder": -1, "takes": 0, "started": 0}
    counts = [0] * n

    def contender(me):
        state["started"] += 1
        for _ in range(k):
            sem.acquire()
            check(state["holder"] == -1, "one holder at a time")
            state["holder"] = me
            state["takes"] += 1
            counts[me] += 1
            state["holder"] = -1
            sem.release()

    sem.acquire()
    tasks = [gevent.spawn(contender, i) for i in range(n)]
    gevent.sleep(0)
    check(state["started"] == n and state["takes"] == 0, "all waiting")
    t0 = time.perf_counter_ns()
    sem.release()
    gevent.joinall(tasks)
    t1 = time.perf_counter_ns()
    check(state["takes"] == n * k and all(c == k for c in counts),
          "every greenlet got it k times")
    return t1 - t0


def bench_sem():
    n = env_int("BENCH_SEM_TASKS", 10000)
    k = env_int("BENCH_PY_SEM_ROUNDS", 10)
    gc.collect()
    gc.disable()  # as for spawn: 10,000 live greenlets, gevent's best case
    sem_run(n, 1)
    report("sem.gevent", sem_run(n, k) / (n * k), "ns")
    gc.enable()


def main():
    benches = {"switch": bench_switch, "yield": bench_yield,
               "spawn": bench_spawn, "memory": bench_memory,
               "queue": bench_queue, "event": bench_event,
               "sem": bench_sem}
    if len(sys.argv) != 2 or sys.argv[1] not in benches:
        sys.stderr.write("usage: bench.py %s\n" % "|".join(benches))
        sys.exit(2)
    benches[sys.argv[1]]()
    # Skip the interpreter's teardown: freeing 50,000 dead greenlets one by
    # one takes longer than the benchmark.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
