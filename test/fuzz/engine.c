/* SPDX-License-Identifier: MIT */
/* The fuzzer's interpreter: runs a list of operations (engine.h) in up to
 * four threads and prints one line per operation, the same bytes natively
 * and under LD_PRELOAD=libgreen.so unless libgreen differs from libc.
 *
 * Determinism. The threads never race: a coordinator thread (not one of
 * the program's) hands the operations out one at a time, in list order,
 * each to the thread it names, and waits until that operation has either
 * finished or blocked before it hands out the next. "Blocked" is decided
 * differently in the two worlds, but means the same thing:
 *  - natively, the worker is in state S in /proc/self/task/TID/stat after
 *    it said it started: asleep in the kernel, waiting for something no
 *    one has done yet (a thread another one just woke is already R);
 *  - under the preload every thread runs on one OS thread (the kernel's
 *    thread id is the same everywhere: that is how the engine knows), so the
 *    coordinator only runs when the others are parked or done; after an
 *    operation that may have woken someone it sleeps 0.5 ms at a time
 *    until two naps in a row saw no thread make progress (a woken thread
 *    runs at the hub's next turn, within microseconds).
 * An operation that blocked is "outstanding". Before each operation the
 * engine waits again until every outstanding one has finished or blocked,
 * so that what one thread did has taken its effect on the others before
 * the next step. An outstanding operation gets a window of four further
 * operations to be ended by one of them (a write to the pipe it reads, a
 * post of the semaphore it waits on, a signal); after that, or before
 * its thread is needed again, the engine "finishes" it: an operation with
 * a timeout (150 ms, far beyond the few milliseconds a window takes) is
 * left to run out, one without is rescued (a byte written to the peer, a
 * connection to the listener, a post, a broadcast), and then waited for.
 * A rescue is itself deterministic: whether one is needed depends only
 * on what the calls returned. Every line is printed by the coordinator,
 * in list order, when its operation has finished.
 *
 * Nothing printed depends on time, addresses, fd numbers (libgreen holds
 * fds of its own, so numbers differ under the preload), pids or thread
 * ids: a read prints its count and a hash of the bytes, a poll which of
 * its own fds are ready, a sleep whether time was left.
 *
 * Validity. An operation whose object is missing, or that would be
 * undefined behaviour (unlocking a mutex the thread does not hold,
 * locking one it holds), prints "skip": the minimiser may drop any
 * operation and the rest is still a valid program. By default an fd that
 * another thread waits on is never closed (see FUZZ_F(CLOSEWAIT)): Linux
 * lets the waiting call go on (libgreen too since issue 14, which that
 * flag tests), and a poll's, select's or epoll's view of a closed
 * number depends on what the program opens next.
 *
 * Signals go to the main thread (thread 0) only: the workers and the
 * coordinator start with SIGUSR1 and SIGALRM blocked, natively. */
#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- names ----------------------------------------------------------- */

static const char *const kind_names[FUZZ_NKINDS] = {
#define FUZZ_NAME(k) #k,
    FUZZ_KINDS(FUZZ_NAME)
#undef FUZZ_NAME
};

const char *fuzz_kind_name(int kind)
{
    return kind >= 0 && kind < FUZZ_NKINDS ? kind_names[kind] : "?";
}

int fuzz_parse_flags(const char *s, unsigned *flags)
{
    static const char *const words[] = {
#define FUZZ_FLAG_WORD(n, word, what) word,
        FUZZ_FLAGS(FUZZ_FLAG_WORD)
#undef FUZZ_FLAG_WORD
    };
    *flags = 0;
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        bool known = false;
        if (len == 3 && strncmp(s, "all", 3) == 0) {
            *flags = (1u << FUZZ_NFLAGS) - 1;
            known = true;
        }
        for (int i = 0; i < FUZZ_NFLAGS && !known; i++) {
            if (strlen(words[i]) == len && strncmp(s, words[i], len) == 0) {
                *flags |= 1u << i;
                known = true;
            }
        }
        if (!known && len > 0) {
            fprintf(stderr, "fuzz: unknown flag '%.*s'; known:", (int)len, s);
            for (int i = 0; i < FUZZ_NFLAGS; i++) {
                fprintf(stderr, " %s", words[i]);
            }
            fprintf(stderr, " all\n");
            return -1;
        }
        s += len;
        if (*s == ',') {
            s++;
        }
    }
    return 0;
}

void fuzz_describe(const struct fuzz_op *op, char *buf, size_t len)
{
    snprintf(buf, len, "t%d %s s%d.%d s%d.%d %d %d %d", op->t,
             fuzz_kind_name(op->kind), op->s, op->e, op->s2, op->e2, op->a,
             op->b, op->c);
}

void fuzz_emit_c(FILE *f, const struct fuzz_op *ops, int n)
{
    for (int i = 0; i < n; i++) {
        const struct fuzz_op *o = &ops[i];
        fprintf(f,
                "    {%u, FUZZ_%s, %d, %d, %d, %d, %d, %d, %d, %d},\n",
                o->idx, fuzz_kind_name(o->kind), o->t, o->s, o->e, o->s2,
                o->e2, o->a, o->b, o->c);
    }
}

/* ---- output ---------------------------------------------------------- */

#define LINE 200

static const struct fuzz_op *prog;
static int nops;
static char (*lines)[LINE];     /* each operation's line, once done */
static int *started, *done;     /* per operation (atomics) */
static int next_print;

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void say(const char *fmt, ...)
{
    char buf[LINE + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) {
        n = (int)sizeof(buf) - 1;
    }
    put(buf, (size_t)n);
}

/* Prints the lines of every finished operation not printed yet, in list
 * order, stopping at the first unfinished one. Coordinator only. */
static void flush_lines(void)
{
    while (next_print < nops &&
           __atomic_load_n(&done[next_print], __ATOMIC_ACQUIRE)) {
        const struct fuzz_op *o = &prog[next_print];
        char d[64];
        snprintf(d, sizeof(d), "%s s%d.%d", fuzz_kind_name(o->kind), o->s,
                 o->e);
        say("%03u t%d %-22s %s\n", o->idx, o->t, d, lines[next_print]);
        next_print++;
    }
}

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "E?";
}

/* The result line of operation j (the worker's). */
static void res(int j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lines[j], LINE, fmt, ap);
    va_end(ap);
}

/* A libc-style result: the value, or -1 and errno's name. */
static void res_sys(int j, long r, int err)
{
    if (r < 0) {
        res(j, "-1 %s", ename(err));
    } else {
        res(j, "%ld", r);
    }
}

/* An errno-returning result (pthread_*, clock_nanosleep). */
static void res_err(int j, int r)
{
    res(j, "%s", r == 0 ? "0" : ename(r));
}

static uint32_t fnv(uint32_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

#define FNV0 2166136261u

/* ---- objects --------------------------------------------------------- */

enum slot_type {
    S_NONE, S_PIPE, S_SP_STREAM, S_SP_DGRAM, S_SP_SEQ, S_TCP, S_UDP,
    S_FIFO, S_LISTEN, S_EPOLL, S_MUTEX, S_COND, S_SEM
};

struct slot {
    int type;
    int fd[FUZZ_ENDS];      /* -1: none */
    int desc[FUZZ_ENDS];    /* which of ends 0 and 1 an end duplicates */
    struct sockaddr_in addr; /* a listener's */
    pthread_mutex_t m;      /* MK_MUTEX, and MK_COND's own */
    pthread_cond_t c;
    sem_t sem;
    int holder;             /* the thread holding m, or -1 */
    int nreg;               /* epoll: registrations, for the rescue */
    int reg[8];
};

static struct slot slots[FUZZ_SLOTS];
static char tmpdir[64];
static int rescue_fds[64];
static int nrescue;

static bool is_sock(int type)
{
    return type == S_SP_STREAM || type == S_SP_DGRAM || type == S_SP_SEQ ||
           type == S_TCP || type == S_UDP || type == S_LISTEN;
}

static bool is_fdobj(int type)
{
    return type != S_NONE && type != S_MUTEX && type != S_COND &&
           type != S_SEM;
}

/* The fd of (s, e), or -1 when there is none. */
static int fd_of(int s, int e)
{
    if (s < 0 || s >= FUZZ_SLOTS || e < 0 || e >= FUZZ_ENDS ||
        !is_fdobj(slots[s].type)) {
        return -1;
    }
    return slots[s].fd[e];
}

/* An open fd of the other side of (s, e): what a rescue writes to or
 * reads from. -1 if none. */
static int peer_fd(int s, int e)
{
    struct slot *sl = &slots[s];
    int other = 1 - sl->desc[e];
    for (int k = 0; k < FUZZ_ENDS; k++) {
        if (sl->fd[k] >= 0 && sl->desc[k] == other) {
            return sl->fd[k];
        }
    }
    return -1;
}

static void slot_init(struct slot *sl, int type)
{
    sl->type = type;
    for (int k = 0; k < FUZZ_ENDS; k++) {
        sl->fd[k] = -1;
        sl->desc[k] = k & 1;
    }
    sl->holder = -1;
    sl->nreg = 0;
}

/* ---- threads --------------------------------------------------------- */

struct worker {
    pthread_t th;
    pid_t tid;
    int stat_fd;      /* its /proc stat file, kept open (see asleep) */
    sem_t go;
    int op;           /* the operation to run, -1 to end */
    int busy;         /* an outstanding operation, or -1 */
};

static struct worker workers[FUZZ_THREADS];
static int nthreads;
static unsigned run_flags;
static pthread_t main_th;
static pid_t main_tid;
static bool green;               /* every thread on one OS thread */
static unsigned long progress;   /* moves whenever a worker does anything */
static int handlers;             /* signal handlers run */
static sem_t ready;

static __thread int tls_value;
static int lock_fds[FUZZ_THREADS] = {-1, -1, -1, -1};

static void bump(void)
{
    __atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
}

static void on_signal(int sig)
{
    (void)sig;
    __atomic_add_fetch(&handlers, 1, __ATOMIC_RELAXED);
    bump();
}

static void install(int sig, bool restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(sig, &sa, NULL);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Natively: whether thread tid sleeps in the kernel (state S). */
/* The state letter in a /proc .../stat file, or 0 if it cannot be read
 * (the task is gone). */
static char state_of(int fd)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

static char proc_state(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    char st = state_of(fd);
    close(fd);
    return st;
}

/* The fd numbers the engine's own files take, above any the program's
 * operations reach. */
enum { ENGINE_FD_BASE = 600 };

/* Opens a worker's stat file once, at a number no operation's fd takes.
 * Opening it at each look took the lowest free number: the number of an
 * fd just closed under another thread's poll, which that poll's next
 * look then saw as an open, readable file (natively: seed 27, closewait,
 * under a loaded machine). */
static void open_stat(struct worker *w)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)w->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    w->stat_fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, ENGINE_FD_BASE);
    if (fd >= 0) {
        close(fd);
    }
}

static bool asleep(const struct worker *w)
{
    return w->stat_fd >= 0 && state_of(w->stat_fd) == 'S';
}

/* A FORK_WAIT's child, while the parent waits for it: the parent's thread
 * sleeps in waitpid all along, so the operation has settled only while
 * the child sleeps too, or once it has exited (a child just woken would
 * otherwise still be taking its byte when the next operation looks at
 * the pipe, natively; green, the coordinator's naps hid that). */
static int *child; /* per operation (atomics): its pid, or 0 */

static bool child_quiet(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char st = proc_state(path);
    return st == 0 || st == 'S' || st == 'Z' || st == 'X';
}

/* Under the preload: naps until two naps in a row saw no progress, so
 * that every thread some operation woke has run until it parks again. */
static void green_quiet(void)
{
    unsigned long p = __atomic_load_n(&progress, __ATOMIC_RELAXED);
    int still = 0;
    while (still < 2) {
        nap(500);
        unsigned long q = __atomic_load_n(&progress, __ATOMIC_RELAXED);
        if (q == p) {
            still++;
        } else {
            p = q;
            still = 0;
        }
    }
}

static void cleanup_tmp(void);

static _Noreturn void stuck(int j, const char *why)
{
    flush_lines();
    say("STUCK %03u t%d %s: %s\n", prog[j].idx, prog[j].t,
        fuzz_kind_name(prog[j].kind), why);
    cleanup_tmp();
    _exit(3);
}

/* How long an operation may take to end or block before the engine calls
 * it stuck: far beyond anything a valid program waits (150 ms timeouts,
 * 1 s for a signal), short enough that a hang costs the minimiser little. */
#define CAP_SECONDS 2.5

/* How many operations after a blocked one may still end it. */
#define WINDOW 4

/* ---- the operations -------------------------------------------------- */

/* What the coordinator needs to know of an operation before it runs. */
static bool may_block(const struct fuzz_op *o)
{
    switch (o->kind) {
    case FUZZ_ACCEPT:
    case FUZZ_CONNECT:
    case FUZZ_READ:
    case FUZZ_READV:
    case FUZZ_WRITE:
    case FUZZ_WRITEV:
    case FUZZ_LOCK:
    case FUZZ_TIMEDLOCK:
    case FUZZ_COND_LOCK:
    case FUZZ_COND_WAIT:
    case FUZZ_COND_TIMEDWAIT:
    case FUZZ_SEM_WAIT:
    case FUZZ_SEM_TIMEDWAIT:
    case FUZZ_FLOCK:
    case FUZZ_STDIO_READ:
    case FUZZ_STDIO_WRITE:
    case FUZZ_FORK_WAIT:
        return true;
    case FUZZ_RECV:
    case FUZZ_RECVFROM:
    case FUZZ_RECVMSG:
    case FUZZ_SEND:
    case FUZZ_SENDTO:
    case FUZZ_SENDMSG:
        return !(o->b & MSG_DONTWAIT);
    case FUZZ_POLL:
    case FUZZ_PPOLL:
    case FUZZ_SELECT:
    case FUZZ_PSELECT:
    case FUZZ_EPOLL_WAIT:
        return o->e != FUZZ_T_ZERO;
    case FUZZ_NANOSLEEP:
    case FUZZ_CLOCKSLEEP:
        return o->a >= 100000;
    default:
        return false;
    }
}

/* Whether a blocked operation ends by itself (a timeout). Set by the
 * worker before it starts (a socket's SO_RCVTIMEO counts). */
static int *timed;

static bool wants_in(int kind)
{
    return kind == FUZZ_ACCEPT || kind == FUZZ_READ || kind == FUZZ_READV || kind == FUZZ_RECV ||
           kind == FUZZ_RECVFROM || kind == FUZZ_RECVMSG ||
           kind == FUZZ_STDIO_READ || kind == FUZZ_FORK_WAIT;
}

static bool sock_timeo(int fd, int name)
{
    struct timeval tv = {0, 0};
    socklen_t len = sizeof(tv);
    return getsockopt(fd, SOL_SOCKET, name, &tv, &len) == 0 &&
           (tv.tv_sec != 0 || tv.tv_usec != 0);
}

static bool is_timed(const struct fuzz_op *o)
{
    switch (o->kind) {
    case FUZZ_TIMEDLOCK:
    case FUZZ_COND_TIMEDWAIT:
    case FUZZ_SEM_TIMEDWAIT:
    case FUZZ_NANOSLEEP:
    case FUZZ_CLOCKSLEEP:
        return true;
    case FUZZ_POLL:
    case FUZZ_PPOLL:
    case FUZZ_SELECT:
    case FUZZ_PSELECT:
    case FUZZ_EPOLL_WAIT:
        return o->e == FUZZ_T_LONG;
    default: {
        int fd = fd_of(o->s, o->e);
        if (fd < 0 || !is_sock(slots[o->s].type)) {
            return false;
        }
        return sock_timeo(fd, wants_in(o->kind) ? SO_RCVTIMEO : SO_SNDTIMEO);
    }
    }
}

#define BIG (320 * 1024)
static unsigned char wbuf[FUZZ_THREADS][BIG];
static unsigned char rbuf[FUZZ_THREADS + 1][BIG]; /* the last: rescues */

/* The bytes operation j writes: a pattern of its index. */
static unsigned char *pattern(int j, size_t n)
{
    unsigned char *b = wbuf[prog[j].t];
    for (size_t k = 0; k < n; k++) {
        b[k] = (unsigned char)('a' + (prog[j].idx * 13u + k) % 26);
    }
    return b;
}

static size_t clampn(long n)
{
    return n < 0 ? 0 : n > BIG ? BIG : (size_t)n;
}

/* A read-style result: the count and a hash of the bytes. */
static void res_data(int j, ssize_t r, int err, const unsigned char *p)
{
    if (r < 0) {
        res(j, "-1 %s", ename(err));
    } else if (r == 0) {
        res(j, "0");
    } else {
        res(j, "%zd h=%08x", r, fnv(FNV0, p, (size_t)r));
    }
}

static const char *msgflags(int f)
{
    static __thread char buf[64];
    snprintf(buf, sizeof(buf), "%s%s%s%s", f & MSG_TRUNC ? " TRUNC" : "",
             f & MSG_CTRUNC ? " CTRUNC" : "", f & MSG_EOR ? " EOR" : "",
             f & MSG_OOB ? " OOB" : "");
    return buf;
}

/* Other threads' outstanding operations that use fd (s, e): the engine
 * does not close such an fd unless FUZZ_F(CLOSEWAIT) says so. */
static bool fd_in_use(int s, int e)
{
    int fd = fd_of(s, e);
    for (int t = 0; t < nthreads; t++) {
        int b = __atomic_load_n(&workers[t].busy, __ATOMIC_ACQUIRE);
        if (b < 0) {
            continue;
        }
        const struct fuzz_op *o = &prog[b];
        if (fd_of(o->s, o->e) == fd) {
            return true;
        }
        if (o->kind == FUZZ_POLL || o->kind == FUZZ_PPOLL ||
            o->kind == FUZZ_SELECT || o->kind == FUZZ_PSELECT) {
            int32_t p[3] = {o->a, o->b, o->c};
            for (int i = 0; i < 3; i++) {
                if (p[i] != 0 &&
                    fd_of(FUZZ_PFD_S(p[i]), FUZZ_PFD_E(p[i])) == fd) {
                    return true;
                }
            }
        }
        if (o->kind == FUZZ_EPOLL_WAIT) {
            return true; /* an epoll set may hold it */
        }
    }
    return false;
}

static bool may_close(int s, int e)
{
    return (run_flags & FUZZ_F(CLOSEWAIT)) || !fd_in_use(s, e);
}

static int listener(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(*sa);
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) != 0 ||
        listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)sa, &l) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int udp_bound(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof(*sa);
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)sa, &l) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void op_make(int j, const struct fuzz_op *o)
{
    struct slot *sl = &slots[o->s];
    if (o->s < 0 || o->s >= FUZZ_SLOTS || sl->type != S_NONE) {
        res(j, "skip");
        return;
    }
    int fds[2] = {-1, -1};
    int r = 0, err = 0;
    switch (o->kind) {
    case FUZZ_MK_PIPE:
        r = pipe2(fds, o->a & (O_NONBLOCK | O_CLOEXEC));
        err = errno;
        if (r == 0) {
            slot_init(sl, S_PIPE);
        }
        break;
    case FUZZ_MK_SOCKPAIR: {
        static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
        static const int kinds[] = {S_SP_STREAM, S_SP_DGRAM, S_SP_SEQ};
        int ty = o->a >= 0 && o->a < 3 ? o->a : 0;
        r = socketpair(AF_UNIX, types[ty] | (o->b ? SOCK_NONBLOCK : 0), 0,
                       fds);
        err = errno;
        if (r == 0) {
            slot_init(sl, kinds[ty]);
        }
        break;
    }
    case FUZZ_MK_TCP: {
        struct sockaddr_in sa;
        int l = listener(&sa);
        if (l < 0) {
            r = -1, err = errno;
            break;
        }
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[0] < 0 ||
            connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            (fds[1] = accept(l, NULL, NULL)) < 0) {
            r = -1, err = errno;
            if (fds[0] >= 0) {
                close(fds[0]);
            }
        } else {
            slot_init(sl, S_TCP);
        }
        close(l);
        break;
    }
    case FUZZ_MK_UDP: {
        struct sockaddr_in a0, a1;
        fds[0] = udp_bound(&a0);
        fds[1] = udp_bound(&a1);
        if (fds[0] < 0 || fds[1] < 0 ||
            connect(fds[0], (struct sockaddr *)&a1, sizeof(a1)) != 0 ||
            connect(fds[1], (struct sockaddr *)&a0, sizeof(a0)) != 0) {
            r = -1, err = errno;
            if (fds[0] >= 0) close(fds[0]);
            if (fds[1] >= 0) close(fds[1]);
        } else {
            slot_init(sl, S_UDP);
        }
        break;
    }
    case FUZZ_MK_FIFO: {
        char path[96];
        snprintf(path, sizeof(path), "%s/fifo%d", tmpdir, o->s);
        if (mkfifo(path, 0600) != 0 ||
            (fds[0] = open(path, O_RDONLY | O_NONBLOCK)) < 0 ||
            (fds[1] = open(path, O_WRONLY)) < 0) {
            r = -1, err = errno;
            if (fds[0] >= 0) close(fds[0]);
            break;
        }
        /* The read end blocks like a pipe's from here on. */
        int fl = fcntl(fds[0], F_GETFL);
        fcntl(fds[0], F_SETFL, fl & ~O_NONBLOCK);
        slot_init(sl, S_FIFO);
        break;
    }
    case FUZZ_MK_LISTEN:
        fds[0] = listener(&sl->addr);
        if (fds[0] < 0) {
            r = -1, err = errno;
        } else {
            slot_init(sl, S_LISTEN);
        }
        break;
    case FUZZ_MK_EPOLL:
        fds[0] = epoll_create1(EPOLL_CLOEXEC);
        if (fds[0] < 0) {
            r = -1, err = errno;
        } else {
            slot_init(sl, S_EPOLL);
        }
        break;
    case FUZZ_MK_MUTEX:
    case FUZZ_MK_COND:
        slot_init(sl, o->kind == FUZZ_MK_MUTEX ? S_MUTEX : S_COND);
        r = pthread_mutex_init(&sl->m, NULL);
        if (r == 0 && o->kind == FUZZ_MK_COND) {
            r = pthread_cond_init(&sl->c, NULL);
        }
        res_err(j, r);
        if (r != 0) {
            sl->type = S_NONE;
        }
        return;
    case FUZZ_MK_SEM:
        slot_init(sl, S_SEM);
        r = sem_init(&sl->sem, 0, (unsigned)(o->a & 3));
        res_sys(j, r, errno);
        if (r != 0) {
            sl->type = S_NONE;
        }
        return;
    }
    if (r != 0) {
        res(j, "-1 %s", ename(err));
        return;
    }
    sl->fd[0] = fds[0];
    sl->fd[1] = fds[1];
    res(j, "0");
}

static void op_connect(int j, const struct fuzz_op *o)
{
    if (fd_of(o->s, 0) < 0 || slots[o->s].type != S_LISTEN ||
        o->s2 < 0 || o->s2 >= FUZZ_SLOTS ||
        (slots[o->s2].type != S_NONE && slots[o->s2].type != S_TCP) ||
        (slots[o->s2].type == S_TCP && slots[o->s2].fd[0] >= 0)) {
        res(j, "skip");
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        res_sys(j, -1, errno);
        return;
    }
    int r = connect(fd, (struct sockaddr *)&slots[o->s].addr,
                    sizeof(slots[o->s].addr));
    int err = errno;
    if (r != 0) {
        close(fd);
        res_sys(j, r, err);
        return;
    }
    struct slot *t = &slots[o->s2];
    if (t->type == S_NONE) {
        slot_init(t, S_TCP);
    }
    t->fd[0] = fd;
    res(j, "0");
}

static void op_accept(int j, const struct fuzz_op *o)
{
    int l = fd_of(o->s, 0);
    if (l < 0 || slots[o->s].type != S_LISTEN || o->s2 < 0 ||
        o->s2 >= FUZZ_SLOTS ||
        (slots[o->s2].type != S_NONE && slots[o->s2].type != S_TCP) ||
        (slots[o->s2].type == S_TCP && slots[o->s2].fd[1] >= 0)) {
        res(j, "skip");
        return;
    }
    int fd = accept4(l, NULL, NULL, o->a & (SOCK_NONBLOCK | SOCK_CLOEXEC));
    int err = errno;
    if (fd < 0) {
        res_sys(j, -1, err);
        return;
    }
    struct slot *t = &slots[o->s2];
    if (t->type == S_NONE) {
        slot_init(t, S_TCP);
    }
    t->fd[1] = fd;
    int fl = fcntl(fd, F_GETFL);
    res(j, "0%s", fl >= 0 && (fl & O_NONBLOCK) ? " nonblock" : "");
}

static void op_data(int j, const struct fuzz_op *o)
{
    int fd = fd_of(o->s, o->e);
    if (fd < 0) {
        res(j, "skip");
        return;
    }
    unsigned char *rb = rbuf[o->t];
    size_t n = clampn(o->a);
    int flags = o->b;
    ssize_t r;
    int err;
    switch (o->kind) {
    case FUZZ_READ:
        r = read(fd, rb, n);
        err = errno;
        res_data(j, r, err, rb);
        return;
    case FUZZ_READV: {
        size_t h = n / 3;
        struct iovec iov[3] = {{rb, h}, {rb + h, h}, {rb + 2 * h, n - 2 * h}};
        r = readv(fd, iov, 3);
        err = errno;
        res_data(j, r, err, rb);
        return;
    }
    case FUZZ_RECV:
        r = recv(fd, rb, n, flags);
        err = errno;
        res_data(j, r, err, rb);
        return;
    case FUZZ_RECVFROM: {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        r = recvfrom(fd, rb, n, flags, (struct sockaddr *)&ss, &sl);
        err = errno;
        res_data(j, r, err, rb);
        if (r >= 0) {
            size_t m = strlen(lines[j]);
            snprintf(lines[j] + m, LINE - m, " from=%d", ss.ss_family);
        }
        return;
    }
    case FUZZ_RECVMSG: {
        size_t h = n / 2;
        struct iovec iov[2] = {{rb, h}, {rb + h, n - h}};
        struct msghdr m;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        r = recvmsg(fd, &m, flags);
        err = errno;
        res_data(j, r, err, rb);
        if (r >= 0) {
            size_t k = strlen(lines[j]);
            snprintf(lines[j] + k, LINE - k, "%s", msgflags(m.msg_flags));
        }
        return;
    }
    case FUZZ_WRITE:
        r = write(fd, pattern(j, n), n);
        err = errno;
        res_sys(j, r, err);
        return;
    case FUZZ_WRITEV: {
        unsigned char *p = pattern(j, n);
        size_t h = n / 3;
        struct iovec iov[3] = {{p, h}, {p + h, 0}, {p + h, n - h}};
        r = writev(fd, iov, 3);
        err = errno;
        res_sys(j, r, err);
        return;
    }
    case FUZZ_SEND:
        r = send(fd, pattern(j, n), n, flags);
        err = errno;
        res_sys(j, r, err);
        return;
    case FUZZ_SENDTO:
        r = sendto(fd, pattern(j, n), n, flags, NULL, 0);
        err = errno;
        res_sys(j, r, err);
        return;
    case FUZZ_SENDMSG: {
        unsigned char *p = pattern(j, n);
        size_t h = n / 2;
        struct iovec iov[2] = {{p, h}, {p + h, n - h}};
        struct msghdr m;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        r = sendmsg(fd, &m, flags);
        err = errno;
        res_sys(j, r, err);
        return;
    }
    case FUZZ_ZREAD:
        r = read(fd, rb, 0);
        err = errno;
        res_sys(j, r, err);
        return;
    }
}

/* Waits (outside any operation's count) until every outstanding
 * operation has finished or blocked again. */
static void settle(void);

/* Reads everything (s, e) has or will get from a writer that is blocked
 * on it, without blocking: non-blocking reads until one says EAGAIN just
 * after the others settled. Prints the total and a hash. */
static void drain_fd(int fd, bool sock, int t, size_t *total, uint32_t *h,
                     int *err, int *eof)
{
    *total = 0;
    *h = FNV0;
    *err = 0;
    *eof = 0;
    int quiet = 0;
    for (;;) {
        ssize_t r;
        int e;
        if (sock) {
            r = recv(fd, rbuf[t], 65536, MSG_DONTWAIT);
            e = errno;
        } else {
            /* A pipe: read only what poll says is there. */
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                r = read(fd, rbuf[t], 65536);
                e = errno;
            } else {
                r = -1;
                e = EAGAIN;
            }
        }
        if (r > 0) {
            *total += (size_t)r;
            *h = fnv(*h, rbuf[t], (size_t)r);
            quiet = 0;
            continue;
        }
        if (r == 0) {
            *eof = 1;
            return;
        }
        if (e != EAGAIN && e != EWOULDBLOCK) {
            *err = e;
            return;
        }
        if (quiet++ == 1) {
            return;
        }
        settle();
    }
}

static void op_drain(int j, const struct fuzz_op *o)
{
    int fd = fd_of(o->s, o->e);
    if (fd < 0) {
        res(j, "skip");
        return;
    }
    size_t total;
    uint32_t h;
    int err, eof;
    drain_fd(fd, is_sock(slots[o->s].type), o->t, &total, &h, &err, &eof);
    res(j, "%zu h=%08x%s%s%s", total, total ? h : 0, eof ? " eof" : "",
        err ? " " : "", err ? ename(err) : "");
}

static void flagline(int j, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int err = errno;
    if (fl < 0) {
        res_sys(j, fl, err);
        return;
    }
    int acc = fl & O_ACCMODE;
    res(j, "%s%s%s", acc == O_RDONLY ? "RDONLY" : acc == O_WRONLY ? "WRONLY"
                                                                   : "RDWR",
        fl & O_NONBLOCK ? "|NONBLOCK" : "", fl & O_APPEND ? "|APPEND" : "");
}

/* The fixed fd numbers dups go to (free under the preload too, whose own
 * fds are low numbers). */
static int dup_target(int s, int e)
{
    return 600 + s * FUZZ_ENDS + e;
}

static void op_fd(int j, const struct fuzz_op *o)
{
    if (o->kind == FUZZ_BADFD) {
        char c = 0;
        int r;
        struct pollfd p = {999, POLLIN, 0};
        switch (o->a & 3) {
        case 0: r = (int)read(999, &c, 1); break;
        case 1: r = (int)write(999, &c, 1); break;
        case 2: r = close(999); break;
        default:
            r = poll(&p, 1, 0);
            res(j, "%d revents=%x", r, p.revents);
            return;
        }
        res_sys(j, r, errno);
        return;
    }
    int fd = fd_of(o->s, o->e);
    struct slot *sl = &slots[o->s];
    if (fd < 0) {
        res(j, "skip");
        return;
    }
    int r, v;
    socklen_t len;
    switch (o->kind) {
    case FUZZ_SETNB:
        if (o->b) {
            v = o->a != 0;
            r = ioctl(fd, FIONBIO, &v);
        } else {
            int fl = fcntl(fd, F_GETFL);
            r = fcntl(fd, F_SETFL, o->a ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
        }
        res_sys(j, r, errno);
        return;
    case FUZZ_GETFL:
        flagline(j, fd);
        return;
    case FUZZ_SETCLOEXEC:
        r = fcntl(fd, F_SETFD, o->a ? FD_CLOEXEC : 0);
        res_sys(j, r, errno);
        return;
    case FUZZ_GETFD:
        r = fcntl(fd, F_GETFD);
        res_sys(j, r, errno);
        return;
    case FUZZ_TIMEO: {
        struct timeval tv = {o->b / 1000, (o->b % 1000) * 1000};
        r = setsockopt(fd, SOL_SOCKET, o->a ? SO_SNDTIMEO : SO_RCVTIMEO, &tv,
                       sizeof(tv));
        res_sys(j, r, errno);
        return;
    }
    case FUZZ_SHUTDOWN:
        r = shutdown(fd, o->a % 3);
        res_sys(j, r, errno);
        return;
    case FUZZ_LINGER0: {
        struct linger lg = {1, 0};
        r = setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        res_sys(j, r, errno);
        return;
    }
    case FUZZ_SOERROR:
        v = 0;
        len = sizeof(v);
        r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
        if (r < 0) {
            res_sys(j, r, errno);
        } else {
            res(j, "0 %s", v ? ename(v) : "none");
        }
        return;
    case FUZZ_FIONREAD:
        v = -1;
        r = ioctl(fd, FIONREAD, &v);
        if (r < 0) {
            res_sys(j, r, errno);
        } else {
            res(j, "0 %d", v);
        }
        return;
    case FUZZ_CLOSE:
        if (!may_close(o->s, o->e)) {
            res(j, "skip busy");
            return;
        }
        r = close(fd);
        res_sys(j, r, errno);
        sl->fd[o->e] = -1;
        return;
    case FUZZ_DUP:
    case FUZZ_DUP2:
    case FUZZ_DUP3:
    case FUZZ_DUPFD: {
        int e2 = o->e2;
        if (e2 < 2 || e2 >= FUZZ_ENDS || e2 == o->e ||
            (sl->fd[e2] >= 0 && !may_close(o->s, e2))) {
            res(j, "skip");
            return;
        }
        int old = sl->fd[e2];
        int nfd;
        int target = dup_target(o->s, e2);
        if (o->kind == FUZZ_DUP) {
            if (old >= 0) {
                close(old);
                old = -1;
            }
            nfd = dup(fd);
        } else if (o->kind == FUZZ_DUP2) {
            nfd = dup2(fd, target);
        } else if (o->kind == FUZZ_DUP3) {
            nfd = dup3(fd, target, O_CLOEXEC);
        } else {
            if (old >= 0) {
                close(old);
                old = -1;
            }
            nfd = fcntl(fd, o->a ? F_DUPFD_CLOEXEC : F_DUPFD, 700);
        }
        int err = errno;
        if (nfd < 0) {
            res_sys(j, -1, err);
            return;
        }
        if (old >= 0 && old != nfd) {
            close(old);
        }
        sl->fd[e2] = nfd;
        sl->desc[e2] = sl->desc[o->e];
        int fdfl = fcntl(nfd, F_GETFD);
        res(j, "ok%s%s", o->kind == FUZZ_DUPFD && nfd >= 700 ? " >=700" : "",
            fdfl & FD_CLOEXEC ? " cloexec" : "");
        return;
    }
    }
}

static int timeout_ms(int cls)
{
    return cls == FUZZ_T_ZERO ? 0 : cls == FUZZ_T_LONG ? FUZZ_LONG_MS : -1;
}

/* The pollfds of a waiting operation; index map in which[]. */
static int poll_set(const struct fuzz_op *o, struct pollfd *p, int *which)
{
    int32_t v[3] = {o->a, o->b, o->c};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (v[i] == 0) {
            continue;
        }
        int fd = fd_of(FUZZ_PFD_S(v[i]), FUZZ_PFD_E(v[i]));
        if (fd < 0) {
            continue;
        }
        p[n].fd = fd;
        p[n].events = (short)FUZZ_PFD_EV(v[i]);
        p[n].revents = 0;
        which[n++] = i;
    }
    return n;
}

static void revents_line(int j, int r, int err, const struct fuzz_op *o,
                         struct pollfd *p, int *which, int n)
{
    if (r < 0) {
        res(j, "-1 %s", ename(err));
        return;
    }
    char buf[LINE];
    size_t k = (size_t)snprintf(buf, sizeof(buf), "%d", r);
    int32_t v[3] = {o->a, o->b, o->c};
    for (int i = 0; i < n && k < sizeof(buf); i++) {
        short re = p[i].revents;
        if (re == 0) {
            continue;
        }
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, " s%d.%d:%s%s%s%s%s%s",
                              FUZZ_PFD_S(v[which[i]]), FUZZ_PFD_E(v[which[i]]),
                              re & POLLIN ? "I" : "", re & POLLOUT ? "O" : "",
                              re & POLLPRI ? "P" : "", re & POLLHUP ? "H" : "",
                              re & POLLERR ? "E" : "", re & POLLNVAL ? "N" : "");
#ifdef POLLRDHUP
        if ((re & POLLRDHUP) && k < sizeof(buf)) {
            k += (size_t)snprintf(buf + k, sizeof(buf) - k, "R");
        }
#endif
    }
    res(j, "%s", buf);
}

static void op_poll(int j, const struct fuzz_op *o)
{
    struct pollfd p[3];
    int which[3];
    int n = poll_set(o, p, which);
    if (n == 0) {
        res(j, "skip");
        return;
    }
    int ms = timeout_ms(o->e);
    int r, err;
    if (o->kind == FUZZ_POLL) {
        r = poll(p, (nfds_t)n, ms);
        err = errno;
        revents_line(j, r, err, o, p, which, n);
        return;
    }
    if (o->kind == FUZZ_PPOLL) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        r = ppoll(p, (nfds_t)n, ms < 0 ? NULL : &ts, NULL);
        err = errno;
        revents_line(j, r, err, o, p, which, n);
        return;
    }
    /* select, pselect: the same fds as sets. */
    fd_set rs, ws, es;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    int maxfd = -1;
    for (int i = 0; i < n; i++) {
        if (p[i].fd >= FD_SETSIZE) {
            res(j, "skip");
            return;
        }
        if (p[i].events & POLLIN) FD_SET(p[i].fd, &rs);
        if (p[i].events & POLLOUT) FD_SET(p[i].fd, &ws);
        if (p[i].events & POLLPRI) FD_SET(p[i].fd, &es);
        if (p[i].fd > maxfd) maxfd = p[i].fd;
    }
    bool left = false;
    if (o->kind == FUZZ_SELECT) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        r = select(maxfd + 1, &rs, &ws, &es, ms < 0 ? NULL : &tv);
        err = errno;
        left = ms > 0 && (tv.tv_sec > 0 || tv.tv_usec > 0);
    } else {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        r = pselect(maxfd + 1, &rs, &ws, &es, ms < 0 ? NULL : &ts, NULL);
        err = errno;
    }
    for (int i = 0; i < n; i++) {
        p[i].revents = (short)((FD_ISSET(p[i].fd, &rs) ? POLLIN : 0) |
                               (FD_ISSET(p[i].fd, &ws) ? POLLOUT : 0) |
                               (FD_ISSET(p[i].fd, &es) ? POLLPRI : 0));
        if (r <= 0) {
            p[i].revents = 0;
        }
    }
    revents_line(j, r, err, o, p, which, n);
    if (o->kind == FUZZ_SELECT && r > 0) {
        size_t k = strlen(lines[j]);
        snprintf(lines[j] + k, LINE - k, " left=%s", left ? "yes" : "no");
    }
}

static void op_epoll(int j, const struct fuzz_op *o)
{
    int ep = fd_of(o->s, 0);
    if (ep < 0 || slots[o->s].type != S_EPOLL) {
        res(j, "skip");
        return;
    }
    struct slot *sl = &slots[o->s];
    if (o->kind == FUZZ_EPOLL_CTL) {
        int fd = fd_of(o->s2, o->e2);
        if (fd < 0 || o->s2 == o->s) {
            res(j, "skip");
            return;
        }
        static const int ops[] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = (uint32_t)o->b;
        ev.data.u32 = (uint32_t)(o->s2 << 8 | o->e2);
        int op = ops[(o->a % 3 + 3) % 3];
        int r = epoll_ctl(ep, op, fd, &ev);
        int err = errno;
        res_sys(j, r, err);
        if (r == 0 && op == EPOLL_CTL_ADD && sl->nreg < 8) {
            sl->reg[sl->nreg++] = (int)ev.data.u32;
        }
        return;
    }
    struct epoll_event ev[8];
    int max = o->a < 1 ? 1 : o->a > 8 ? 8 : o->a;
    int r = epoll_wait(ep, ev, max, timeout_ms(o->e));
    int err = errno;
    if (r < 0) {
        res_sys(j, r, err);
        return;
    }
    /* Sorted by tag, so that the ready list's order does not matter. */
    for (int a = 1; a < r; a++) {
        for (int b = a; b > 0 && ev[b - 1].data.u32 > ev[b].data.u32; b--) {
            struct epoll_event x = ev[b];
            ev[b] = ev[b - 1];
            ev[b - 1] = x;
        }
    }
    char buf[LINE];
    size_t k = (size_t)snprintf(buf, sizeof(buf), "%d", r);
    for (int i = 0; i < r && k < sizeof(buf); i++) {
        uint32_t e = ev[i].events;
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, " s%u.%u:%s%s%s%s%s",
                              ev[i].data.u32 >> 8, ev[i].data.u32 & 0xff,
                              e & EPOLLIN ? "I" : "", e & EPOLLOUT ? "O" : "",
                              e & EPOLLHUP ? "H" : "", e & EPOLLERR ? "E" : "",
                              e & EPOLLRDHUP ? "R" : "");
    }
    res(j, "%s", buf);
}

static void op_time(int j, const struct fuzz_op *o)
{
    long us = o->a < 0 ? 0 : o->a;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000}, rem = {0, 0};
    int r;
    switch (o->kind) {
    case FUZZ_USLEEP:
        r = usleep((useconds_t)(us > 20000 ? 20000 : us));
        res_sys(j, r, errno);
        return;
    case FUZZ_NANOSLEEP:
        r = nanosleep(&ts, &rem);
        if (r < 0) {
            int err = errno;
            res(j, "-1 %s rem=%s", ename(err),
                rem.tv_sec > 0 || rem.tv_nsec > 0 ? "yes" : "no");
        } else {
            res(j, "0");
        }
        return;
    case FUZZ_CLOCKSLEEP:
        if (o->b) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            t.tv_sec += ts.tv_sec;
            t.tv_nsec += ts.tv_nsec;
            if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
            }
            r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        } else {
            r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem);
        }
        res(j, "%s%s", r == 0 ? "0" : ename(r),
            r == EINTR && !o->b && (rem.tv_sec > 0 || rem.tv_nsec > 0)
                ? " rem=yes"
                : "");
        return;
    case FUZZ_SLEEP0:
        res(j, "%u", sleep(0));
        return;
    case FUZZ_YIELD:
        res_sys(j, sched_yield(), errno);
        return;
    }
}

static void abstime(struct timespec *t, int ms)
{
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static void op_sync(int j, const struct fuzz_op *o)
{
    struct slot *sl = &slots[o->s];
    int t = o->t;
    bool mutex = sl->type == S_MUTEX;
    bool cond = sl->type == S_COND;
    struct timespec ts;
    int r;
    switch (o->kind) {
    case FUZZ_LOCK:
    case FUZZ_TRYLOCK:
    case FUZZ_TIMEDLOCK:
    case FUZZ_COND_LOCK:
        if ((o->kind == FUZZ_COND_LOCK ? !cond : !mutex) || sl->holder == t) {
            res(j, "skip");
            return;
        }
        if (o->kind == FUZZ_TRYLOCK) {
            r = pthread_mutex_trylock(&sl->m);
        } else if (o->kind == FUZZ_TIMEDLOCK) {
            abstime(&ts, FUZZ_LONG_MS);
            r = pthread_mutex_timedlock(&sl->m, &ts);
        } else {
            r = pthread_mutex_lock(&sl->m);
        }
        if (r == 0) {
            sl->holder = t;
        }
        res_err(j, r);
        return;
    case FUZZ_UNLOCK:
    case FUZZ_COND_UNLOCK:
        if ((o->kind == FUZZ_COND_UNLOCK ? !cond : !mutex) ||
            sl->holder != t) {
            res(j, "skip");
            return;
        }
        sl->holder = -1;
        res_err(j, pthread_mutex_unlock(&sl->m));
        return;
    case FUZZ_COND_WAIT:
    case FUZZ_COND_TIMEDWAIT:
        if (!cond || sl->holder != t) {
            res(j, "skip");
            return;
        }
        sl->holder = -1;
        if (o->kind == FUZZ_COND_WAIT) {
            r = pthread_cond_wait(&sl->c, &sl->m);
        } else {
            abstime(&ts, FUZZ_LONG_MS);
            r = pthread_cond_timedwait(&sl->c, &sl->m, &ts);
        }
        sl->holder = t;
        res_err(j, r);
        return;
    case FUZZ_COND_SIGNAL:
    case FUZZ_COND_BROADCAST:
        if (!cond) {
            res(j, "skip");
            return;
        }
        res_err(j, o->kind == FUZZ_COND_SIGNAL ? pthread_cond_signal(&sl->c)
                                               : pthread_cond_broadcast(&sl->c));
        return;
    default:
        break;
    }
    if (sl->type != S_SEM) {
        res(j, "skip");
        return;
    }
    switch (o->kind) {
    case FUZZ_SEM_POST:
        r = sem_post(&sl->sem);
        break;
    case FUZZ_SEM_WAIT:
        r = sem_wait(&sl->sem);
        break;
    case FUZZ_SEM_TRYWAIT:
        r = sem_trywait(&sl->sem);
        break;
    case FUZZ_SEM_TIMEDWAIT:
        abstime(&ts, FUZZ_LONG_MS);
        r = sem_timedwait(&sl->sem, &ts);
        break;
    default: {
        int v = -1;
        r = sem_getvalue(&sl->sem, &v);
        if (r == 0) {
            res(j, "0 %d", v);
            return;
        }
        break;
    }
    }
    res_sys(j, r, errno);
}

/* Waits up to 1 s for the handler count to pass `before`. */
static bool handled_after(int before)
{
    double end = now() + 1.0;
    while (__atomic_load_n(&handlers, __ATOMIC_RELAXED) <= before) {
        if (now() > end) {
            return false;
        }
        nap(200);
    }
    return true;
}

static void op_signal(int j, const struct fuzz_op *o)
{
    int before = __atomic_load_n(&handlers, __ATOMIC_RELAXED);
    int r;
    switch (o->kind) {
    case FUZZ_SIGACTION:
        install(o->a ? SIGALRM : SIGUSR1, o->b != 0);
        res(j, "0");
        return;
    case FUZZ_KILL_MAIN:
        r = pthread_kill(main_th, SIGUSR1);
        res(j, "%s %s", r == 0 ? "0" : ename(r),
            handled_after(before) ? "handled" : "not-handled");
        return;
    case FUZZ_KILL_THREAD: {
        int to = o->a % nthreads;
        r = pthread_kill(workers[to].th, SIGUSR1);
        res(j, "%s %s", r == 0 ? "0" : ename(r),
            handled_after(before) ? "handled" : "not-handled");
        return;
    }
    case FUZZ_ALARM: {
        long us = o->a < 1000 ? 1000 : o->a > 50000 ? 50000 : o->a;
        struct itimerval it = {{0, 0}, {0, us}};
        r = setitimer(ITIMER_REAL, &it, NULL);
        res(j, "%d %s", r, handled_after(before) ? "handled" : "not-handled");
        return;
    }
    case FUZZ_RAISE:
        if (o->t != 0) {
            res(j, "skip");
            return;
        }
        r = raise(SIGUSR1);
        res(j, "%d %s", r,
            __atomic_load_n(&handlers, __ATOMIC_RELAXED) > before
                ? "handled"
                : "not-handled");
        return;
    default:
        res(j, "%d", before);
        return;
    }
}

static void op_other(int j, const struct fuzz_op *o)
{
    int fd = fd_of(o->s, o->e);
    switch (o->kind) {
    case FUZZ_FORK:
    case FUZZ_FORK_WAIT: {
        if (fd < 0) {
            res(j, "skip");
            return;
        }
        pid_t pid = fork();
        if (pid == 0) {
            char c = 'k';
            if (o->kind == FUZZ_FORK) {
                ssize_t w = write(fd, "child", 5);
                _exit(w == 5 ? (o->a & 0x3f) : 99);
            }
            ssize_t r = read(fd, &c, 1);
            _exit(r == 1 ? (o->a & 0x3f) : 98);
        }
        if (pid < 0) {
            res_sys(j, -1, errno);
            return;
        }
        __atomic_store_n(&child[j], pid, __ATOMIC_RELEASE);
        int st = 0;
        pid_t w;
        while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
        }
        __atomic_store_n(&child[j], 0, __ATOMIC_RELEASE);
        if (w != pid) {
            res_sys(j, -1, errno);
        } else if (WIFEXITED(st)) {
            res(j, "exit %d", WEXITSTATUS(st));
        } else {
            res(j, "signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        }
        return;
    }
    case FUZZ_STDIO_WRITE:
    case FUZZ_STDIO_READ: {
        if (fd < 0) {
            res(j, "skip");
            return;
        }
        int d = dup(fd);
        FILE *f = d >= 0 ? fdopen(d, o->kind == FUZZ_STDIO_READ ? "r" : "w")
                         : NULL;
        if (f == NULL) {
            if (d >= 0) {
                close(d);
            }
            res_sys(j, -1, errno);
            return;
        }
        if (o->kind == FUZZ_STDIO_WRITE) {
            /* A line: what STDIO_READ's fgets waits for. */
            size_t n = clampn(o->a < BIG ? o->a : BIG - 1);
            unsigned char *p = pattern(j, n + 1);
            p[n] = '\n';
            size_t w = fwrite(p, 1, n + 1, f);
            int e = fflush(f);
            res(j, "%zu %d", w, e);
        } else {
            char line[256];
            char *g = fgets(line, sizeof(line), f);
            res(j, "%s %zu", g ? "line" : "null", g ? strlen(line) : 0);
        }
        fclose(f);
        return;
    }
    case FUZZ_TLS_SET:
        tls_value = o->a;
        res(j, "0");
        return;
    case FUZZ_TLS_GET:
        res(j, "%d", tls_value);
        return;
    case FUZZ_GETTID_SAME:
        res(j, "%s", gettid() == main_tid ? "main" : "other");
        return;
    case FUZZ_FLOCK:
    case FUZZ_FUNLOCK: {
        int lf = lock_fds[o->t];
        if (lf < 0) {
            res(j, "skip");
            return;
        }
        int r = flock(lf, o->kind == FUZZ_FLOCK ? LOCK_EX : LOCK_UN);
        res_sys(j, r, errno);
        return;
    }
    }
}

static void exec_op(int j)
{
    const struct fuzz_op *o = &prog[j];
    __atomic_store_n(&timed[j], may_block(o) && is_timed(o), __ATOMIC_RELAXED);
    __atomic_store_n(&started[j], 1, __ATOMIC_RELEASE);
    bump();
    switch (o->kind) {
    case FUZZ_MK_PIPE ... FUZZ_MK_SEM:
        op_make(j, o);
        break;
    case FUZZ_CONNECT:
        op_connect(j, o);
        break;
    case FUZZ_ACCEPT:
        op_accept(j, o);
        break;
    case FUZZ_READ ... FUZZ_SENDMSG:
    case FUZZ_ZREAD:
        op_data(j, o);
        break;
    case FUZZ_DRAIN:
        op_drain(j, o);
        break;
    case FUZZ_SETNB ... FUZZ_BADFD:
        op_fd(j, o);
        break;
    case FUZZ_POLL ... FUZZ_PSELECT:
        op_poll(j, o);
        break;
    case FUZZ_EPOLL_CTL:
    case FUZZ_EPOLL_WAIT:
        op_epoll(j, o);
        break;
    case FUZZ_USLEEP ... FUZZ_YIELD:
        op_time(j, o);
        break;
    case FUZZ_LOCK ... FUZZ_SEM_GETVALUE:
        op_sync(j, o);
        break;
    case FUZZ_SIGACTION ... FUZZ_SIGCOUNT:
    case FUZZ_KILL_THREAD:
        op_signal(j, o);
        break;
    default:
        op_other(j, o);
        break;
    }
    __atomic_store_n(&done[j], 1, __ATOMIC_RELEASE);
    bump();
}

/* The kernel's id of the OS thread, with the instruction itself: the
 * preload gives each green pthread a gettid() of its own, and the engine
 * needs the OS thread (/proc/self/task/TID/stat natively; one OS thread
 * for all under the preload). */
static pid_t kernel_tid(void)
{
#if defined(__x86_64__)
    long r;
    __asm__ __volatile__("syscall" : "=a"(r) : "a"((long)SYS_gettid)
                         : "rcx", "r11", "memory");
    return (pid_t)r;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_gettid;
    register long x0 __asm__("x0");
    __asm__ __volatile__("svc 0" : "=r"(x0) : "r"(x8) : "memory");
    return (pid_t)x0;
#else
    return gettid();
#endif
}

static void *worker_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct worker *w = &workers[t];
    w->tid = kernel_tid();
    sem_post(&ready);
    for (;;) {
        while (sem_wait(&w->go) != 0) {
        }
        int j = w->op;
        if (j < 0) {
            break;
        }
        exec_op(j);
    }
    return NULL;
}

/* ---- the coordinator --------------------------------------------------- */

static int outstanding[FUZZ_THREADS * 2];
static int nout;

/* Whether operation j has finished or blocked: see the file's top. */
static bool settled(int j)
{
    if (__atomic_load_n(&done[j], __ATOMIC_ACQUIRE)) {
        return true;
    }
    if (!__atomic_load_n(&started[j], __ATOMIC_ACQUIRE)) {
        return false;
    }
    bool s = true;
    if (green) {
        green_quiet(); /* parked, or done now */
    } else {
        s = asleep(&workers[prog[j].t]);
    }
    pid_t c = __atomic_load_n(&child[j], __ATOMIC_ACQUIRE);
    return s && (c <= 0 || child_quiet(c));
}

/* Waits until operation j is done, or (when it may block) blocked. */
static void wait_op(int j, bool block_ok)
{
    double end = now() + CAP_SECONDS;
    for (int i = 0;; i++) {
        if (__atomic_load_n(&done[j], __ATOMIC_ACQUIRE)) {
            return;
        }
        if (block_ok && settled(j)) {
            return;
        }
        if (now() > end) {
            stuck(j, block_ok ? "neither ended nor blocked" : "never ended");
        }
        nap(i < 50 ? 20 : 200);
    }
}

static void settle(void)
{
    for (int i = 0; i < nout; i++) {
        wait_op(outstanding[i], true);
    }
}

static void drop_outstanding(int j)
{
    for (int i = 0; i < nout; i++) {
        if (outstanding[i] == j) {
            outstanding[i] = outstanding[--nout];
            break;
        }
    }
    __atomic_store_n(&workers[prog[j].t].busy, -1, __ATOMIC_RELEASE);
}

/* Makes fd (s, e) readable: a byte (a line, for fgets) from its peer, if
 * the peer can take it now, or, for a socket without one, a shutdown of
 * its reading side. */
static void poke(int s, int e, bool line)
{
    int fd = fd_of(s, e);
    /* The peer even when (s, e) itself was closed under a waiting read
     * (closewait): natively that read goes on and gets the byte. */
    int peer = s >= 0 && s < FUZZ_SLOTS && is_fdobj(slots[s].type) &&
                       e >= 0 && e < FUZZ_ENDS
                   ? peer_fd(s, e)
                   : -1;
    if (peer >= 0) {
        struct pollfd p = {peer, POLLOUT, 0};
        size_t n = line ? 2 : 1;
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) &&
            write(peer, "R\n", n) == (ssize_t)n) {
            return;
        }
    }
    if (fd >= 0 && is_sock(slots[s].type)) {
        shutdown(fd, SHUT_RD);
    }
}

/* Ends a blocked operation that has no timeout. */
static void rescue(int j)
{
    const struct fuzz_op *o = &prog[j];
    struct slot *sl = &slots[o->s >= 0 && o->s < FUZZ_SLOTS ? o->s : 0];
    switch (o->kind) {
    case FUZZ_ACCEPT: {
        /* The connect the program did not make: its fd becomes the
         * slot's end 0, as if CONNECT had run (which then skips). */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            return;
        }
        connect(fd, (struct sockaddr *)&sl->addr, sizeof(sl->addr));
        struct slot *t = &slots[o->s2];
        if ((t->type == S_NONE || t->type == S_TCP) && t->fd[0] < 0) {
            if (t->type == S_NONE) {
                slot_init(t, S_TCP);
            }
            t->fd[0] = fd;
        } else if (nrescue < 64) {
            rescue_fds[nrescue++] = fd;
        } else {
            close(fd);
        }
        return;
    }
    case FUZZ_WRITE:
    case FUZZ_WRITEV:
    case FUZZ_SEND:
    case FUZZ_SENDTO:
    case FUZZ_SENDMSG:
    case FUZZ_STDIO_WRITE: {
        int peer = peer_fd(o->s, o->e);
        if (peer >= 0) {
            size_t total;
            uint32_t h;
            int err, eof;
            drain_fd(peer, is_sock(sl->type), FUZZ_THREADS, &total, &h,
                     &err, &eof);
        }
        return;
    }
    case FUZZ_SEM_WAIT:
        sem_post(&sl->sem);
        return;
    case FUZZ_COND_WAIT:
        pthread_cond_broadcast(&sl->c);
        return;
    case FUZZ_POLL:
    case FUZZ_PPOLL:
    case FUZZ_SELECT:
    case FUZZ_PSELECT: {
        int32_t v[3] = {o->a, o->b, o->c};
        for (int i = 0; i < 3; i++) {
            if (v[i] != 0 && (FUZZ_PFD_EV(v[i]) & POLLIN) &&
                fd_of(FUZZ_PFD_S(v[i]), FUZZ_PFD_E(v[i])) >= 0) {
                poke(FUZZ_PFD_S(v[i]), FUZZ_PFD_E(v[i]), false);
                return;
            }
        }
        return;
    }
    case FUZZ_EPOLL_WAIT:
        for (int i = 0; i < sl->nreg; i++) {
            int s2 = sl->reg[i] >> 8, e2 = sl->reg[i] & 0xff;
            if (fd_of(s2, e2) >= 0) {
                poke(s2, e2, false);
                return;
            }
        }
        return;
    default:
        if (wants_in(o->kind)) {
            /* fgets waits for a whole line */
            poke(o->s, o->e, o->kind == FUZZ_STDIO_READ);
        }
        return;
    }
}

/* What an operation may wait for, so that two of them never wait for the
 * same thing at once: which of two readers of one socket gets the next
 * byte, or which of two waiters one sem_post wakes, is up to the
 * scheduler, natively and green alike, so the engine finishes the first
 * before it lets the second start. */
enum { R_IN = 1, R_OUT = 2, R_SYNC = 4, R_ALL = 8 };

struct wait_res {
    int s, side, dir;
};

static int side_of(int s, int e)
{
    if (s < 0 || s >= FUZZ_SLOTS || e < 0 || e >= FUZZ_ENDS) {
        return 0;
    }
    return slots[s].desc[e];
}

static bool writes(int kind)
{
    return kind == FUZZ_WRITE || kind == FUZZ_WRITEV || kind == FUZZ_SEND ||
           kind == FUZZ_SENDTO || kind == FUZZ_SENDMSG ||
           kind == FUZZ_STDIO_WRITE;
}

static int wait_resources(const struct fuzz_op *o, struct wait_res *w)
{
    int32_t v[3] = {o->a, o->b, o->c};
    int n = 0;
    switch (o->kind) {
    case FUZZ_POLL:
    case FUZZ_PPOLL:
    case FUZZ_SELECT:
    case FUZZ_PSELECT:
        for (int i = 0; i < 3; i++) {
            if (v[i] == 0) {
                continue;
            }
            int s = FUZZ_PFD_S(v[i]), e = FUZZ_PFD_E(v[i]);
            int ev = FUZZ_PFD_EV(v[i]);
            w[n++] = (struct wait_res){s, side_of(s, e),
                                       (ev & POLLIN ? R_IN : 0) |
                                           (ev & POLLOUT ? R_OUT : 0)};
        }
        return n;
    case FUZZ_EPOLL_WAIT:
        w[n++] = (struct wait_res){-1, 0, R_ALL};
        return n;
    case FUZZ_LOCK:
    case FUZZ_TRYLOCK:
    case FUZZ_TIMEDLOCK:
    case FUZZ_COND_LOCK:
    case FUZZ_SEM_WAIT:
    case FUZZ_SEM_TIMEDWAIT:
        w[n++] = (struct wait_res){o->s, 0, R_SYNC};
        return n;
    case FUZZ_COND_WAIT:
    case FUZZ_COND_TIMEDWAIT:
        /* The condition, not its mutex: a waiter and a locker do not
         * compete for one wake-up. */
        w[n++] = (struct wait_res){o->s, 1, R_SYNC};
        return n;
    case FUZZ_FLOCK:
        w[n++] = (struct wait_res){-2, 0, R_SYNC};
        return n;
    default:
        if (wants_in(o->kind)) {
            w[n++] = (struct wait_res){o->s, side_of(o->s, o->e), R_IN};
        } else if (writes(o->kind)) {
            w[n++] = (struct wait_res){o->s, side_of(o->s, o->e), R_OUT};
        }
        return n;
    }
}

static bool conflicts(const struct fuzz_op *x, const struct fuzz_op *k)
{
    struct wait_res a[3], b[3];
    int na = wait_resources(x, a), nb = wait_resources(k, b);
    for (int i = 0; i < na; i++) {
        for (int j = 0; j < nb; j++) {
            if ((a[i].dir | b[j].dir) & R_ALL) {
                if ((a[i].dir | b[j].dir) & (R_IN | R_OUT | R_ALL) &&
                    !((a[i].dir | b[j].dir) & R_SYNC)) {
                    return true;
                }
                continue;
            }
            if (a[i].s == b[j].s && a[i].side == b[j].side &&
                (a[i].dir & b[j].dir)) {
                return true;
            }
        }
    }
    return false;
}

/* Whether k would see how full a buffer is that the blocked write x is
 * filling: how much a blocked writer has put in depends on how its
 * write was cut in pieces (libgreen writes a pipe PIPE_BUF at a time),
 * which is memory, not behaviour. Such an operation waits until x is
 * finished (a drain, which reads everything, does not). */
static bool sees_fill(const struct fuzz_op *x, const struct fuzz_op *k)
{
    if (!writes(x->kind) || k->s != x->s || k->kind == FUZZ_DRAIN) {
        return false;
    }
    int xs = side_of(x->s, x->e), ks = side_of(k->s, k->e);
    bool reads = (wants_in(k->kind) && k->kind != FUZZ_ACCEPT &&
                  k->kind != FUZZ_FORK_WAIT) ||
                 k->kind == FUZZ_FIONREAD;
    return (reads && ks != xs) || (writes(k->kind) && ks == xs);
}

/* The second rescue: shuts the input of the sockets the operation reads
 * (or polls for reading). */
static void rescue_hard(int j)
{
    const struct fuzz_op *o = &prog[j];
    int32_t v[3] = {o->a, o->b, o->c};
    switch (o->kind) {
    case FUZZ_POLL:
    case FUZZ_PPOLL:
    case FUZZ_SELECT:
    case FUZZ_PSELECT:
        for (int i = 0; i < 3; i++) {
            int s = FUZZ_PFD_S(v[i]), fd = fd_of(s, FUZZ_PFD_E(v[i]));
            if (v[i] != 0 && (FUZZ_PFD_EV(v[i]) & POLLIN) && fd >= 0 &&
                is_sock(slots[s].type)) {
                shutdown(fd, SHUT_RD);
            }
        }
        return;
    default:
        if (wants_in(o->kind) && fd_of(o->s, o->e) >= 0 &&
            is_sock(slots[o->s].type)) {
            shutdown(fd_of(o->s, o->e), SHUT_RD);
        }
        return;
    }
}

/* Waits for an outstanding operation to end: by its timeout, or after a
 * rescue. */
static void finish(int j)
{
    settle();
    if (!__atomic_load_n(&done[j], __ATOMIC_ACQUIRE) &&
        !__atomic_load_n(&timed[j], __ATOMIC_RELAXED)) {
        rescue(j);
        settle();
        /* A byte was not enough (MSG_WAITALL, or the byte went
         * elsewhere): end the sockets' input. */
        if (!__atomic_load_n(&done[j], __ATOMIC_ACQUIRE)) {
            rescue_hard(j);
            settle();
        }
    }
    bool was_timed = __atomic_load_n(&timed[j], __ATOMIC_RELAXED);
    wait_op(j, false);
    drop_outstanding(j);
    settle();
    /* Waiting out one timeout brought the others started near it close
     * to theirs: end them too, so that no later operation races one. */
    for (int i = 0; was_timed && i < nout;) {
        int x = outstanding[i];
        if (__atomic_load_n(&timed[x], __ATOMIC_RELAXED)) {
            wait_op(x, false);
            drop_outstanding(x);
            settle();
            i = 0;
        } else {
            i++;
        }
    }
}

static void *coordinator(void *arg)
{
    (void)arg;
    /* Under the preload every thread shares main's OS thread. */
    green = kernel_tid() == main_tid;
    for (int k = 0; k < nops; k++) {
        const struct fuzz_op *o = &prog[k];
        /* Windows that closed, and the thread this operation needs. */
        for (int i = 0; i < nout;) {
            int x = outstanding[i];
            if (k - x > WINDOW || prog[x].t == o->t ||
                (may_block(o) && conflicts(&prog[x], o)) ||
                sees_fill(&prog[x], o)) {
                finish(x);
                i = 0;
            } else {
                i++;
            }
        }
        struct worker *w = &workers[o->t];
        bool mb = may_block(o);
        w->op = k;
        sem_post(&w->go);
        wait_op(k, mb);
        if (!__atomic_load_n(&done[k], __ATOMIC_ACQUIRE)) {
            outstanding[nout++] = k;
            __atomic_store_n(&w->busy, k, __ATOMIC_RELEASE);
        }
        settle();
        flush_lines();
    }
    while (nout > 0) {
        finish(outstanding[0]);
    }
    flush_lines();
    for (int t = 0; t < nthreads; t++) {
        workers[t].op = -1;
        sem_post(&workers[t].go);
    }
    return NULL;
}

static void cleanup_tmp(void)
{
    if (tmpdir[0] == '\0') {
        return;
    }
    char path[96];
    for (int s = 0; s < FUZZ_SLOTS; s++) {
        snprintf(path, sizeof(path), "%s/fifo%d", tmpdir, s);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/lock", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

int fuzz_run(const struct fuzz_op *ops, int n, int threads, unsigned flags)
{
    prog = ops;
    nops = n;
    nthreads = threads < 1 ? 1 : threads > FUZZ_THREADS ? FUZZ_THREADS
                                                         : threads;
    run_flags = flags;
    lines = calloc((size_t)n + 1, LINE);
    started = calloc((size_t)n + 1, sizeof(int));
    done = calloc((size_t)n + 1, sizeof(int));
    timed = calloc((size_t)n + 1, sizeof(int));
    child = calloc((size_t)n + 1, sizeof(int));
    if (lines == NULL || started == NULL || done == NULL || timed == NULL ||
        child == NULL) {
        fprintf(stderr, "fuzz: out of memory\n");
        return 2;
    }
    for (int s = 0; s < FUZZ_SLOTS; s++) {
        slot_init(&slots[s], S_NONE);
    }
    snprintf(tmpdir, sizeof(tmpdir), "%s/fuzz.XXXXXX",
             getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 40
                 ? getenv("TMPDIR")
                 : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        tmpdir[0] = '\0';
    }
    signal(SIGPIPE, SIG_IGN);
    install(SIGUSR1, true);
    install(SIGALRM, true);
    if (flags & FUZZ_F(FLOCK)) {
        char path[96];
        snprintf(path, sizeof(path), "%s/lock", tmpdir);
        for (int t = 0; t < nthreads; t++) {
            lock_fds[t] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        }
    }
    main_th = pthread_self();
    main_tid = kernel_tid();
    workers[0].th = main_th;
    workers[0].tid = main_tid;
    for (int t = 0; t < FUZZ_THREADS; t++) {
        sem_init(&workers[t].go, 0, 0);
        workers[t].busy = -1;
        workers[t].stat_fd = -1;
    }
    sem_init(&ready, 0, 0);

    /* The other threads start with the signals blocked: natively, they
     * go to main (with KILLTHREAD, SIGUSR1 may reach the workers). */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    if (!(flags & FUZZ_F(KILLTHREAD))) {
        sigaddset(&block, SIGUSR1);
    }
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int t = 1; t < nthreads; t++) {
        pthread_create(&workers[t].th, NULL, worker_main,
                       (void *)(intptr_t)t);
    }
    for (int t = 1; t < nthreads; t++) {
        while (sem_wait(&ready) != 0) {
        }
    }
    for (int t = 0; t < nthreads; t++) {
        open_stat(&workers[t]);
    }
    pthread_t coord;
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_create(&coord, NULL, coordinator, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    worker_main((void *)0);
    pthread_join(coord, NULL);
    for (int t = 1; t < nthreads; t++) {
        pthread_join(workers[t].th, NULL);
    }
    say("end handlers=%d\n", __atomic_load_n(&handlers, __ATOMIC_RELAXED));
    for (int i = 0; i < nrescue; i++) {
        close(rescue_fds[i]);
    }
    for (int t = 0; t < nthreads; t++) {
        if (workers[t].stat_fd >= 0) {
            close(workers[t].stat_fd);
        }
    }
    cleanup_tmp();
    return 0;
}
