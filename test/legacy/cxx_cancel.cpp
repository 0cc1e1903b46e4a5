// SPDX-License-Identifier: MIT
// Cancellation and pthread_exit in C++: the thread's stack is unwound
// (abi::__forced_unwind), so destructors of its frames run innermost
// first, a catch (...) that rethrows sees it and the unwinding goes on,
// catch (abi::__forced_unwind &) sees it too, thread_local objects are
// destroyed, and join gives PTHREAD_CANCELED (or pthread_exit's value).
// A ticker thread runs throughout. Prints counts and booleans, the same
// natively and under the preload (differential.sh).
#include <atomic>
#include <cstdio>
#include <cstring>
#include <cxxabi.h>
#include <pthread.h>
#include <semaphore.h>
#include <string>
#include <unistd.h>

#include "legacy.h"

static std::atomic<int> ticks{0}, stop_ticker{0};

static void *ticker(void *)
{
    while (!stop_ticker.load()) {
        ticks++;
        usleep(1000);
    }
    return nullptr;
}

static std::string order;
static int caught_all, caught_forced, tl_destroyed, after_catch;
static sem_t ready;

struct Note {
    char c;
    explicit Note(char ch) : c(ch) {}
    ~Note() { order += c; }
};

struct PerThread {
    bool used = false;
    ~PerThread()
    {
        if (used) {
            tl_destroyed++;
        }
    }
};

static thread_local PerThread per_thread;

static void deepest(bool exiting)
{
    Note n('3');
    if (exiting) {
        pthread_exit(reinterpret_cast<void *>(9));
    }
    sleep(10);
}

static void middle(bool exiting)
{
    Note n('2');
    try {
        deepest(exiting);
    } catch (...) {
        caught_all++;
        throw; // must go on
    }
    after_catch = 1; // never
}

static void *body(void *arg)
{
    bool exiting = arg != nullptr;
    per_thread.used = true;
    Note n('1');
    try {
        sem_post(&ready);
        middle(exiting);
    } catch (abi::__forced_unwind &) {
        caught_forced++;
        throw;
    }
    return nullptr;
}

static void run(bool exiting)
{
    order.clear();
    caught_all = caught_forced = tl_destroyed = after_catch = 0;
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, nullptr, body,
                                exiting ? &order : nullptr) == 0);
    LEGACY_CHECK(sem_wait(&ready) == 0);
    int before = ticks.load();
    usleep(30000);
    int ran = ticks.load() > before;
    int rc = exiting ? 0 : pthread_cancel(t);
    void *r = nullptr;
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    std::printf("%-22s cancel %d, value %s, destructors %s, catch (...) %d, "
                "catch (__forced_unwind) %d, past the catch %d, "
                "thread_local destroyed %d, others ran %d\n",
                exiting ? "pthread_exit" : "pthread_cancel", rc,
                r == PTHREAD_CANCELED ? "PTHREAD_CANCELED"
                : r == reinterpret_cast<void *>(9) ? "9" : "other",
                order.c_str(), caught_all, caught_forced, after_catch,
                tl_destroyed, ran);
    std::fflush(stdout);
}

int main()
{
    LEGACY_CHECK(sem_init(&ready, 0, 0) == 0);
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, nullptr, ticker, nullptr) == 0);
    run(false);
    run(true);
    stop_ticker = 1;
    LEGACY_CHECK(pthread_join(tick, nullptr) == 0);
    LEGACY_CHECK_ONE_THREAD();
    return 0;
}
