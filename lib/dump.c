/* SPDX-License-Identifier: MIT */
/* Seeing inside: a dump of every green thread (green_dump, and the dump
 * signal under the preload) and the counters (green_stats). Go's
 * goroutine dump on SIGQUIT and the JVM's kill -3, for green threads,
 * which gdb and /proc cannot see (they see one OS thread, in the hub).
 *
 * What a thread waits on comes from its wait descriptor (lib/internal.h):
 * the park (lib/hub.c) records what, on which object, since when and
 * until when; the park sites that know more (an fd and its events,
 * poll's fd count, a futex word's value, a child's pid) add a note. A
 * dump only reads them, so it costs the hot path nothing beyond those
 * stores.
 *
 * Backtraces. A green thread that is not running left its registers on
 * its stack when it switched away, and its saved stack pointer in struct
 * greenlet: the words from there to the stack's top that point just past
 * a call instruction in executable code are its callers, as the
 * watchdog's scan finds them (lib/watchdog.c). Frame pointers cannot be
 * followed at -O2. A scan may list a stale word that looks like a return
 * address; the dump says the frames are scanned. Names come from dladdr:
 * exported symbols only (a program's own with -rdynamic), else
 * object+offset for addr2line.
 *
 * The dump signal (GREEN_DUMP_SIGNAL, off by default). Its handler does
 * what a handler may: a compare-and-swap on green__dump_asked (0 -> 1;
 * a signal while a dump is asked or being written is that dump's) and
 * the hub's ev_async_send (async-signal-safe, as lib/sigbridge.c uses
 * it). The hub sees the word at its next turn (lib/dump.h) and writes
 * the dump there, with the program's threads all at rest. Signals that
 * cannot be the dump's: SIGKILL and SIGSTOP (no handler), SIGSEGV and
 * SIGBUS (the stack overflow handler, lib/stack.c), glibc's own 32 and
 * 33, and the watchdog's probe, SIGRTMIN + 14. A program that installs
 * its own handler for the dump signal later takes the signal back, as a
 * program's own choice should win.
 *
 * Only the calling OS thread's green threads are listed (each OS thread
 * has its own hub; under the preload every green pthread lives on the
 * main one). */
#include "dump.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ev.h>
#include <link.h> /* after ev.h: its elf.h defines EV_NONE, a name of ev.h's */

#include "config.h"
#include "green/dump.h"
#include "green_config.h"
#include "log.h"
#include "rawsys.h"
#include "real.h"
#include "workers.h"

#if GREEN_HAVE_VALGRIND
# include <valgrind/memcheck.h>
#else
# define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define MAX_FRAMES 48 /* the sanitizer build's stale words fill 24 before main's */
#define SCAN_BYTES ((uintptr_t)64 << 10)

/* --- the text being built ------------------------------------------------------ */

struct text {
    char *p;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *o,
                                                      const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !o->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = o->cap - o->len;
        int n = vsnprintf(o->p != NULL ? o->p + o->len : NULL, room, fmt,
                          ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
        if ((size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap != 0 ? o->cap : 4096;
        while (cap - o->len <= (size_t)n) {
            cap *= 2;
        }
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
}

/* A name as a quoted string: printable ASCII and valid UTF-8 as they
 * are; '"' and '\' with a backslash; newlines, tabs, other control bytes
 * and bytes that are not valid UTF-8 as \n, \t, \xNN. */
static void put_name(struct text *o, const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    put(o, "\"");
    while (*s != '\0') {
        unsigned c = *s;
        int n = 0; /* bytes of a valid multi-byte sequence at s */
        if (c >= 0xc2 && c <= 0xf4) {
            int want = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */
            if (c == 0xe0) {
                lo = 0xa0; /* no overlong forms */
            } else if (c == 0xed) {
                hi = 0x9f; /* no surrogates */
            } else if (c == 0xf0) {
                lo = 0x90;
            } else if (c == 0xf4) {
                hi = 0x8f; /* nothing above U+10FFFF */
            }
            n = want;
            for (int i = 1; i < want; i++) {
                unsigned b = s[i];
                if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) {
                    n = 0;
                    break;
                }
            }
        }
        if (n > 0) {
            put(o, "%.*s", n, (const char *)s);
            s += n;
            continue;
        }
        if (c == '"' || c == '\\') {
            put(o, "\\%c", (int)c);
        } else if (c == '\n') {
            put(o, "\\n");
        } else if (c == '\t') {
            put(o, "\\t");
        } else if (c < 0x20 || c >= 0x7f) {
            put(o, "\\x%02x", c);
        } else {
            put(o, "%c", (int)c);
        }
        s++;
    }
    put(o, "\"");
}

/* --- the process's mappings, for scans ------------------------------------------ */

struct range {
    uintptr_t lo, hi;
    bool code;          /* readable and executable */
};

struct maps {
    struct range *r;
    int n;
};

/* /proc/self/maps's readable mappings, read with raw system calls (the
 * preload's read would be a green one). */
static void maps_read(struct maps *m)
{
    m->r = NULL;
    m->n = 0;
    long fd = green__syscall(SYS_openat, AT_FDCWD, "/proc/self/maps",
                             O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    while (text != NULL) {
        if (len + 1 >= cap) {
            char *bigger = cap < ((size_t)64 << 20) ? realloc(text, cap * 2)
                                                    : NULL;
            if (bigger == NULL) {
                break;
            }
            text = bigger;
            cap *= 2;
        }
        long n = green__syscall(SYS_read, fd, text + len, cap - len - 1);
        if (n == -EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    green__syscall(SYS_close, fd);
    if (text == NULL) {
        return;
    }
    text[len] = '\0';
    int max = 0;
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        char *p;
        uintptr_t lo = strtoul(line, &p, 16);
        uintptr_t hi = *p == '-' ? strtoul(p + 1, &p, 16) : 0;
        if (hi > lo && *p == ' ' && p[1] == 'r') {
            if (m->n == max) {
                int nmax = max != 0 ? max * 2 : 256;
                struct range *r = realloc(m->r, (size_t)nmax * sizeof(*r));
                if (r == NULL) {
                    break;
                }
                m->r = r;
                max = nmax;
            }
            m->r[m->n++] = (struct range){lo, hi, p[3] == 'x'};
        }
        line = next;
    }
    free(text);
}

static const struct range *maps_find(const struct maps *m, uintptr_t a)
{
    for (int i = 0; i < m->n; i++) {
        if (a >= m->r[i].lo && a < m->r[i].hi) {
            return &m->r[i];
        }
    }
    return NULL;
}

/* Whether a looks like a return address: just past a call instruction in
 * the executable code of a loaded object (the forms lib/watchdog.c's scan
 * knows; a mapping no object has, such as a tool's under valgrind, is not
 * read). */
static bool return_address(const struct maps *m, uintptr_t a)
{
    const struct range *r = maps_find(m, a);
    Dl_info di;
    if (r == NULL || !r->code || a < r->lo + 8 ||
        dladdr((void *)(a - 1), &di) == 0 || di.dli_fname == NULL) {
        return false;
    }
    const unsigned char *c = (const unsigned char *)a;
#if defined(__x86_64__)
    if (c[-5] == 0xe8) { /* call rel32 */
        return true;
    }
    for (int len = 2; len <= 7; len++) { /* call r/m64: FF /2 */
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

/* The return addresses on [sp, top): a stack at rest, read word by word
 * (redzones included: not AddressSanitizer's to check). */
__attribute__((no_sanitize_address)) static int scan(const struct maps *m,
                                                     uintptr_t sp,
                                                     uintptr_t top,
                                                     void **frames)
{
    int k = 0;
    const struct range *r = maps_find(m, sp);
    if (r == NULL || r->code) {
        return 0;
    }
    if (top == 0 || top > r->hi) {
        top = r->hi; /* a root: its mapping's top */
    }
    if (top - sp > SCAN_BYTES) {
        top = sp + SCAN_BYTES;
    }
    for (uintptr_t p = (sp + 7) & ~(uintptr_t)7; p + 8 <= top && k < MAX_FRAMES;
         p += 8) {
        uintptr_t w = *(const uintptr_t *)p;
        VALGRIND_MAKE_MEM_DEFINED(&w, sizeof(w)); /* padding is fine here */
        if (return_address(m, w)) {
            frames[k++] = (void *)w;
        }
    }
    return k;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* The base of libgreen.so when the program preloads or links it as a
 * shared object (NULL when it is linked statically, into the program,
 * whose own functions are not to be left out). */
static void *own_base(void)
{
    Dl_info self;
    if (dladdr((void *)green_dump, &self) == 0 || self.dli_fname == NULL ||
        strncmp(base_name(self.dli_fname), "libgreen", 8) != 0) {
        return NULL;
    }
    return self.dli_fbase;
}

/* "fn+0x1d (object)", or "object+0x1234" where no symbol is exported;
 * a return address is looked up one byte back, inside its call. Frames
 * of libgreen.so's internal functions, which export no name, say
 * nothing to a reader and are left out: false. */
static bool put_frame(struct text *o, void *addr, void *own, bool first)
{
    Dl_info di;
    if (dladdr((char *)addr - 1, &di) == 0 || di.dli_fname == NULL) {
        put(o, "%s%p", first ? " " : " <- ", addr);
        return true;
    }
    if (own != NULL && di.dli_fbase == own && di.dli_sname == NULL) {
        return false;
    }
    put(o, "%s", first ? " " : " <- ");
    const char *obj = di.dli_fname[0] != '\0'
                          ? base_name(di.dli_fname)
                          : base_name(program_invocation_name);
    if (di.dli_sname != NULL && di.dli_saddr != NULL) {
        put(o, "%s+0x%lx (%s)", di.dli_sname,
            (unsigned long)((char *)addr - (char *)di.dli_saddr), obj);
    } else {
        put(o, "%s+0x%lx", obj,
            (unsigned long)((char *)addr - (char *)di.dli_fbase));
    }
    return true;
}

/* --- one green thread ------------------------------------------------------------- */

static const char *state_text(const struct greenlet *g)
{
    if (!(g->flags & GREEN__STARTED)) {
        return "new"; /* spawned: READY in the queue, never run */
    }
    switch (g->state) {
    case GREEN__NEW: return "new";
    case GREEN__RUNNING: return "running";
    case GREEN__SUSPENDED: return "suspended";
    case GREEN__PARKED: return "parked";
    case GREEN__READY: return "ready";
    case GREEN__AWAY: return "away";
    default: return "dead";
    }
}

static void put_label(struct text *o, const struct greenlet *g)
{
    put(o, "#%lu", g->id);
    if (g->name != NULL) {
        put(o, " ");
        put_name(o, g->name);
    } else if (g->flags & GREEN__ROOT) {
        put(o, " root");
    }
}

/* " (name)" or " (name+0x8)" when addr is inside a data symbol a loaded
 * object exports (a program's globals with -rdynamic); nothing for the
 * heap and stacks, which dladdr knows nothing of (it reads no memory). */
static void put_symbol(struct text *o, const void *addr)
{
    Dl_info di;
    const ElfW(Sym) *sym = NULL;
    if (addr == NULL ||
        dladdr1(addr, &di, (void **)&sym, RTLD_DL_SYMENT) == 0 ||
        di.dli_sname == NULL || di.dli_saddr == NULL || sym == NULL) {
        return;
    }
    size_t off = (size_t)((const char *)addr - (const char *)di.dli_saddr);
    if (off >= sym->st_size) {
        return; /* past the nearest symbol: not inside any */
    }
    if (off == 0) {
        put(o, " (%s)", di.dli_sname);
    } else {
        put(o, " (%s+0x%zx)", di.dli_sname, off);
    }
}

/* What a parked g waits on, from its descriptor. */
static void put_wait(struct text *o, const struct greenlet *g, double now)
{
    const char *what = g->wait_what != NULL ? g->wait_what : "a wait";
    switch (g->wait_kind) {
    case GREEN__WAIT_FD: {
        unsigned ev = g->wait_events;
        put(o, "fd %ld for %s", g->wait_arg,
            (ev & POLLIN) && (ev & POLLOUT) ? "reading and writing"
            : (ev & POLLOUT)                ? "writing"
                                            : "reading");
        break;
    }
    case GREEN__WAIT_POLL:
        put(o, "%s of %ld fd%s", what, g->wait_arg,
            g->wait_arg == 1 ? "" : "s");
        break;
    case GREEN__WAIT_FUTEX:
        put(o, "futex %p", g->wait_obj);
        put_symbol(o, g->wait_obj);
        put(o, " while it holds %lu", (unsigned long)(uint32_t)g->wait_arg);
        break;
    case GREEN__WAIT_CHILD:
        if (g->wait_arg > 0) {
            put(o, "child process %ld", g->wait_arg);
        } else if (g->wait_arg == -1) {
            put(o, "any child process");
        } else {
            put(o, "a child process of group %ld", -g->wait_arg);
        }
        break;
    default:
        if (g->wait_on != NULL) {
            put(o, "%s ", what);
            put_label(o, g->wait_on);
        } else if (g->wait_obj != NULL) {
            put(o, "%s %p", what, g->wait_obj);
            put_symbol(o, g->wait_obj);
        } else {
            put(o, "%s", what);
        }
        break;
    }
    const struct greenlet *owner = green__wait_owner(g);
    if (owner != NULL) { /* a lock's holder (lib/cycle.c follows it) */
        put(o, "; held by ");
        put_label(o, owner);
    }
    if (isfinite(g->wait_until)) {
        double left = g->wait_until - now;
        put(o, "; its timer fires in %.3f s", left > 0.0 ? left : 0.0);
    }
}

/* The top of g's stack as it runs on it (below a green pthread's TLS),
 * or 0 for a root, whose mapping says. */
static uintptr_t stack_top(const struct greenlet *g)
{
    if (g->stack == NULL) {
        return 0;
    }
    return (uintptr_t)g->stack->lo + g->stack->size - g->top_reserve;
}

static void put_backtrace(struct text *o, const struct maps *m,
                          const struct greenlet *g, bool self)
{
    void *frames[MAX_FRAMES];
    int n = 0;
    if (self) {
        /* The caller of green_dump: its stack now, scanned from here. */
        uintptr_t here = (uintptr_t)__builtin_frame_address(0);
        n = scan(m, here, stack_top(g), frames);
    } else if ((g->flags & GREEN__STARTED) &&
               (g->stack != NULL || (g->flags & GREEN__ROOT))) {
        n = scan(m, (uintptr_t)g->sp, stack_top(g), frames);
    }
    if (n == 0) {
        put(o, "    backtrace: none\n");
        return;
    }
    put(o, "    backtrace (scanned):");
    void *own = own_base();
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (i > 0 && frames[i] == frames[i - 1]) {
            continue;
        }
        first &= !put_frame(o, frames[i], own, first);
    }
    put(o, "%s\n", first ? " libgreen's own frames only" : "");
}

static void put_thread(struct text *o, const struct maps *m,
                       const struct greenlet *g, double now)
{
    put_label(o, g);
    put(o, ": %s", state_text(g));
    if (g->state == GREEN__PARKED) {
        double since = now - g->wait_since;
        put(o, " for %.3f s on ", since > 0.0 ? since : 0.0);
        put_wait(o, g, now);
    }
    if (g->creator != 0) {
        put(o, "; created by #%lu", g->creator);
    }
    put(o, "\n");
    put_backtrace(o, m, g, g == g->thread->current);
}

/* --- the counters ---------------------------------------------------------------- */

static void stats_of(struct green__thread *t, struct green_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (t != NULL) {
        for (struct green__link *l = t->live.next; l != &t->live;
             l = l->next) {
            const struct greenlet *g =
                GREEN__CONTAINER(l, struct greenlet, live);
            if (g->flags & GREEN__HUB) {
                continue;
            }
            s->threads++;
            s->parked += g->state == GREEN__PARKED;
        }
        for (const struct greenlet *g = t->ready_head; g != NULL;
             g = g->ready_next) {
            s->threads += !(g->flags & GREEN__STARTED); /* not yet run */
        }
        s->ready = t->nready;
        s->switches = t->switches;
        s->hub_turns = t->hub_turns;
        for (size_t i = 0; i < t->nfds; i++) {
            s->fds += t->fds[i] != NULL;
        }
        s->max_stall = t->stall_max;
    }
    s->pool_queued = green__pool_queued();
    s->pool_threads = (uint64_t)green__pool_threads();
}

int green_stats(struct green_stats *out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    stats_of(green__thread_peek(), out);
    return 0;
}

/* --- the dump ---------------------------------------------------------------------- */

static void build(struct text *o, struct green__thread *t)
{
    struct green_stats s;
    stats_of(t, &s);
    double now = ev_time(); /* the clock of wait_since and wait_until */
    put(o, "libgreen dump: process %ld, OS thread %ld, %lu green thread%s\n",
        green__syscall(SYS_getpid), green__syscall(SYS_gettid),
        (unsigned long)s.threads, s.threads == 1 ? "" : "s");
    put(o, "stats: threads %lu, parked %lu, ready %lu, switches %lu, hub "
        "turns %lu, fds registered %lu, longest hub stall %.1f ms, pool "
        "queue depth %lu, pool threads %lu\n",
        (unsigned long)s.threads, (unsigned long)s.parked,
        (unsigned long)s.ready, (unsigned long)s.switches,
        (unsigned long)s.hub_turns, (unsigned long)s.fds,
        s.max_stall * 1e3, (unsigned long)s.pool_queued,
        (unsigned long)s.pool_threads);
    if (t != NULL) {
        struct maps m;
        maps_read(&m);
        for (struct green__link *l = t->live.next; l != &t->live;
             l = l->next) {
            const struct greenlet *g =
                GREEN__CONTAINER(l, struct greenlet, live);
            if (!(g->flags & GREEN__HUB)) {
                put_thread(o, &m, g, now);
            }
        }
        for (const struct greenlet *g = t->ready_head; g != NULL;
             g = g->ready_next) {
            if (!(g->flags & GREEN__STARTED)) {
                put_thread(o, &m, g, now);
            }
        }
        free(m.r);
    }
    put(o, "end of dump\n");
}

/* Writes all of buf to fd with raw system calls (the preload's write
 * would park, and the hub cannot): 0 or -errno. A full non-blocking fd
 * is waited for in poll(2), 5 s at most. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        long n = green__syscall(SYS_write, fd, buf, len);
        if (n == -EINTR) {
            continue;
        }
        if (n == -EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            struct timespec limit = {.tv_sec = 5};
            long r = green__syscall(SYS_ppoll, &p, 1, &limit, NULL, 0);
            if (r == 0) {
                return -EAGAIN;
            }
            continue;
        }
        if (n < 0) {
            return (int)n;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int dump_to(struct green__thread *t, int fd)
{
    struct text o = {0};
    build(&o, t);
    int r = o.oom ? -ENOMEM : write_all(fd, o.p, o.len);
    free(o.p);
    return r;
}

int green_dump(int fd)
{
    if (fd < 0) {
        return -EBADF;
    }
    return dump_to(green__thread_peek(), fd);
}

/* --- the dump signal ---------------------------------------------------------------- */

int green__dump_asked;
static int dump_sig;

void green__dump_run(struct green__thread *t)
{
    int asked = 1;
    if (!__atomic_compare_exchange_n(&green__dump_asked, &asked, 2, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        return; /* another OS thread's hub took it */
    }
    int r = dump_to(t, STDERR_FILENO);
    if (r != 0) {
        green__log(GREEN_LOG_WARNING, "the dump asked by signal %d could not "
                   "be written to stderr: %s", dump_sig, strerror(-r));
    }
    __atomic_store_n(&green__dump_asked, 0, __ATOMIC_RELEASE);
}

static void on_dump_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    int saved = errno;
    int idle = 0;
    if (__atomic_compare_exchange_n(&green__dump_asked, &idle, 1, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        /* Wake this OS thread's hub; without one, the first hub turn
         * will see the word. */
        struct green__thread *t = green__thread_peek();
        if (t != NULL && t->hub != NULL && t->sig_async != NULL) {
            ev_async_send(t->loop, t->sig_async);
        }
    }
    errno = saved;
}

/* Whether sig may be the dump signal (see the top of this file). */
static int usable(int sig)
{
    return sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV &&
           sig != SIGBUS && !(sig >= 32 && sig < SIGRTMIN) &&
           sig != SIGRTMIN + 14;
}

void green__dump_signal_setup(void)
{
    int sig = green__env_signal("GREEN_DUMP_SIGNAL", usable,
                                "a signal name or number (USR2, SIGUSR2, "
                                "12, RTMIN+1), not KILL, STOP, SEGV, BUS, "
                                "32, 33 or the watchdog's RTMIN+14");
    if (sig == 0) {
        return;
    }
    struct sigaction a;
    memset(&a, 0, sizeof(a));
    a.sa_sigaction = on_dump_signal;
    a.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&a.sa_mask);
    if (GREEN_REAL(sigaction)(sig, &a, NULL) != 0) {
        green__log(GREEN_LOG_WARNING, "GREEN_DUMP_SIGNAL: signal %d: %s; no "
                   "dump signal", sig, strerror(errno));
        return;
    }
    dump_sig = sig;
    green__log(GREEN_LOG_INFO, "signal %d (%s) writes a dump of every green "
               "thread to stderr", sig, sigabbrev_np(sig) != NULL
                                            ? sigabbrev_np(sig)
                                            : "real-time");
}

int green__dump_signal(void)
{
    return dump_sig;
}
