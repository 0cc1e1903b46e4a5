/* SPDX-License-Identifier: MIT */
/* The watchdog: gevent's monitor thread. lib/monitor.c measures how long
 * a greenlet ran when it parks, which says nothing about one that never
 * parks again (a raw `syscall` instruction, a path the patch does not
 * reach, a block before the hub's first turn). The watchdog is a native
 * OS thread of the runtime's own (green-watchdog, lib/workers.h) that
 * looks at every watched OS thread every half GREEN_MAX_BLOCKING_MS and
 * reports the one whose hub has not turned for the whole limit, while it
 * is still stuck: the green thread, what the OS thread is doing (the
 * system call, from /proc/self/task/TID/syscall) and a symbolised
 * backtrace, once per episode, through lib/log.c.
 *
 * The hot path pays one store per hub turn and per park (the beat,
 * watchdog.h); everything else happens on the watchdog's side.
 *
 * The backtrace. Two ways, the better one where it is safe:
 *  - A probe signal: tgkill to the stuck thread, whose handler records
 *    backtrace() and the interrupted pc into one buffer, then wakes the
 *    watchdog (a futex); the watchdog symbolises (dladdr). Signal delivery
 *    ends a blocking system call, so the probe goes only where the call
 *    comes back by itself: the handler has SA_RESTART, and only calls the
 *    kernel restarts under it are probed (read/write families on anything
 *    but a socket, whose SO_RCVTIMEO would make them EINTR; wait4/waitid;
 *    flock; fcntl; open; futex waits without a timeout), or a thread that
 *    is computing (in no system call). Never poll, sleeps, epoll_wait,
 *    sigwaitinfo and the rest, which end with EINTR whatever the flags say.
 *    Nor a thread that blocks the signal (SigBlk in /proc): it would stay
 *    pending, or be taken by the thread's own sigwait.
 *  - Otherwise a stack scan: the pc from /proc is exact; above the stack
 *    pointer, words that point just past a call instruction in executable
 *    code are listed as callers. Stale frames may show; the report says
 *    it was scanned.
 *
 * The signal: SIGRTMIN + 14 (48 with glibc, whose SIGRTMIN is 34: 32 and
 * 33 are its own), the middle of the real-time range, where programs
 * rarely go (they count up from SIGRTMIN or down from SIGRTMAX); if it
 * already has a handler or is ignored when first needed, the next three
 * below it are tried, and with none free only scans are made. It is
 * installed the first time a probe is needed, not before, with
 * SA_RESTART | SA_ONSTACK (a signal frame is too big for a small green
 * stack; lib/stack.c gives threads with greenlets a sigaltstack), and is
 * checked to be still ours before every probe: a program that takes it
 * over (or resets every signal) keeps it, and only scans are made. The
 * handler answers only a tgkill from this process for the thread asked.
 *
 * A record whose thread has no runtime state yet (the main thread from
 * the preload's start, green__watchdog_early) has no greenlet to starve:
 * until its first green call the preload lets its blocking calls block
 * the OS thread, as natively (preload/preload.h). It is reported only
 * while blocked in a system call made outside libc and libgreen (a raw
 * `syscall` instruction of the program's or of another library), which
 * will stop every green thread once there are some. The watchdog ends when no record is left (and is made again
 * by the next one), so it never keeps a process alive; a forked child
 * has none until its next park or hub turn makes it again.
 *
 * Locking: one real mutex over the records, held by the watchdog while it
 * looks (a probe waits at most 50 ms), taken by a thread to be watched or
 * forgotten. Reports are logged after it is released. */
#include "watchdog.h"
#include "handoff.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "green_config.h"
#include "internal.h"

#if GREEN_HAVE_VALGRIND
# include <valgrind/valgrind.h>
#else
# define RUNNING_ON_VALGRIND 0
#endif
#include "log.h"
#include "monitor.h"
#include "rawsys.h"
#include "real.h"
#include "workers.h"

#define MAX_FRAMES 32
#define PROBE_WAIT_NS 50000000L /* 50 ms */
#define SCAN_BYTES 16384
#define HANDOFF_RETRY 0.1 /* seconds between tries while a hub is stuck */

int green__watchdog_down;

static struct {
    pthread_mutex_t lock;
    struct green__watch *head;
    bool running;
    double limit;              /* seconds, > 0 */
    int fork_tid;              /* the forking thread, between prepare and
                                  child */
    long retry_at;             /* coarse ms: the next start after one that
                                  failed */
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* t->watch when no record could be had: beaten by anyone, read by none. */
static struct green__watch unwatched;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int gettid_raw(void)
{
    return (int)green__syscall(SYS_gettid);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the probe ------------------------------------------------------------ */

/* One at a time: the watchdog's. tid says whose handler may answer. */
static struct {
    int tid;
    int state; /* 0 asked, 2 the handler answers, 1 answered, 3 given up */
    int mode;  /* what the handler does: PROBE_TRACE or PROBE_HANDOFF */
    int n;
    void *pc;
    void *frames[MAX_FRAMES];
} probe;

static int probe_sig; /* 0: not installed yet; -1: none could be had */

static void *context_pc(void *ucv)
{
    ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (void *)uc->uc_mcontext.pc;
#else
    (void)uc;
    return NULL;
#endif
}

/* Async-signal-safe: raw system calls, backtrace() (its unwinder loaded
 * beforehand by the watchdog's own first call), errno kept. */
enum { PROBE_TRACE, PROBE_HANDOFF };

/* The handler claims the probe (0 -> 2) before it answers, and the
 * watchdog gives up on it (0 -> 3) when it waited long enough: a late
 * handler then does nothing, which a hand-off's mark needs (a thread
 * marked away with no spare ordered would wait for ever). */
static void on_probe(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    int e = errno;
    int asked = 0;
    if (si->si_code == SI_TKILL && si->si_pid == green__syscall(SYS_getpid) &&
        __atomic_load_n(&probe.tid, __ATOMIC_ACQUIRE) == gettid_raw() &&
        __atomic_compare_exchange_n(&probe.state, &asked, 2, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        if (probe.mode == PROBE_HANDOFF) {
            probe.n = green__handoff_freeze(ucv) ? 1 : 0;
        } else {
            probe.pc = context_pc(ucv);
            probe.n = backtrace(probe.frames, MAX_FRAMES);
        }
        __atomic_store_n(&probe.state, 1, __ATOMIC_RELEASE);
        green__syscall(SYS_futex, &probe.state, FUTEX_WAKE_PRIVATE, 1);
    }
    errno = e;
}

static bool is_ours(int sig)
{
    struct sigaction cur;
    return GREEN_REAL(sigaction)(sig, NULL, &cur) == 0 &&
           (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_probe;
}

/* The probe signal, installed on first use; -1 if none is free or the
 * program took ours. */
static int probe_signal(void)
{
    if (probe_sig != 0) {
        return probe_sig > 0 && is_ours(probe_sig) ? probe_sig : -1;
    }
    probe_sig = -1;
    for (int s = SIGRTMIN + 14; s > SIGRTMIN + 10 && s <= SIGRTMAX; s--) {
        struct sigaction cur;
        if (GREEN_REAL(sigaction)(s, NULL, &cur) != 0 ||
            (cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL) {
            continue; /* somebody's */
        }
        struct sigaction a;
        memset(&a, 0, sizeof(a));
        a.sa_sigaction = on_probe;
        a.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigfillset(&a.sa_mask);
        if (GREEN_REAL(sigaction)(s, &a, NULL) == 0) {
            probe_sig = s;
            break;
        }
    }
    return probe_sig;
}

/* Asks tid for its backtrace. Returns the frame count (0: no answer in
 * time), with frames from the interrupted pc on. */
/* Sends tid the probe in mode; returns the handler's probe.n, or 0 if no
 * handler answered in time (and none will now). */
static int probe_ask(int tid, int sig, int mode)
{
    __atomic_store_n(&probe.state, 0, __ATOMIC_RELAXED);
    probe.n = 0;
    probe.mode = mode;
    __atomic_store_n(&probe.tid, tid, __ATOMIC_RELEASE);
    int n = 0;
    if (green__syscall(SYS_tgkill, green__syscall(SYS_getpid), tid, sig) ==
        0) {
        double until = mono_now() + PROBE_WAIT_NS / 1e9;
        for (;;) {
            int st = __atomic_load_n(&probe.state, __ATOMIC_ACQUIRE);
            if (st == 1) {
                n = probe.n;
                break;
            }
            double left = until - mono_now();
            int asked = 0;
            if (left <= 0 && st == 0 &&
                __atomic_compare_exchange_n(&probe.state, &asked, 3, false,
                                            __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                break; /* given up: a late handler does nothing */
            }
            struct timespec ts = {0, left > 0 ? (long)(left * 1e9) : 1000000L};
            green__syscall(SYS_futex, &probe.state, FUTEX_WAIT_PRIVATE, st,
                           &ts);
        }
    }
    __atomic_store_n(&probe.tid, 0, __ATOMIC_RELEASE);
    return n;
}

static int ask(int tid, int sig, void **frames)
{
    int n = probe_ask(tid, sig, PROBE_TRACE);
    if (n <= 0) {
        return 0;
    }
    /* Skip the handler and the signal trampoline: start at the pc. */
    int first = n > 2 ? 2 : 0;
    for (int i = 0; i < n; i++) {
        if (probe.frames[i] == probe.pc) {
            first = i;
            break;
        }
    }
    int k = 0;
    for (int i = first; i < n; i++) {
        frames[k++] = probe.frames[i];
    }
    return k;
}

/* --- /proc ------------------------------------------------------------------ */

/* Reads a small /proc file whole with raw calls (the core never goes
 * through its own interposers). Returns the length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
    long fd = green__syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t off = 0;
    while (off + 1 < len) {
        long r = green__syscall(SYS_read, fd, buf + off, len - 1 - off);
        if (r <= 0) {
            break;
        }
        off += (size_t)r;
    }
    green__syscall(SYS_close, fd);
    buf[off] = '\0';
    return (ssize_t)off;
}

/* What /proc/self/task/TID/syscall says. */
struct sysinfo_ {
    bool gone;      /* no such thread */
    bool running;   /* on a CPU, in user space */
    bool in_call;   /* blocked in system call nr */
    long nr;
    unsigned long args[6];
    uintptr_t sp, pc;
    bool have_sp;
};

static void read_syscall(int tid, struct sysinfo_ *s)
{
    char path[64], text[256];
    memset(s, 0, sizeof(*s));
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
    if (read_file(path, text, sizeof(text)) <= 0) {
        s->gone = true;
        return;
    }
    if (strncmp(text, "running", 7) == 0) {
        s->running = true;
        return;
    }
    char *p = text, *end;
    s->nr = strtol(p, &end, 10);
    if (end == p) {
        return;
    }
    p = end;
    unsigned long v[8];
    int n = 0;
    while (n < 8) {
        unsigned long x = strtoul(p, &end, 16);
        if (end == p) {
            break;
        }
        v[n++] = x;
        p = end;
    }
    if (s->nr >= 0 && n == 8) {
        s->in_call = true;
        memcpy(s->args, v, sizeof(s->args));
        s->sp = v[6];
        s->pc = v[7];
        s->have_sp = true;
    } else if (s->nr < 0 && n == 2) {
        s->sp = v[0];
        s->pc = v[1];
        s->have_sp = true;
    }
}

/* The thread's state letter from /proc (R, S, D, Z...), or 0. */
static char thread_state(int tid)
{
    char path[64], text[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
    if (read_file(path, text, sizeof(text)) <= 0) {
        return 0;
    }
    const char *p = strrchr(text, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* tid's signal mask (SigBlk in /proc) into *mask; false if unknown. */
static bool sig_blocked(int tid, uint64_t *mask)
{
    char path[64], text[2048];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
    if (read_file(path, text, sizeof(text)) <= 0) {
        return false;
    }
    const char *p = strstr(text, "\nSigBlk:");
    if (p == NULL) {
        return false;
    }
    *mask = strtoull(p + 8, NULL, 16);
    return true;
}

/* Whether tid blocks sig (unknown counts as blocked). */
static bool blocks(int tid, int sig)
{
    uint64_t m;
    return !sig_blocked(tid, &m) || ((m >> (sig - 1)) & 1);
}

/* --- which calls a probe may interrupt -------------------------------------- */

static bool is_socket(int fd)
{
    struct stat st;
    return green__syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH) != 0 ||
           S_ISSOCK(st.st_mode);
}

/* Whether the kernel restarts call s->nr after a handler with SA_RESTART
 * (it returns -ERESTARTSYS), so a probe leaves it alone. */
static bool restarts(const struct sysinfo_ *s)
{
    switch (s->nr) {
    case SYS_read:
    case SYS_readv:
    case SYS_pread64:
    case SYS_preadv:
    case SYS_preadv2:
    case SYS_write:
    case SYS_writev:
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_pwritev2:
        return !is_socket((int)s->args[0]); /* SO_RCVTIMEO: EINTR */
    case SYS_wait4:
    case SYS_waitid:
    case SYS_flock:
    case SYS_fcntl:
#ifdef SYS_open
    case SYS_open:
#endif
    case SYS_openat:
        return true;
    case SYS_futex: {
        int op = (int)s->args[1] & FUTEX_CMD_MASK;
        /* A timed wait restarts through a restart block, which a handler
         * turns into EINTR. */
        return (op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET) &&
               s->args[3] == 0;
    }
    default:
        return false;
    }
}

static const char *syscall_name(long nr)
{
    static const struct {
        long nr;
        const char *name;
    } names[] = {
        {SYS_read, "read"}, {SYS_write, "write"}, {SYS_readv, "readv"},
        {SYS_writev, "writev"}, {SYS_pread64, "pread64"},
        {SYS_pwrite64, "pwrite64"}, {SYS_preadv, "preadv"},
        {SYS_preadv2, "preadv2"}, {SYS_openat, "openat"},
        {SYS_nanosleep, "nanosleep"}, {SYS_clock_nanosleep, "clock_nanosleep"},
        {SYS_futex, "futex"}, {SYS_ppoll, "ppoll"}, {SYS_pselect6, "pselect6"},
        {SYS_epoll_pwait, "epoll_pwait"}, {SYS_wait4, "wait4"},
        {SYS_waitid, "waitid"}, {SYS_flock, "flock"}, {SYS_fcntl, "fcntl"},
        {SYS_accept4, "accept4"}, {SYS_accept, "accept"},
        {SYS_connect, "connect"}, {SYS_recvfrom, "recvfrom"},
        {SYS_recvmsg, "recvmsg"}, {SYS_sendto, "sendto"},
        {SYS_sendmsg, "sendmsg"}, {SYS_rt_sigtimedwait, "rt_sigtimedwait"},
        {SYS_rt_sigsuspend, "rt_sigsuspend"}, {SYS_io_getevents, "io_getevents"},
        {SYS_io_uring_enter, "io_uring_enter"}, {SYS_semtimedop, "semtimedop"},
        {SYS_msgrcv, "msgrcv"}, {SYS_ioctl, "ioctl"}, {SYS_fsync, "fsync"},
        {SYS_fdatasync, "fdatasync"},
#ifdef SYS_open
        {SYS_open, "open"},
#endif
#ifdef SYS_poll
        {SYS_poll, "poll"},
#endif
#ifdef SYS_select
        {SYS_select, "select"},
#endif
#ifdef SYS_epoll_wait
        {SYS_epoll_wait, "epoll_wait"},
#endif
#ifdef SYS_pause
        {SYS_pause, "pause"},
#endif
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].nr == nr) {
            return names[i].name;
        }
    }
    return NULL;
}

/* --- the stack scan ----------------------------------------------------------- */

struct range {
    uintptr_t lo, hi;
};

/* The readable executable mappings, and the one holding sp. */
static int code_ranges(struct range *code, int max, uintptr_t sp,
                       struct range *stack)
{
    /* mmap, not malloc: the watchdog keeps out of the program's
     * allocator (see warm_unwinder). */
    size_t cap = 1 << 16;
    char *text = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int n = 0;
    stack->lo = stack->hi = 0;
    if (text == MAP_FAILED) {
        return 0;
    }
    for (;;) {
        ssize_t len = read_file("/proc/self/maps", text, cap);
        if (len < 0) {
            munmap(text, cap);
            return 0;
        }
        if ((size_t)len + 1 < cap || cap >= ((size_t)16 << 20)) {
            break;
        }
        char *bigger = mremap(text, cap, cap * 4, MREMAP_MAYMOVE);
        if (bigger == MAP_FAILED) {
            break;
        }
        text = bigger;
        cap *= 4;
    }
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        char *p;
        uintptr_t lo = strtoul(line, &p, 16);
        uintptr_t hi = *p == '-' ? strtoul(p + 1, &p, 16) : 0;
        if (hi > lo && *p == ' ') {
            if (p[1] == 'r' && p[3] == 'x' && n < max) {
                code[n].lo = lo;
                code[n].hi = hi;
                n++;
            }
            if (p[1] == 'r' && sp >= lo && sp < hi) {
                stack->lo = lo;
                stack->hi = hi;
            }
        }
        line = next;
    }
    munmap(text, cap);
    return n;
}

/* Whether a looks like a return address: just past a call instruction in
 * one of the code ranges. */
static bool return_address(uintptr_t a, const struct range *code, int n)
{
    for (int i = 0; i < n; i++) {
        if (a < code[i].lo + 8 || a >= code[i].hi) {
            continue;
        }
        const unsigned char *c = (const unsigned char *)a;
#if defined(__x86_64__)
        /* call rel32; call r/m64 (FF /2) in its 2 to 7 byte forms. */
        if (c[-5] == 0xe8) {
            return true;
        }
        for (int len = 2; len <= 7; len++) {
            if (c[-len] == 0xff && (c[-len + 1] & 0x38) == 0x10) {
                return true;
            }
        }
        return false;
#elif defined(__aarch64__)
        uint32_t insn;
        memcpy(&insn, c - 4, 4);
        return (insn & 0xfc000000u) == 0x94000000u ||   /* bl */
               (insn & 0xfffffc1fu) == 0xd63f0000u;     /* blr */
#else
        (void)c;
        return true;
#endif
    }
    return false;
}

/* frames[0] = pc, then what the scan of the stack above sp finds. It
 * reads another thread's stack word by word, redzones included: not
 * AddressSanitizer's to check. */
__attribute__((no_sanitize_address)) static int scan(uintptr_t sp,
                                                     uintptr_t pc,
                                                     void **frames)
{
    struct range code[512], stack;
    int k = 0;
    frames[k++] = (void *)pc;
    if (RUNNING_ON_VALGRIND) {
        return k; /* another thread's stack is not ours to read there */
    }
    int nc = code_ranges(code, 512, sp, &stack);
    if (nc == 0 || stack.hi == 0) {
        return k;
    }
    uintptr_t end = stack.hi;
    if (end - sp > SCAN_BYTES) {
        end = sp + SCAN_BYTES;
    }
    for (uintptr_t p = (sp + 7) & ~(uintptr_t)7; p + 8 <= end && k < MAX_FRAMES;
         p += 8) {
        uintptr_t w = *(const uintptr_t *)p;
        if (w != pc && return_address(w, code, nc)) {
            frames[k++] = (void *)w;
        }
    }
    return k;
}

/* --- symbols ------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* The program's own name, for the main map, which dladdr leaves nameless. */
static const char *program_name(void)
{
    static char name[256];
    if (name[0] == '\0') {
        long n = green__syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe",
                                name, sizeof(name) - 1);
        if (n <= 0) {
            strcpy(name, "program");
        } else {
            name[n] = '\0';
        }
    }
    return base_name(name);
}

/* "fn+0x1d (object)" or "object+0x1234"; exact: addr is a pc, not a
 * return address (which is looked up one byte back, inside the call). */
static int frame_text(char *buf, size_t len, void *addr, bool exact)
{
    Dl_info di;
    const char *look = (const char *)addr - (exact ? 0 : 1);
    if (dladdr(look, &di) == 0 || di.dli_fname == NULL) {
        return snprintf(buf, len, "%p", addr);
    }
    const char *obj = di.dli_fname[0] != '\0' ? base_name(di.dli_fname)
                                              : program_name();
    if (di.dli_sname != NULL && di.dli_saddr != NULL) {
        return snprintf(buf, len, "%s+0x%lx (%s)", di.dli_sname,
                        (unsigned long)((char *)addr - (char *)di.dli_saddr),
                        obj);
    }
    return snprintf(buf, len, "%s+0x%lx", obj,
                    (unsigned long)((char *)addr - (char *)di.dli_fbase));
}

/* Whether pc, where a thread blocks, is outside libc and libgreen: a
 * system call instruction of the program's or another library's own,
 * which no interposer can ever reach. */
static bool beyond_patch(uintptr_t pc)
{
    Dl_info at, libc, self;
    if (dladdr((void *)(pc - 1), &at) == 0) {
        return true;
    }
    return !(dladdr((void *)GREEN_REAL(read), &libc) != 0 &&
             at.dli_fbase == libc.dli_fbase) &&
           !(dladdr((void *)green__watchdog_early, &self) != 0 &&
             at.dli_fbase == self.dli_fbase);
}

/* --- the hand-off (lib/handoff.c) --------------------------------------------- */

/* w's hub has not turned for GREEN_HANDOFF_MS: hands it to a spare if its
 * green thread computes or waits in a call a probe leaves alone, and the
 * freeze finds it outside libgreen. Under the lock. */
static bool try_handoff(struct green__watch *w, double now)
{
    if (now < w->handoff_retry) {
        return false;
    }
    w->handoff_retry = now + HANDOFF_RETRY;
    struct sysinfo_ s;
    read_syscall(w->tid, &s);
    uint64_t mask;
    int sig;
    const char *why = NULL;
    if (s.gone) {
        return false;
    } else if (!(s.running || (s.in_call && restarts(&s)))) {
        why = "in a call a signal would end";
    } else if ((sig = probe_signal()) <= 0) {
        why = "no probe signal: the program took it";
    } else if (!sig_blocked(w->tid, &mask) || ((mask >> (sig - 1)) & 1)) {
        why = "it blocks the probe signal";
    }
    if (why != NULL) {
        green__log(GREEN_LOG_DEBUG, "hand-off of OS thread %d's hub: not "
                   "now (%s)", w->tid, why);
        return false;
    }
    struct green__host *h = green__handoff_reserve(w->t);
    if (h == NULL) {
        green__log(GREEN_LOG_DEBUG, "hand-off of OS thread %d's hub: not "
                   "now (%s)", w->tid, green__handoff_spares() == 0
                                          ? "no spare OS thread"
                                          : "its running greenlet may not "
                                            "be handed off");
        return false;
    }
    if (probe_ask(w->tid, sig, PROBE_HANDOFF) != 1) {
        green__handoff_unreserve(h);
        uintptr_t at;
        const char *why = green__handoff_why(&at);
        green__log(GREEN_LOG_DEBUG, "hand-off of OS thread %d's hub: not "
                   "now (%s; libgreen+0x%lx)", w->tid, why,
                   (unsigned long)at);
        return false;
    }
    green__handoff_commit(w, h, mask);
    return true;
}

/* --- looking ------------------------------------------------------------------- */

enum { KEEP, REPORT, DROP };

/* Looks at a record whose beat b has not moved for `stuck` seconds: fills
 * msg with the report and returns REPORT, or KEEP (nothing to say now),
 * or DROP (its thread is gone). Under the lock. */
static int inspect(struct green__watch *w, unsigned long b, double stuck,
                   char *msg, size_t len)
{
    struct sysinfo_ s;
    read_syscall(w->tid, &s);
    if (w->t == NULL) {
        char st = thread_state(w->tid);
        if (s.gone || st == 0 || st == 'Z' || st == 'X') {
            return DROP;
        }
        if (!s.in_call || !beyond_patch(s.pc)) {
            return KEEP; /* nothing green to starve yet (see above) */
        }
    }
    if (s.gone) {
        return KEEP; /* its record goes when its exit says so */
    }
    char what[96];
    if (s.running) {
        snprintf(what, sizeof(what), "computing, in no system call");
    } else if (s.in_call) {
        const char *name = syscall_name(s.nr);
        if (name != NULL) {
            snprintf(what, sizeof(what), "blocked in the system call %s "
                     "(%ld), which the patch did not reach", name, s.nr);
        } else {
            snprintf(what, sizeof(what), "blocked in system call %ld, "
                     "which the patch did not reach", s.nr);
        }
    } else {
        snprintf(what, sizeof(what), "blocked in the kernel");
    }

    void *frames[MAX_FRAMES];
    int n = 0;
    bool scanned = false;
    int sig;
    if ((s.running || (s.in_call && restarts(&s))) &&
        (sig = probe_signal()) > 0 && !blocks(w->tid, sig)) {
        n = ask(w->tid, sig, frames);
    }
    if (n == 0 && s.have_sp) {
        n = scan(s.sp, s.pc, frames);
        scanned = true;
    }
    if (__atomic_load_n(&w->beat, __ATOMIC_RELAXED) != b) {
        return KEEP; /* it moved on meanwhile: the park will tell */
    }

    char who[128], a[80];
    if (w->t != NULL) {
        const struct greenlet *g = __atomic_load_n(&w->t->current,
                                                   __ATOMIC_RELAXED);
        snprintf(who, sizeof(who), "greenlet %s on OS thread %d",
                 g != NULL ? green__greenlet_label(g, a, sizeof(a)) : "?",
                 w->tid);
    } else {
        snprintf(who, sizeof(who), "the main thread, OS thread %d, before "
                 "its first green call,", w->tid);
    }
    int off = snprintf(msg, len, "%s has kept the hub from running for "
                       "%.0f ms and still does (GREEN_MAX_BLOCKING_MS=%.0f): "
                       "%s; ", who, stuck * 1e3, wd.limit * 1e3, what);
    if (off < 0 || (size_t)off >= len) {
        return REPORT;
    }
    if (n == 0) {
        snprintf(msg + off, len - (size_t)off, "no backtrace");
        return REPORT;
    }
    off += snprintf(msg + off, len - (size_t)off, "%s: ",
                    scanned ? "backtrace (scanned from the stack: may list "
                              "stale frames)"
                            : "backtrace");
    for (int i = 0; i < n && (size_t)off < len; i++) {
        char f[256];
        frame_text(f, sizeof(f), frames[i], i == 0);
        off += snprintf(msg + off, len - (size_t)off, "%s%s",
                        i > 0 ? " <- " : "", f);
    }
    return REPORT;
}

/* backtrace() loads its unwinder (dlopen of libgcc_s, which mallocs) on
 * first use: done once, before a probe's handler needs it. Under the
 * preload the constructor does it, while the process has one thread: the
 * watchdog itself must not, for a native thread that mallocs under the
 * preload can meet the program's allocator locks in green hands. */
static int unwinder_warm;

static void warm_unwinder(void)
{
    if (!__atomic_exchange_n(&unwinder_warm, 1, __ATOMIC_ACQ_REL)) {
        void *warm[4];
        backtrace(warm, 4);
    }
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    warm_unwinder(); /* a program that only links libgreen: no preload */
    char msg[1100];
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    double after = green__handoff_after();
    int idle = 0; /* looks in a row that found every hub in its poll */
    for (;;) {
        double limit = wd.limit;
        GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
        double period = (after > 0 && after < limit ? after : limit) / 2;
        if (after > 0 && idle >= 10) {
            /* Hubs waiting in their poll have nothing to hand off: look
             * as often as the monitor alone would, at most every 50 ms. */
            period = limit / 2 < 0.05 ? limit / 2 : 0.05;
        }
        period = period < 0.002 ? 0.002 : period > 1.0 ? 1.0 : period;
        struct timespec ts = {(time_t)period,
                              (long)((period - (double)(time_t)period) * 1e9)};
        GREEN_REAL(nanosleep)(&ts, NULL);
        GREEN_REAL(pthread_mutex_lock)(&wd.lock);
        if (wd.head == NULL) {
            break;
        }
        double now = mono_now();
        bool said = false, polling = true;
        for (struct green__watch **pp = &wd.head; *pp != NULL;) {
            struct green__watch *w = *pp;
            unsigned long b = __atomic_load_n(&w->beat, __ATOMIC_RELAXED);
            polling &= (b & 1) != 0 || w->t == NULL;
            if (b != w->seen || (b & 1) || w->seen_at == 0) {
                w->seen = b;
                w->seen_at = now;
            } else if (after > 0 && w->t != NULL &&
                       now - w->seen_at >= after && try_handoff(w, now)) {
                w->seen_at = 0; /* a new host: its own beat from here */
            } else if (!said && now - w->seen_at >= wd.limit &&
                       __atomic_load_n(&w->claimed, __ATOMIC_RELAXED) != b) {
                int r = inspect(w, b, now - w->seen_at, msg, sizeof(msg));
                if (r == DROP) {
                    *pp = w->next;
                    free(w);
                    continue;
                }
                said = r == REPORT && green__watchdog_claim(w, b);
            }
            pp = &w->next;
        }
        idle = polling ? idle + 1 : 0;
        if (said) {
            GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
            green__log(GREEN_LOG_WARNING, "%s", msg);
            GREEN_REAL(pthread_mutex_lock)(&wd.lock);
        }
    }
    wd.running = false;
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
    __atomic_fetch_sub(&green__own_threads, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* --- records -------------------------------------------------------------------- */

static void fork_prepare(void)
{
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    wd.fork_tid = gettid_raw();
}

static void fork_parent(void)
{
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

static void fork_child(void)
{
    wd.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    int self = gettid_raw();
    for (struct green__watch **pp = &wd.head; *pp != NULL;) {
        struct green__watch *w = *pp;
        if (w->tid == wd.fork_tid) {
            w->tid = self;
            w->seen_at = 0;
            if (w->t != NULL) {
                /* The parent's stamp would measure its own spell (say, a
                 * wait in a call the patch did not reach, which the
                 * watchdog told) as the child's first: nothing stamped
                 * yet. */
                w->t->stamp = 0.0;
            }
            pp = &w->next;
        } else {
            *pp = w->next; /* a thread that did not come along */
            free(w);
        }
    }
    wd.running = false;
    __atomic_store_n(&probe.tid, 0, __ATOMIC_RELAXED);
    green__handoff_after_fork(green__thread_peek_here());
    __atomic_store_n(&green__watchdog_down, wd.head != NULL, __ATOMIC_RELAXED);
}

static void register_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Starts the watchdog unless it runs; under the lock. Made as
 * green__os_thread makes the runtime's threads (lib/workers.h: detached,
 * every signal blocked, counted in green__own_threads), but named from
 * here, before this returns: a program that counts its own threads by
 * name right after (legacy.h) never sees a nameless one, and nobody waits
 * for the new thread to run. It cannot have ended yet: it takes the lock
 * held here first. */
static void start_locked(void)
{
    if (wd.running) {
        return;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)256 << 10);
    sigset_t all, old;
    sigfillset(&all);
    GREEN_REAL(pthread_sigmask)(SIG_SETMASK, &all, &old);
    __atomic_fetch_add(&green__own_threads, 1, __ATOMIC_RELAXED);
    pthread_t th;
    int r = GREEN_REAL(pthread_create)(&th, &attr, watchdog_main, NULL);
    GREEN_REAL(pthread_sigmask)(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r == 0) {
        GREEN_REAL(pthread_setname_np)(th, "green-watchdog");
        wd.running = true;
        __atomic_store_n(&green__watchdog_down, 0, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_sub(&green__own_threads, 1, __ATOMIC_RELAXED);
        wd.retry_at = (long)(green__coarse_now() * 1e3) + 1000;
        __atomic_store_n(&green__watchdog_down, 1, __ATOMIC_RELAXED);
    }
}

/* Adds a record for the calling thread (t may be NULL); under the lock. */
static struct green__watch *add_locked(struct green__thread *t, double limit)
{
    int tid = gettid_raw();
    struct green__watch *w;
    for (w = wd.head; w != NULL; w = w->next) {
        if (w->tid == tid) {
            break; /* the early record, or a tid reused after an exit */
        }
    }
    if (w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w == NULL) {
            return NULL;
        }
        w->tid = tid;
        w->claimed = ~0ul;
        w->next = wd.head;
        wd.head = w;
    }
    if (t != NULL) {
        if (w->t != NULL && w->t != t) {
            w->t->watch = NULL; /* a dead thread's, never to run again */
        }
        w->t = t;
    }
    wd.limit = limit;
    start_locked();
    return w;
}

void green__watchdog_watch(struct green__thread *t, double limit)
{
    GREEN_REAL(pthread_once)(&atfork_once, register_atfork);
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    struct green__watch *w = add_locked(t, limit);
    t->watch = w != NULL ? w : &unwatched;
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

void green__watchdog_early(double limit)
{
    warm_unwinder(); /* one thread yet: see warm_unwinder */
    GREEN_REAL(pthread_once)(&atfork_once, register_atfork);
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    add_locked(NULL, limit);
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

void green__watchdog_forget(struct green__thread *t)
{
    struct green__watch *w = t->watch;
    t->watch = NULL;
    if (w == NULL || w == &unwatched) {
        return;
    }
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    for (struct green__watch **pp = &wd.head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            break;
        }
    }
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

void green__watchdog_moved(struct green__watch *w, int tid)
{
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    w->tid = tid;
    w->seen_at = 0;
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

bool green__watchdog_claim(struct green__watch *w, unsigned long beat)
{
    if (w == &unwatched) {
        return true;
    }
    unsigned long c = __atomic_load_n(&w->claimed, __ATOMIC_RELAXED);
    return c != beat &&
           __atomic_compare_exchange_n(&w->claimed, &c, beat, false,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void green__watchdog_revive(void)
{
    if (__atomic_load_n(&green__watchdog_down, __ATOMIC_RELAXED) == 0 ||
        (long)(green__coarse_now() * 1e3) < wd.retry_at) {
        return;
    }
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    if (wd.head != NULL) {
        start_locked();
    } else {
        __atomic_store_n(&green__watchdog_down, 0, __ATOMIC_RELAXED);
    }
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
}

int green__watchdog_records(void)
{
    int n = 0;
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    for (struct green__watch *w = wd.head; w != NULL; w = w->next) {
        n++;
    }
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
    return n;
}

bool green__watchdog_running(void)
{
    GREEN_REAL(pthread_mutex_lock)(&wd.lock);
    bool r = wd.running;
    GREEN_REAL(pthread_mutex_unlock)(&wd.lock);
    return r;
}
