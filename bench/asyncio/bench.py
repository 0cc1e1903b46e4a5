# SPDX-License-Identifier: MIT
"""asyncio reference for bench/sync_gather.c, measured the same way.

Usage: /usr/bin/python3 bench.py gather (standard library only). Prints
`name value unit` lines:

  gather.asyncio   ns per coroutine: asyncio.gather over N coroutines
                   that return at once (coroutine i returns i + 1),
                   from making the coroutines to the list of results
                   (cyclic GC paused, asyncio's best case)

N is 100,000 as for sync_gather.c (BENCH_GATHER_TASKS changes both);
like the C program, one full-size run comes first, untimed.
"""
import asyncio
import gc
import os
import sys
import time


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


async def body(i):
    return i + 1


async def gather_run(n):
    t0 = time.perf_counter_ns()
    results = await asyncio.gather(*[body(i) for i in range(n)])
    t1 = time.perf_counter_ns()
    check(results == list(range(1, n + 1)), "every result, in order")
    return t1 - t0


async def bench_gather():
    n = env_int("BENCH_GATHER_TASKS", 100000)
    # With the cyclic collector on, it rescans the live tasks as they pile
    # up; paused, the cost per coroutine is flat (as for gevent's spawn).
    gc.collect()
    gc.disable()
    await gather_run(n)
    ns = await gather_run(n)
    gc.enable()
    report("gather.asyncio", ns / n, "ns")


def main():
    benches = {"gather": bench_gather}
    if len(sys.argv) != 2 or sys.argv[1] not in benches:
        sys.stderr.write("usage: bench.py %s\n" % "|".join(benches))
        sys.exit(2)
    asyncio.run(benches[sys.argv[1]]())
    sys.stdout.flush()
    os._exit(0)  # skip the teardown of 100,000 finished tasks


if __name__ == "__main__":
    main()
