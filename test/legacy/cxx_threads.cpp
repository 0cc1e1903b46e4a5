// SPDX-License-Identifier: MIT
// C++ threads as the standard library gives them: std::thread with
// thread_local objects (constructed on first use, destroyed at the
// thread's end in reverse order), std::mutex and std::condition_variable,
// std::this_thread::get_id() distinct per thread and equal to the
// thread's own std::thread::get_id(). Counts only: the output is the same
// natively and under the preload (differential.sh compares).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

static std::atomic<int> constructed{0}, destroyed{0};
static std::mutex order_lock;
static std::vector<int> destroy_order;

struct Tracked {
    int id = -1;
    long sum = 0;
    Tracked() { constructed++; }
    ~Tracked()
    {
        destroyed++;
        std::lock_guard<std::mutex> g(order_lock);
        destroy_order.push_back(id);
    }
};

static thread_local Tracked mine;
static thread_local std::vector<int> history;

int main(int argc, char **argv)
{
    if (argc > 1 && std::strcmp(argv[1], "list") == 0) {
        return 0; // one group: the whole program
    }
    constexpr int N = 8, ROUNDS = 50;
    std::mutex m;
    std::condition_variable cv;
    int turn = 0;
    std::vector<std::thread> ts;
    std::vector<std::thread::id> own(N);
    std::atomic<int> sums_ok{0}, ids_ok{0};
    for (int i = 0; i < N; i++) {
        ts.emplace_back([&, i] {
            mine.id = i;
            own[i] = std::this_thread::get_id();
            for (int r = 0; r < ROUNDS; r++) {
                std::unique_lock<std::mutex> g(m);
                cv.wait(g, [&] { return turn % N == i; });
                mine.sum += i;
                history.push_back(r);
                turn++;
                cv.notify_all();
            }
            if (mine.sum == (long)i * ROUNDS && history.size() == ROUNDS) {
                sums_ok++;
            }
        });
    }
    std::set<std::thread::id> distinct;
    for (int i = 0; i < N; i++) {
        std::thread::id id = ts[i].get_id();
        ts[i].join();
        distinct.insert(id);
        ids_ok += id == own[i];
    }
    std::printf("threads whose thread_local sums are their own: %d of %d\n",
                sums_ok.load(), N);
    std::printf("distinct thread ids: %zu, each its thread's own: %d\n",
                distinct.size(), ids_ok.load());
    std::printf("thread_local objects constructed: %d, destroyed: %d\n",
                constructed.load(), destroyed.load());
    std::sort(destroy_order.begin(), destroy_order.end());
    bool each_once = destroy_order.size() == N;
    for (int i = 0; each_once && i < N; i++) {
        each_once = destroy_order[i] == i;
    }
    std::printf("each thread's object destroyed once, at its end: %d\n",
                each_once);
    std::printf("main's object untouched: %d\n",
                mine.id == -1 && mine.sum == 0 && history.empty());
    return sums_ok == N && ids_ok == N && destroyed == N ? 0 : 1;
}
