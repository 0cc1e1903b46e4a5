/* SPDX-License-Identifier: MIT */
/* The fuzzer's generator: a seed, a length and the feature flags make a
 * list of operations for engine.c, the same list on every machine.
 *
 * The PRNG is splitmix64, seeded with the seed itself: no rand(), no
 * time, nothing from the environment. Each program first picks its
 * thread count (1 to 4), then strings together small "scenes", each a
 * few operations that exercise one pattern the preload must get right:
 * a read that blocks until another thread writes, a big write that
 * blocks until another thread drains, a poll ended by a write, accept
 * against connect, mutex and condition-variable hand-offs, a semaphore
 * post, a signal to the main thread while it blocks (with and without
 * SA_RESTART), O_NONBLOCK and FIONBIO, SO_RCVTIMEO/SO_SNDTIMEO, dups,
 * shutdown and resets, and single calls with odd arguments. Which
 * object, which end, sizes, flags and timeouts are random.
 *
 * The generator keeps a small model (which slots hold what, which ends
 * are open, which mutex a thread holds) only to make sensible programs;
 * nothing depends on it being exact, because the engine checks every
 * operation against the real state and turns the invalid ones into
 * "skip". A scene that needs a second thread is skipped in a one-thread
 * program, except that a blocked operation there is ended by the
 * engine's rescue, which is worth testing too. */
#include "engine.h"

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static uint64_t rng;

static uint64_t next(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A number in [0, n). */
static int r(int n)
{
    return n <= 1 ? 0 : (int)(next() % (uint64_t)n);
}

static bool chance(int percent)
{
    return r(100) < percent;
}

/* ---- the model ------------------------------------------------------- */

enum gtype {
    G_NONE, G_PIPE, G_STREAM, G_DGRAM, G_SEQ, G_TCP, G_UDP, G_FIFO,
    G_LISTEN, G_EPOLL, G_MUTEX, G_COND, G_SEM
};

static struct {
    int type;
    bool open[FUZZ_ENDS];
} gs[FUZZ_SLOTS];

static struct fuzz_op *out;
static int n, cap, nthreads;
static unsigned gflags;

static bool overflow; /* a scene did not fit in the length */

static void emit(int kind, int t, int s, int e, int s2, int e2, int a, int b,
                 int c)
{
    if (n >= cap) {
        overflow = true;
        return;
    }
    out[n] = (struct fuzz_op){.idx = (uint16_t)n, .kind = (uint8_t)kind,
                              .t = (uint8_t)t, .s = (int8_t)s, .e = (int8_t)e,
                              .s2 = (int8_t)s2, .e2 = (int8_t)e2, .a = a,
                              .b = b, .c = c};
    n++;
}

static int thread(void)
{
    return r(nthreads);
}

/* A thread other than t (t itself in a one-thread program). */
static int other(int t)
{
    if (nthreads == 1) {
        return t;
    }
    int u = r(nthreads - 1);
    return u >= t ? u + 1 : u;
}

static bool is_chan(int type)
{
    return type == G_PIPE || type == G_STREAM || type == G_DGRAM ||
           type == G_SEQ || type == G_TCP || type == G_UDP || type == G_FIFO;
}

static bool is_sockchan(int type)
{
    return is_chan(type) && type != G_PIPE && type != G_FIFO;
}

/* A slot of a type accepted by want(), or -1. */
static int pick_slot(bool (*want)(int))
{
    int cand[FUZZ_SLOTS], k = 0;
    for (int s = 0; s < FUZZ_SLOTS; s++) {
        if (want(gs[s].type)) {
            cand[k++] = s;
        }
    }
    return k ? cand[r(k)] : -1;
}

static int free_slot(void)
{
    for (int s = 0; s < FUZZ_SLOTS; s++) {
        if (gs[s].type == G_NONE) {
            return s;
        }
    }
    return -1;
}

/* The ends of a channel's two sides: 0 and 1, and dups 2 and 3 (which
 * side a dup is of is not modelled: any open end). */
static int pick_end(int s, int side)
{
    if (side >= 0 && gs[s].open[side] && chance(80)) {
        return side;
    }
    int cand[FUZZ_ENDS], k = 0;
    for (int e = 0; e < FUZZ_ENDS; e++) {
        if (gs[s].open[e]) {
            cand[k++] = e;
        }
    }
    return k ? cand[r(k)] : (side >= 0 ? side : 0);
}

/* The reading end of a channel: a pipe's or FIFO's 0, a socket's either. */
static int read_end(int s)
{
    if (gs[s].type == G_PIPE || gs[s].type == G_FIFO) {
        return 0;
    }
    return pick_end(s, r(2));
}

static int peer_of(int s, int e)
{
    if (gs[s].type == G_PIPE || gs[s].type == G_FIFO) {
        return e == 0 ? 1 : 0;
    }
    return e == 0 ? 1 : e == 1 ? 0 : r(2);
}

static const int rsizes[] = {1, 7, 100, 1000, 4096, 65536};
static const int wsizes[] = {1, 5, 100, 1000, 4096, 5000};

static int rsize(void)
{
    return rsizes[r(6)];
}

static int wsize(void)
{
    return wsizes[r(6)];
}

/* ---- making objects -------------------------------------------------- */

static int make(int want)
{
    int s = free_slot();
    if (s < 0) {
        return -1;
    }
    int t = thread();
    int type = want;
    if (type == G_NONE) {
        static const int pool[] = {G_PIPE, G_PIPE, G_PIPE, G_STREAM, G_STREAM,
                                   G_STREAM, G_DGRAM, G_SEQ, G_TCP, G_TCP,
                                   G_UDP, G_FIFO, G_LISTEN, G_EPOLL, G_MUTEX,
                                   G_COND, G_SEM};
        type = pool[r((int)(sizeof(pool) / sizeof(pool[0])))];
    }
    switch (type) {
    case G_PIPE:
        emit(FUZZ_MK_PIPE, t, s, 0, 0, 0,
             chance(15) ? O_NONBLOCK : chance(20) ? O_CLOEXEC : 0, 0, 0);
        break;
    case G_STREAM:
    case G_DGRAM:
    case G_SEQ:
        emit(FUZZ_MK_SOCKPAIR, t, s, 0, 0, 0,
             type == G_STREAM ? 0 : type == G_DGRAM ? 1 : 2, chance(15), 0);
        break;
    case G_TCP:
        emit(FUZZ_MK_TCP, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_UDP:
        emit(FUZZ_MK_UDP, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_FIFO:
        emit(FUZZ_MK_FIFO, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_LISTEN:
        emit(FUZZ_MK_LISTEN, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_EPOLL:
        emit(FUZZ_MK_EPOLL, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_MUTEX:
        emit(FUZZ_MK_MUTEX, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_COND:
        emit(FUZZ_MK_COND, t, s, 0, 0, 0, 0, 0, 0);
        break;
    case G_SEM:
        emit(FUZZ_MK_SEM, t, s, 0, 0, 0, r(3), 0, 0);
        break;
    }
    gs[s].type = type;
    memset(gs[s].open, 0, sizeof(gs[s].open));
    if (type != G_MUTEX && type != G_COND && type != G_SEM) {
        gs[s].open[0] = true;
        gs[s].open[1] = type != G_LISTEN && type != G_EPOLL;
    }
    return s;
}

static int want_type;
static bool want_is(int type)
{
    return type == want_type;
}

/* A slot of `type`, made if there is none (or sometimes anyway). */
static int get(int type)
{
    want_type = type;
    int s = pick_slot(want_is);
    if (s < 0 || chance(15)) {
        int m = make(type);
        if (m >= 0) {
            s = m;
        }
    }
    return s;
}

static int get_chan(void)
{
    int s = pick_slot(is_chan);
    if (s < 0 || chance(20)) {
        static const int pool[] = {G_PIPE, G_PIPE, G_STREAM, G_STREAM,
                                   G_DGRAM, G_SEQ, G_TCP, G_TCP, G_UDP, G_FIFO};
        int m = make(pool[r((int)(sizeof(pool) / sizeof(pool[0])))]);
        if (m >= 0) {
            s = m;
        }
    }
    return s;
}

static int get_sockchan(void)
{
    int s = pick_slot(is_sockchan);
    if (s < 0 || chance(20)) {
        static const int pool[] = {G_STREAM, G_STREAM, G_DGRAM, G_SEQ, G_TCP,
                                   G_TCP, G_UDP};
        int m = make(pool[r((int)(sizeof(pool) / sizeof(pool[0])))]);
        if (m >= 0) {
            s = m;
        }
    }
    return s;
}

/* ---- single operations ----------------------------------------------- */

static void a_read(int t, int s, int e)
{
    int sock = is_sockchan(gs[s].type);
    int k = sock ? r(5) : r(2);
    static const int rflags[] = {0, 0, MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT,
                                 MSG_PEEK | MSG_DONTWAIT};
    int size = rsize();
    switch (k) {
    case 0:
        emit(FUZZ_READ, t, s, e, 0, 0, size, 0, 0);
        break;
    case 1:
        emit(FUZZ_READV, t, s, e, 0, 0, size, 0, 0);
        break;
    case 2:
        emit(FUZZ_RECV, t, s, e, 0, 0, size, rflags[r(6)], 0);
        break;
    case 3:
        emit(FUZZ_RECVFROM, t, s, e, 0, 0, size, rflags[r(6)], 0);
        break;
    default:
        emit(FUZZ_RECVMSG, t, s, e, 0, 0, size, rflags[r(6)], 0);
        break;
    }
}

static void a_write(int t, int s, int e, int size)
{
    int sock = is_sockchan(gs[s].type);
    int k = sock ? r(5) : r(2);
    static const int wflags[] = {0, 0, MSG_NOSIGNAL, MSG_DONTWAIT};
    switch (k) {
    case 0:
        emit(FUZZ_WRITE, t, s, e, 0, 0, size, 0, 0);
        break;
    case 1:
        emit(FUZZ_WRITEV, t, s, e, 0, 0, size, 0, 0);
        break;
    case 2:
        emit(FUZZ_SEND, t, s, e, 0, 0, size, wflags[r(4)], 0);
        break;
    case 3:
        emit(FUZZ_SENDTO, t, s, e, 0, 0, size, wflags[r(4)], 0);
        break;
    default:
        emit(FUZZ_SENDMSG, t, s, e, 0, 0, size, wflags[r(4)], 0);
        break;
    }
}

/* Something that ends a read on (s, e): data, or end of file. */
static void a_wake_reader(int t, int s, int e)
{
    int p = peer_of(s, e);
    int k = r(10);
    if (k < 7) {
        a_write(t, s, p, wsize());
    } else if (k < 9 && is_sockchan(gs[s].type)) {
        emit(FUZZ_SHUTDOWN, t, s, p, 0, 0, SHUT_WR, 0, 0);
    } else {
        emit(FUZZ_CLOSE, t, s, p, 0, 0, 0, 0, 0);
        gs[s].open[p] = false;
    }
}

static int timeout_class(void)
{
    int k = r(10);
    return k < 3 ? FUZZ_T_ZERO : k < 6 ? FUZZ_T_LONG : FUZZ_T_FOREVER;
}

static int events(bool in_likely)
{
    int k = r(10);
    if (in_likely ? k < 7 : k < 4) {
        return POLLIN;
    }
    return k < 9 ? POLLOUT : POLLIN | POLLOUT;
}

/* ---- scenes ---------------------------------------------------------- */

static void scene_make(void)
{
    make(G_NONE);
}

/* A read that blocks until another thread writes (or ends the stream). */
static void scene_read_write(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = read_end(s);
    if (chance(20)) {
        a_write(b, s, peer_of(s, e), wsize());
    }
    a_read(a, s, e);
    if (chance(85)) {
        a_wake_reader(b, s, e);
    }
    if (chance(40)) {
        a_read(chance(50) ? a : b, s, e);
    }
}

/* A write too big for the buffer, drained by another thread. */
static void scene_big_write(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = gs[s].type == G_PIPE || gs[s].type == G_FIFO ? 1 : pick_end(s, r(2));
    int p = peer_of(s, e);
    a_write(a, s, e, chance(50) ? 70000 : 300000);
    if (chance(90)) {
        emit(FUZZ_DRAIN, b, s, p, 0, 0, 0, 0, 0);
    }
    if (chance(30)) {
        emit(FUZZ_FIONREAD, b, s, p, 0, 0, 0, 0, 0);
    }
}

/* poll, ppoll, select or pselect, ended by a write (or its timeout). */
static void scene_poll(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = read_end(s);
    int tc = timeout_class();
    /* A wait without a timeout always has something to read, which a
     * rescue can provide. */
    int set[3] = {FUZZ_PFD(s, e, tc == FUZZ_T_FOREVER ? POLLIN : events(true)),
                  0, 0};
    for (int i = 1; i < 3; i++) {
        if (chance(40)) {
            int s2 = get_chan();
            if (s2 >= 0) {
                set[i] = FUZZ_PFD(s2, pick_end(s2, r(2)), events(false));
            }
        }
    }
    static const int kinds[] = {FUZZ_POLL, FUZZ_POLL, FUZZ_PPOLL, FUZZ_SELECT,
                                FUZZ_PSELECT};
    int k = kinds[r(5)];
    if (chance(15)) {
        a_write(b, s, peer_of(s, e), wsize());
    }
    emit(k, a, s, tc, 0, 0, set[0], set[1], set[2]);
    if (chance(75)) {
        a_wake_reader(b, s, e);
    }
    if (chance(50)) {
        a_read(a, s, e);
    }
}

static void scene_epoll(void)
{
    int ep = get(G_EPOLL);
    int s = get_chan();
    if (ep < 0 || s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = read_end(s);
    static const unsigned evs[] = {EPOLLIN, EPOLLIN, EPOLLIN | EPOLLET,
                                   EPOLLIN | EPOLLRDHUP, EPOLLOUT,
                                   EPOLLIN | EPOLLOUT, EPOLLIN | EPOLLONESHOT};
    emit(FUZZ_EPOLL_CTL, a, ep, 0, s, e, chance(85) ? 0 : r(3),
         (int)evs[r(7)], 0);
    if (chance(20)) {
        a_write(b, s, peer_of(s, e), wsize());
    }
    emit(FUZZ_EPOLL_WAIT, a, ep, timeout_class() == FUZZ_T_ZERO ? FUZZ_T_ZERO
                                                                : FUZZ_T_LONG,
         0, 0, 1 + r(4), 0, 0);
    if (chance(70)) {
        a_wake_reader(b, s, e);
    }
    if (chance(50)) {
        emit(FUZZ_EPOLL_WAIT, chance(50) ? a : b, ep, FUZZ_T_ZERO, 0, 0, 4, 0,
             0);
    }
    if (chance(40)) {
        a_read(a, s, e);
    }
}

static bool is_free_or_none(int type)
{
    return type == G_NONE;
}

/* accept against connect, in either order, then a little traffic. */
static void scene_accept(void)
{
    int l = get(G_LISTEN);
    int s = pick_slot(is_free_or_none);
    if (l < 0 || s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int fl = chance(20) ? SOCK_NONBLOCK : chance(20) ? SOCK_CLOEXEC : 0;
    if (chance(50)) {
        emit(FUZZ_ACCEPT, a, l, 0, s, 1, fl, 0, 0);
        emit(FUZZ_CONNECT, b, l, 0, s, 0, 0, 0, 0);
    } else {
        emit(FUZZ_CONNECT, b, l, 0, s, 0, 0, 0, 0);
        emit(FUZZ_ACCEPT, a, l, 0, s, 1, fl, 0, 0);
    }
    gs[s].type = G_TCP;
    gs[s].open[0] = gs[s].open[1] = true;
    if (chance(60)) {
        int e = r(2);
        a_read(chance(50) ? a : b, s, e);
        a_wake_reader(chance(50) ? a : b, s, e);
    }
}

static void scene_mutex(void)
{
    int m = get(G_MUTEX);
    if (m < 0) {
        return;
    }
    int a = thread(), b = other(a);
    emit(chance(80) ? FUZZ_LOCK : FUZZ_TRYLOCK, a, m, 0, 0, 0, 0, 0, 0);
    if (a != b) {
        static const int k[] = {FUZZ_LOCK, FUZZ_LOCK, FUZZ_TRYLOCK,
                                FUZZ_TIMEDLOCK};
        emit(k[r(4)], b, m, 0, 0, 0, 0, 0, 0);
    }
    if (chance(30)) {
        emit(FUZZ_USLEEP, a, 0, 0, 0, 0, 1000, 0, 0);
    }
    emit(FUZZ_UNLOCK, a, m, 0, 0, 0, 0, 0, 0);
    if (a != b) {
        emit(FUZZ_UNLOCK, b, m, 0, 0, 0, 0, 0, 0);
    }
}

static void scene_cond(void)
{
    int c = get(G_COND);
    if (c < 0) {
        return;
    }
    int a = thread(), b = other(a);
    emit(FUZZ_COND_LOCK, a, c, 0, 0, 0, 0, 0, 0);
    emit(chance(50) ? FUZZ_COND_WAIT : FUZZ_COND_TIMEDWAIT, a, c, 0, 0, 0, 0,
         0, 0);
    if (a != b && chance(85)) {
        bool locked = chance(60);
        if (locked) {
            emit(FUZZ_COND_LOCK, b, c, 0, 0, 0, 0, 0, 0);
        }
        emit(chance(60) ? FUZZ_COND_SIGNAL : FUZZ_COND_BROADCAST, b, c, 0, 0,
             0, 0, 0, 0);
        if (locked) {
            emit(FUZZ_COND_UNLOCK, b, c, 0, 0, 0, 0, 0, 0);
        }
    }
    emit(FUZZ_COND_UNLOCK, a, c, 0, 0, 0, 0, 0, 0);
}

static void scene_sem(void)
{
    int s = get(G_SEM);
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    static const int k[] = {FUZZ_SEM_WAIT, FUZZ_SEM_WAIT, FUZZ_SEM_TIMEDWAIT,
                            FUZZ_SEM_TRYWAIT};
    emit(k[r(4)], a, s, 0, 0, 0, 0, 0, 0);
    if (chance(80)) {
        emit(FUZZ_SEM_POST, b, s, 0, 0, 0, 0, 0, 0);
    }
    if (chance(40)) {
        emit(FUZZ_SEM_GETVALUE, b, s, 0, 0, 0, 0, 0, 0);
    }
}

/* The main thread blocks; another thread signals it (SIGUSR1 through
 * pthread_kill, or SIGALRM from a timer). */
static void scene_signal(void)
{
    if (nthreads == 1) {
        emit(FUZZ_RAISE, 0, 0, 0, 0, 0, 0, 0, 0);
        return;
    }
    int b = 1 + r(nthreads - 1);
    bool alarm = chance(30);
    if (chance(60)) {
        emit(FUZZ_SIGACTION, thread(), 0, 0, 0, 0, alarm, chance(50), 0);
    }
    int k = r(8);
    int s;
    switch (k) {
    case 0:
    case 1:
        s = get_chan();
        if (s < 0) {
            return;
        }
        a_read(0, s, read_end(s));
        break;
    case 2:
        emit(FUZZ_NANOSLEEP, 0, 0, 0, 0, 0, 120000, 0, 0);
        break;
    case 3:
        s = get_chan();
        if (s < 0) {
            return;
        }
        emit(r(2) ? FUZZ_POLL : FUZZ_SELECT, 0, s, chance(50) ? FUZZ_T_LONG
                                                             : FUZZ_T_FOREVER,
             0, 0, FUZZ_PFD(s, read_end(s), POLLIN), 0, 0);
        break;
    case 4:
        s = get(G_SEM);
        if (s < 0) {
            return;
        }
        emit(chance(70) ? FUZZ_SEM_WAIT : FUZZ_SEM_TIMEDWAIT, 0, s, 0, 0, 0, 0,
             0, 0);
        break;
    case 5:
        s = get(G_COND);
        if (s < 0) {
            return;
        }
        emit(FUZZ_COND_LOCK, 0, s, 0, 0, 0, 0, 0, 0);
        emit(chance(50) ? FUZZ_COND_WAIT : FUZZ_COND_TIMEDWAIT, 0, s, 0, 0, 0,
             0, 0, 0);
        break;
    case 6:
        s = get_sockchan();
        if (s < 0) {
            return;
        }
        {
            int e = read_end(s);
            emit(FUZZ_TIMEO, 0, s, e, 0, 0, 0, FUZZ_LONG_MS, 0);
            a_read(0, s, e);
        }
        break;
    default:
        s = get(G_EPOLL);
        if (s < 0) {
            return;
        }
        emit(FUZZ_EPOLL_WAIT, 0, s, FUZZ_T_LONG, 0, 0, 2, 0, 0);
        break;
    }
    if (alarm) {
        emit(FUZZ_ALARM, b, 0, 0, 0, 0, 20000, 0, 0);
    } else {
        emit(FUZZ_KILL_MAIN, b, 0, 0, 0, 0, 0, 0, 0);
    }
    if (chance(50)) {
        emit(FUZZ_SIGCOUNT, b, 0, 0, 0, 0, 0, 0, 0);
    }
}

static void scene_nonblock(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int t = thread();
    int e = read_end(s);
    int how = is_sockchan(gs[s].type) ? r(2) : chance(20);
    emit(FUZZ_SETNB, t, s, e, 0, 0, 1, how, 0);
    emit(FUZZ_GETFL, t, s, e, 0, 0, 0, 0, 0);
    a_read(thread(), s, e);
    if (chance(50)) {
        a_write(thread(), s, peer_of(s, e), wsize());
        a_read(thread(), s, e);
    }
    if (chance(60)) {
        emit(FUZZ_SETNB, thread(), s, e, 0, 0, 0, r(2), 0);
        emit(FUZZ_GETFL, thread(), s, e, 0, 0, 0, 0, 0);
    }
}

static void scene_timeo(void)
{
    int s = get_sockchan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = read_end(s);
    bool snd = chance(25);
    emit(FUZZ_TIMEO, a, s, e, 0, 0, snd, chance(80) ? FUZZ_LONG_MS : 0, 0);
    if (snd) {
        a_write(a, s, e, 300000);
        if (chance(50)) {
            emit(FUZZ_DRAIN, b, s, peer_of(s, e), 0, 0, 0, 0, 0);
        }
    } else {
        a_read(a, s, e);
        if (chance(50)) {
            a_wake_reader(b, s, e);
        }
    }
    if (chance(40)) {
        emit(FUZZ_TIMEO, thread(), s, e, 0, 0, snd, 0, 0);
    }
}

static void scene_dup(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int t = thread();
    int e = pick_end(s, r(2));
    int e2 = 2 + r(2);
    static const int k[] = {FUZZ_DUP, FUZZ_DUP2, FUZZ_DUP3, FUZZ_DUPFD};
    emit(k[r(4)], t, s, e, s, e2, r(2), 0, 0);
    gs[s].open[e2] = true;
    if (chance(50)) {
        emit(FUZZ_GETFD, thread(), s, e2, 0, 0, 0, 0, 0);
    }
    if (chance(50)) {
        emit(FUZZ_CLOSE, thread(), s, e, 0, 0, 0, 0, 0);
        gs[s].open[e] = false;
    }
    if (chance(60)) {
        a_read(thread(), s, chance(50) ? e2 : read_end(s));
    }
    if (chance(40)) {
        emit(FUZZ_SETNB, thread(), s, e2, 0, 0, 1, 0, 0);
        emit(FUZZ_GETFL, thread(), s, chance(50) ? e : e2, 0, 0, 0, 0, 0);
    }
}

static void scene_shutdown(void)
{
    int s = get_sockchan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = pick_end(s, r(2));
    if (gs[s].type == G_TCP && chance(40)) {
        /* A reset: the peer's next call says ECONNRESET. */
        a_write(b, s, peer_of(s, e), wsize());
        emit(FUZZ_LINGER0, a, s, e, 0, 0, 0, 0, 0);
        emit(FUZZ_CLOSE, a, s, e, 0, 0, 0, 0, 0);
        gs[s].open[e] = false;
        a_read(b, s, peer_of(s, e));
        emit(FUZZ_SOERROR, b, s, peer_of(s, e), 0, 0, 0, 0, 0);
        a_write(b, s, peer_of(s, e), wsize());
        return;
    }
    emit(FUZZ_SHUTDOWN, a, s, e, 0, 0, r(3), 0, 0);
    a_read(b, s, peer_of(s, e));
    if (chance(50)) {
        a_write(b, s, peer_of(s, e), wsize());
    }
    if (chance(50)) {
        a_write(a, s, e, wsize());
    }
    if (chance(40)) {
        a_read(a, s, e);
    }
}

static void scene_misc(void)
{
    int t = thread();
    int s = pick_slot(is_chan);
    int e = s >= 0 ? pick_end(s, r(2)) : 0;
    switch (r(16)) {
    case 0:
        if (s >= 0) emit(FUZZ_GETFL, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 1:
        if (s >= 0) emit(FUZZ_GETFD, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 2:
        if (s >= 0) emit(FUZZ_FIONREAD, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 3:
        if (s >= 0) emit(FUZZ_SOERROR, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 4:
        emit(FUZZ_BADFD, t, 0, 0, 0, 0, r(4), 0, 0);
        break;
    case 5:
        if (s >= 0) emit(FUZZ_ZREAD, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 6:
        emit(chance(50) ? FUZZ_SLEEP0 : FUZZ_YIELD, t, 0, 0, 0, 0, 0, 0, 0);
        break;
    case 7:
        emit(FUZZ_USLEEP, t, 0, 0, 0, 0, r(3) * 1000, 0, 0);
        break;
    case 8:
        emit(chance(50) ? FUZZ_NANOSLEEP : FUZZ_CLOCKSLEEP, t, 0, 0, 0, 0,
             chance(70) ? r(3) * 1000 : 150000, r(2), 0);
        break;
    case 9:
        emit(FUZZ_SIGCOUNT, t, 0, 0, 0, 0, 0, 0, 0);
        break;
    case 10:
        if (s >= 0) emit(FUZZ_DRAIN, t, s, e, 0, 0, 0, 0, 0);
        break;
    case 11:
        if (s >= 0) {
            emit(FUZZ_RECV, t, s, e, 0, 0, rsize(), MSG_DONTWAIT, 0);
        }
        break;
    case 12:
        if (s >= 0) {
            emit(FUZZ_SEND, t, s, e, 0, 0, wsize(), MSG_DONTWAIT, 0);
        }
        break;
    case 13:
        if (s >= 0) {
            emit(FUZZ_SETCLOEXEC, t, s, e, 0, 0, r(2), 0, 0);
        }
        break;
    case 14:
        if (s >= 0) {
            emit(FUZZ_POLL, t, s, FUZZ_T_ZERO, 0, 0,
                 FUZZ_PFD(s, e, POLLIN | POLLOUT), 0, 0);
        }
        break;
    default:
        if (t == 0) {
            emit(FUZZ_RAISE, 0, 0, 0, 0, 0, 0, 0, 0);
        }
        break;
    }
}

/* ---- scenes behind flags --------------------------------------------- */

static void scene_fork(void)
{
    int s = get(G_PIPE);
    if (s < 0) {
        return;
    }
    int t = thread();
    emit(FUZZ_FORK, t, s, 1, 0, 0, r(40), 0, 0);
    emit(FUZZ_READ, other(t), s, 0, 0, 0, 100, 0, 0);
}

/* waitpid for a child that waits for a byte from another thread: the
 * hub must keep running while the parent waits. */
static void scene_fork_wait(void)
{
    int s = get(G_PIPE);
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    emit(FUZZ_FORK_WAIT, a, s, 0, 0, 0, r(40), 0, 0);
    emit(FUZZ_WRITE, b, s, 1, 0, 0, 1, 0, 0);
}

static void scene_stdio(void)
{
    int s = get(G_PIPE);
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    emit(FUZZ_STDIO_READ, a, s, 0, 0, 0, 0, 0, 0);
    emit(FUZZ_STDIO_WRITE, b, s, 1, 0, 0, 1 + r(200), 0, 0);
    emit(FUZZ_WRITE, b, s, 1, 0, 0, 1, 0, 0);
}

static void scene_closewait(void)
{
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int a = thread(), b = other(a);
    int e = read_end(s);
    a_read(a, s, e);
    emit(FUZZ_CLOSE, b, s, e, 0, 0, 0, 0, 0);
    gs[s].open[e] = false;
}

static void scene_tls(void)
{
    int a = thread(), b = other(a);
    emit(FUZZ_TLS_SET, a, 0, 0, 0, 0, 1 + r(100), 0, 0);
    emit(FUZZ_TLS_GET, b, 0, 0, 0, 0, 0, 0, 0);
}

static void scene_gettid(void)
{
    emit(FUZZ_GETTID_SAME, thread(), 0, 0, 0, 0, 0, 0, 0);
}

static void scene_flock(void)
{
    int a = thread(), b = other(a);
    emit(FUZZ_FLOCK, a, 0, 0, 0, 0, 0, 0, 0);
    emit(FUZZ_FLOCK, b, 0, 0, 0, 0, 0, 0, 0);
    emit(FUZZ_FUNLOCK, a, 0, 0, 0, 0, 0, 0, 0);
    emit(FUZZ_FUNLOCK, b, 0, 0, 0, 0, 0, 0, 0);
}

static void scene_killthread(void)
{
    if (nthreads == 1) {
        return;
    }
    int s = get_chan();
    if (s < 0) {
        return;
    }
    int a = 1 + r(nthreads - 1), b = other(a);
    emit(FUZZ_SIGACTION, b, 0, 0, 0, 0, 0, 0, 0);
    a_read(a, s, read_end(s));
    emit(FUZZ_KILL_THREAD, b, 0, 0, 0, 0, a, 0, 0);
}

struct scene {
    void (*fn)(void);
    int weight;
    unsigned flag; /* 0: always */
};

static const struct scene scenes[] = {
    {scene_make, 6, 0},
    {scene_read_write, 14, 0},
    {scene_big_write, 4, 0},
    {scene_poll, 8, 0},
    {scene_epoll, 5, 0},
    {scene_accept, 4, 0},
    {scene_mutex, 5, 0},
    {scene_cond, 4, 0},
    {scene_sem, 4, 0},
    {scene_signal, 6, 0},
    {scene_nonblock, 5, 0},
    {scene_timeo, 4, 0},
    {scene_dup, 5, 0},
    {scene_shutdown, 5, 0},
    {scene_misc, 10, 0},
    {scene_fork, 4, FUZZ_F(FORK)},
    {scene_fork_wait, 4, FUZZ_F(WAITPID)},
    {scene_stdio, 4, FUZZ_F(STDIO)},
    {scene_closewait, 4, FUZZ_F(CLOSEWAIT)},
    {scene_tls, 3, FUZZ_F(TLS)},
    {scene_gettid, 3, FUZZ_F(GETTID)},
    {scene_flock, 3, FUZZ_F(FLOCK)},
    {scene_killthread, 4, FUZZ_F(KILLTHREAD)},
};

int fuzz_generate(uint64_t seed, int len, unsigned flags, struct fuzz_op *o,
                  int *threads)
{
    rng = seed;
    out = o;
    n = 0;
    cap = len < 1 ? 1 : len > FUZZ_MAX_OPS ? FUZZ_MAX_OPS : len;
    gflags = flags;
    memset(gs, 0, sizeof(gs));
    nthreads = 1 + r(FUZZ_THREADS);
    *threads = nthreads;
    int total = 0;
    for (size_t i = 0; i < sizeof(scenes) / sizeof(scenes[0]); i++) {
        if (scenes[i].flag == 0 || (flags & scenes[i].flag)) {
            total += scenes[i].weight;
        }
    }
    /* Whole scenes only: one cut short by the length would leave, say, a
     * mutex locked that a waiter needs, a program that cannot finish. */
    overflow = false;
    int guard = 0;
    while (n < cap && !overflow && guard++ < 10 * cap) {
        int before = n;
        int pick = r(total);
        for (size_t i = 0; i < sizeof(scenes) / sizeof(scenes[0]); i++) {
            if (scenes[i].flag != 0 && !(flags & scenes[i].flag)) {
                continue;
            }
            if (pick < scenes[i].weight) {
                scenes[i].fn();
                break;
            }
            pick -= scenes[i].weight;
        }
        if (overflow) {
            n = before;
        }
    }
    return n;
}
