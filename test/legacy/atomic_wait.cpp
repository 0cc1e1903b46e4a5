// SPDX-License-Identifier: MIT
// C++20's waiting primitives, which libstdc++ builds on futexes made
// through syscall(): std::atomic::wait / notify_one / notify_all (on an
// int, waited on directly, and on a long, through libstdc++'s proxy
// word), std::counting_semaphore (acquire, release, try_acquire_for's
// timed wait), std::latch and std::barrier with a completion function.
// One line of outcome each; differential.sh requires the same bytes
// natively and under the preload. A ticker thread runs throughout, and
// the waits check that it ticked while they waited.
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <semaphore>
#include <thread>
#include <vector>

#include "legacy.h"

using namespace std::chrono_literals;

static std::atomic<long> ticks;
static std::atomic<bool> stop;

static void ticker()
{
    while (!stop.load()) {
        ticks++;
        std::this_thread::sleep_for(1ms);
    }
}

static void await_ticks(long n)
{
    long t0 = ticks.load();
    while (ticks.load() < t0 + n) {
        std::this_thread::sleep_for(1ms);
    }
}

static void say(const char *name, const char *what)
{
    std::printf("%-50s %s\n", name, what);
    std::fflush(stdout);
}

static void say(const char *name, long v)
{
    std::printf("%-50s %ld\n", name, v);
    std::fflush(stdout);
}

static const char *yes(bool b)
{
    return b ? "yes" : "no";
}

template <typename T> static void atomic_case(const char *name)
{
    std::atomic<T> word{0};
    long seen = -1;
    std::atomic<bool> started{false};
    std::thread waiter([&] {
        long t0 = ticks.load();
        started.store(true);
        word.wait(0);
        seen = ticks.load() - t0;
    });
    while (!started.load()) {
        std::this_thread::sleep_for(1ms);
    }
    await_ticks(10);
    LEGACY_CHECK_ONE_THREAD();
    word.store(1);
    word.notify_one();
    waiter.join();
    say(name, yes(word.load() == 1));
    char line[96];
    std::snprintf(line, sizeof(line), "  %s: ticker ran while it waited",
                  name);
    say(line, yes(seen >= 10));
}

static void atomics()
{
    atomic_case<int>("atomic<int>::wait, notify_one");
    atomic_case<long>("atomic<long>::wait, notify_one");

    // notify_all: eight waiters, one store.
    std::atomic<int> go{0};
    std::atomic<int> woke{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++) {
        ts.emplace_back([&] {
            go.wait(0);
            woke++;
        });
    }
    await_ticks(10);
    go.store(1);
    go.notify_all();
    for (auto &t : ts) {
        t.join();
    }
    say("atomic<int>::notify_all, waiters woken", woke.load());
}

static void semaphores()
{
    std::counting_semaphore<16> items{0};
    std::atomic<long> taken{0};
    std::vector<std::thread> consumers;
    for (int i = 0; i < 8; i++) {
        consumers.emplace_back([&] {
            for (int k = 0; k < 100; k++) {
                items.acquire();
                taken++;
            }
        });
    }
    await_ticks(10);
    for (int k = 0; k < 800; k++) {
        items.release();
        if (k % 100 == 0) {
            std::this_thread::yield();
        }
    }
    for (auto &t : consumers) {
        t.join();
    }
    say("counting_semaphore: items taken by 8 consumers", taken.load());

    long t0 = ticks.load();
    auto s0 = std::chrono::steady_clock::now();
    bool got = items.try_acquire_for(50ms);
    auto took = std::chrono::steady_clock::now() - s0;
    say("try_acquire_for(50ms) on an empty semaphore", yes(got));
    say("  it waited the 50 ms", yes(took >= 49ms));
    say("  ticker ran while it waited", yes(ticks.load() - t0 >= 10));

    std::thread later([&] {
        await_ticks(10);
        items.release();
    });
    got = items.try_acquire_for(10s);
    later.join();
    say("try_acquire_for(10s), released in time", yes(got));
}

static void latches()
{
    std::latch done{4};
    std::atomic<int> worked{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++) {
        ts.emplace_back([&, i] {
            await_ticks(2 + i);
            worked++;
            done.count_down();
        });
    }
    long t0 = ticks.load();
    done.wait();
    say("latch: workers done when wait returned", worked.load());
    say("  ticker ran while main waited", yes(ticks.load() - t0 >= 2));
    for (auto &t : ts) {
        t.join();
    }

    std::latch gate{1};
    std::atomic<int> through{0};
    for (auto &t : ts) {
        t = std::thread([&] {
            gate.wait();
            through++;
        });
    }
    await_ticks(10);
    say("latch: through the gate before count_down", through.load());
    gate.count_down();
    for (auto &t : ts) {
        t.join();
    }
    say("latch: through the gate after count_down", through.load());
}

static void barriers()
{
    std::atomic<int> phases{0};
    std::atomic<int> bad{0};
    std::atomic<int> arrived[3] = {};
    auto complete = [&]() noexcept { phases++; };
    std::barrier sync(5, complete);
    std::vector<std::thread> ts;
    for (int i = 0; i < 5; i++) {
        ts.emplace_back([&, i] {
            for (int p = 0; p < 3; p++) {
                if (i == p) {
                    await_ticks(5); // the others wait meanwhile
                }
                arrived[p]++;
                sync.arrive_and_wait();
                if (arrived[p].load() != 5 || phases.load() < p + 1) {
                    bad++;
                }
            }
        });
    }
    for (auto &t : ts) {
        t.join();
    }
    say("barrier: phases completed", phases.load());
    say("barrier: a thread ran ahead of its phase", yes(bad.load() != 0));
}

static const struct {
    const char *name;
    void (*run)();
} groups[] = {
    {"atomic", atomics},
    {"semaphore", semaphores},
    {"latch", latches},
    {"barrier", barriers},
};

// No argument: every group; "list": their names; a name: that group.
int main(int argc, char **argv)
{
    if (argc > 1 && std::strcmp(argv[1], "list") == 0) {
        for (auto &g : groups) {
            std::printf("%s\n", g.name);
        }
        return 0;
    }
    std::thread tick(ticker);
    for (auto &g : groups) {
        if (argc < 2 || std::strcmp(argv[1], g.name) == 0) {
            g.run();
        }
    }
    stop.store(true);
    tick.join();
    return 0;
}
