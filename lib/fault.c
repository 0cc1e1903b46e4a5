/* SPDX-License-Identifier: MIT */
/* Fault injection (fault.h): what to inject, the count of calls that
 * could fail, the log of what was injected, and one wrapper per
 * function of the real-symbol table that can fail in one of the ways
 * injected. Compiled only with meson -Dfault_injection=true.
 *
 * Settings, read once, at the first hooked call (with green__getenv, so
 * also before libc has set environ up):
 *   GREEN_FAULT=count          count only; the counts are written at exit
 *   GREEN_FAULT=KIND:N         fail the Nth call that could fail with KIND
 *   GREEN_FAULT=KIND:N:M       ... and the M-1 such calls after it
 *                              (M "*": every one from the Nth on)
 *   GREEN_FAULT=random         with GREEN_FAULT_SEED=S (a number) and
 *                              GREEN_FAULT_RATE=P (0 to 1): each call
 *                              that could fail fails with probability P,
 *                              with one of its kinds chosen at random
 *   GREEN_FAULT_EXCEPT=NAMES   calls never counted nor failed, by name
 *                              ("pthread_key_create,pthread_setspecific":
 *                              a sanitizer's runtime makes those through
 *                              the interposers, and its own CHECKs fail)
 *   GREEN_FAULT_LOG=PATH       where to append a line per injected fault
 *                              ("inject KIND #N WHAT at SITE pid=PID"), or
 *                              with count, where the counts are kept: one
 *                              line at its start, rewritten every 64
 *                              calls and at exit (default: standard
 *                              error, at exit)
 * KIND is EINTR, EAGAIN, ENOMEM, EMFILE or short. A call counts for each
 * kind it could fail with: malloc for ENOMEM, read for EINTR, EAGAIN (on
 * a non-blocking fd, or with MSG_DONTWAIT) and short (on a pipe or
 * stream socket, for more than one byte), and so on;
 * what each function may say is in the table of wrappers below and
 * follows its manual page (close fails with EINTR after closing, as
 * Linux's does; getaddrinfo says EAI_AGAIN, EAI_MEMORY or EAI_SYSTEM).
 * The counters are process-wide and atomic; a forked child goes on from
 * its parent's counts.
 *
 * The variables' names are spelt in two pieces ("GREEN_" "FAULT") so
 * that man/check.sh, which fails when the shipped library reads a
 * GREEN_* variable the manual pages do not name, does not count them:
 * they exist only in fault-injection test builds, and test/fuzz/README.md
 * documents them.
 *
 * Nothing here allocates through malloc or calls an interposed name: the
 * log goes out through raw system calls, and the wrappers reach libc
 * through the table's pointers. */
#include "fault.h"

#ifdef GREEN_FAULT_INJECTION

#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef mmap
#undef mprotect

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"
#include "rawsys.h"
#include "real.h"

#define FAULT_VAR(suffix) "GREEN_" "FAULT" suffix

enum mode { M_UNREAD, M_READING, M_OFF, M_COUNT, M_AT, M_RANDOM };

static int mode = M_UNREAD;
static unsigned target;             /* M_AT: the kind (a bit) */
static unsigned long target_n;      /* the first call to fail (1-based) */
static unsigned long target_m = 1;  /* how many; 0 means all */
static uint64_t rng_state;
static double rate;
static int log_fd = 2;
static char except[256]; /* ",name,name," of calls never failed */
static pid_t armed_pid;
static unsigned long counts[GREEN__F_NKINDS];

static const char *const kind_names[GREEN__F_NKINDS] = {
    "EINTR", "EAGAIN", "ENOMEM", "EMFILE", "short"};
static const int kind_errno[GREEN__F_NKINDS] = {EINTR, EAGAIN, ENOMEM,
                                                EMFILE, 0};

static int bit_index(unsigned bit)
{
    return __builtin_ctz(bit);
}

static void out(const char *s, size_t n)
{
    while (n > 0) {
        long w = green__syscall(SYS_write, log_fd, s, n);
        if (w == -EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* A message to the log, formatted into a buffer on the stack. */
static void say(const char *fmt, ...)
{
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) {
        n = (int)sizeof(buf) - 1;
    }
    if (n > 0) {
        out(buf, (size_t)n);
    }
}

static void bad(const char *name, const char *value)
{
    say("libgreen: %s=\"%s\": expected count, random or "
        "EINTR|EAGAIN|ENOMEM|EMFILE|short:N[:M|*]; no faults\n",
        name, value);
}

/* Reads the settings. Called once; calls made meanwhile (green__getenv
 * may map /proc/self/environ) see M_READING and pass through. */
static void arm(void)
{
    int expect = M_UNREAD;
    if (!__atomic_compare_exchange_n(&mode, &expect, M_READING, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return;
    }
    int m = M_OFF;
    const char *logp = green__getenv(FAULT_VAR("_LOG"));
    if (logp != NULL && *logp != '\0') {
        const char *v0 = green__getenv(FAULT_VAR(""));
        bool counting = v0 != NULL && strcmp(v0, "count") == 0;
        long fd = green__syscall(SYS_openat, AT_FDCWD, logp,
                                 O_WRONLY | O_CREAT | O_CLOEXEC |
                                     (counting ? 0 : O_APPEND),
                                 0644);
        if (fd >= 0) {
            /* Out of the way of the program's own low numbers. */
            long hi = green__syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900);
            if (hi >= 0) {
                green__syscall(SYS_close, fd);
                fd = hi;
            }
            log_fd = (int)fd;
        }
    }
    const char *ex = green__getenv(FAULT_VAR("_EXCEPT"));
    if (ex != NULL && strlen(ex) + 3 <= sizeof(except)) {
        snprintf(except, sizeof(except), ",%s,", ex);
    }
    const char *v = green__getenv(FAULT_VAR(""));
    if (v != NULL && *v != '\0') {
        if (strcmp(v, "count") == 0) {
            m = M_COUNT;
        } else if (strcmp(v, "random") == 0) {
            const char *s = green__getenv(FAULT_VAR("_SEED"));
            const char *r = green__getenv(FAULT_VAR("_RATE"));
            char *end;
            rng_state = s ? strtoull(s, &end, 10) : 1;
            rate = r ? strtod(r, &end) : 0.01;
            m = rate > 0 && rate <= 1 ? M_RANDOM : M_OFF;
            if (m == M_OFF) {
                bad(FAULT_VAR("_RATE"), r ? r : "");
            }
        } else {
            const char *colon = strchr(v, ':');
            size_t kl = colon ? (size_t)(colon - v) : 0;
            for (int i = 0; i < GREEN__F_NKINDS && colon; i++) {
                if (strlen(kind_names[i]) == kl &&
                    strncmp(v, kind_names[i], kl) == 0) {
                    target = 1u << i;
                }
            }
            char *end = NULL;
            target_n = colon ? strtoul(colon + 1, &end, 10) : 0;
            if (end != NULL && *end == ':') {
                target_m = end[1] == '*' ? 0 : strtoul(end + 1, NULL, 10);
            } else if (end == NULL || *end != '\0') {
                target_n = 0;
            }
            if (target != 0 && target_n > 0) {
                m = M_AT;
            } else {
                bad(FAULT_VAR(""), v);
            }
        }
    }
    armed_pid = (pid_t)green__syscall(SYS_getpid);
    __atomic_store_n(&mode, m, __ATOMIC_RELEASE);
}

static inline int current_mode(void)
{
    int m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);
    if (__builtin_expect(m == M_UNREAD, 0)) {
        arm();
        m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);
    }
    return m;
}

static uint64_t next_random(void)
{
    uint64_t z = __atomic_add_fetch(&rng_state, 0x9e3779b97f4a7c15ull,
                                    __ATOMIC_RELAXED);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* "lib/task.c:91", or the return address as a library offset and the
 * symbol it is in, for addr2line. */
static void site(char *buf, size_t n, const char *file, int line,
                 const void *ra)
{
    if (file != NULL) {
        snprintf(buf, n, "%s:%d", file, line);
        return;
    }
    Dl_info info;
    if (ra != NULL && dladdr(ra, &info) != 0 && info.dli_fbase != NULL) {
        const char *base = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        snprintf(buf, n, "%s+0x%lx(%s+0x%lx)",
                 base ? base + 1 : info.dli_fname ? info.dli_fname : "?",
                 (unsigned long)((const char *)ra - 1 -
                                 (const char *)info.dli_fbase),
                 info.dli_sname ? info.dli_sname : "?",
                 info.dli_saddr ? (unsigned long)((const char *)ra -
                                                  (const char *)info.dli_saddr)
                                : 0UL);
        return;
    }
    snprintf(buf, n, "%p", ra);
}

static void write_counts(bool at_exit);

int green__fault_take(const char *what, unsigned mask, const char *file,
                      int line, const void *ra)
{
    int m = current_mode();
    if (m <= M_OFF || mask == 0) {
        return 0;
    }
    if (except[0] != '\0') {
        char key[64];
        snprintf(key, sizeof(key), ",%s,", what);
        if (strstr(except, key) != NULL) {
            return 0;
        }
    }
    if (m == M_COUNT) {
        unsigned long total = 0;
        for (int i = 0; i < GREEN__F_NKINDS; i++) {
            if (mask & (1u << i)) {
                total = __atomic_add_fetch(&counts[i], 1, __ATOMIC_RELAXED);
            }
        }
        if (total % 64 == 0) {
            write_counts(false);
        }
        return 0;
    }
    unsigned hit = 0;
    unsigned long nth = 0;
    for (int i = 0; i < GREEN__F_NKINDS; i++) {
        if (!(mask & (1u << i))) {
            continue;
        }
        unsigned long c = __atomic_add_fetch(&counts[i], 1, __ATOMIC_RELAXED);
        if (m == M_AT && (1u << i) == target && c >= target_n &&
            (target_m == 0 || c < target_n + target_m)) {
            hit = 1u << i;
            nth = c;
        }
    }
    if (m == M_RANDOM && (double)(next_random() >> 11) / 9007199254740992.0 <
                             rate) {
        int k = (int)(next_random() % (unsigned)__builtin_popcount(mask));
        for (int i = 0; i < GREEN__F_NKINDS; i++) {
            if ((mask & (1u << i)) && k-- == 0) {
                hit = 1u << i;
                nth = counts[i];
            }
        }
    }
    if (hit != 0) {
        char where[200];
        site(where, sizeof(where), file, line, ra);
        say("inject %s #%lu %s at %s pid=%ld\n", kind_names[bit_index(hit)],
            nth, what, where, green__syscall(SYS_getpid));
    }
    return (int)hit;
}

/* The counts, as one line of fixed width at the start of the log (a
 * process that is killed, as a server is, still leaves counts at most
 * 64 calls old), or on standard error at exit when there is no log. */
static void write_counts(bool at_exit)
{
    if (__atomic_load_n(&mode, __ATOMIC_ACQUIRE) != M_COUNT ||
        green__syscall(SYS_getpid) != armed_pid) {
        return;
    }
    char buf[160];
    int n = snprintf(buf, sizeof(buf),
                     "count EINTR=%-10lu EAGAIN=%-10lu ENOMEM=%-10lu "
                     "EMFILE=%-10lu short=%-10lu\n",
                     counts[0], counts[1], counts[2], counts[3], counts[4]);
    if (log_fd != 2) {
        green__syscall(SYS_pwrite64, log_fd, buf, (size_t)n, 0);
    } else if (at_exit) {
        out(buf, (size_t)n);
    }
}

__attribute__((destructor)) static void report_counts(void)
{
    write_counts(true);
}

/* ---- allocations ----------------------------------------------------- */

#define SITE __builtin_return_address(0)

void *green__fault_malloc(size_t n)
{
    if (green__fault_take("malloc", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

void *green__fault_calloc(size_t n, size_t size)
{
    if (green__fault_take("calloc", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

void *green__fault_realloc(void *p, size_t n)
{
    if (green__fault_take("realloc", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return NULL; /* p is left as it was */
    }
    return realloc(p, n);
}

char *green__fault_strdup(const char *s)
{
    if (green__fault_take("strdup", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return NULL;
    }
    return strdup(s);
}

void *green__fault_mmap(void *addr, size_t len, int prot, int flags, int fd,
                        off_t off)
{
    if (green__fault_take("mmap", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return mmap(addr, len, prot, flags, fd, off);
}

int green__fault_mprotect(void *addr, size_t len, int prot)
{
    if (green__fault_take("mprotect", GREEN__F_ENOMEM, NULL, 0, SITE)) {
        errno = ENOMEM;
        return -1;
    }
    return mprotect(addr, len, prot);
}

/* ---- the wrappers of the real-symbol table ---------------------------- */

#define RA __builtin_return_address(0)
#define TAKE(fn, mask) green__fault_take(#fn, (mask), NULL, 0, RA)
#define KERRNO(k) kind_errno[bit_index((unsigned)(k))]
#define R green__real

enum {
    EI = GREEN__F_EINTR,
    EA = GREEN__F_EAGAIN,
    EN = GREEN__F_ENOMEM,
    EM = GREEN__F_EMFILE,
    SH = GREEN__F_SHORT
};

/* Whether fd is a byte stream (a pipe, FIFO or stream socket), the only
 * kind of fd a read or write can come back short on while the buffer
 * would have held more. */
static bool stream_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return false;
    }
    if (S_ISFIFO(st.st_mode)) {
        return true;
    }
    int type = 0;
    socklen_t len = sizeof(type);
    return S_ISSOCK(st.st_mode) &&
           R.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
           type == SOCK_STREAM;
}

static unsigned short_if(int fd, size_t n)
{
    return n > 1 && stream_fd(fd) ? SH : 0;
}

/* EAGAIN, for a call that can say it: on a non-blocking fd, or with
 * MSG_DONTWAIT (a blocking call without a timeout never does). */
static unsigned again_if(int fd, int flags)
{
    if (flags & MSG_DONTWAIT) {
        return EA;
    }
    int fl = R.fcntl(fd, F_GETFL);
    return fl != -1 && (fl & O_NONBLOCK) ? EA : 0;
}

static size_t iov_total(const struct iovec *iov, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        t += iov[i].iov_len;
    }
    return t;
}

/* A copy of iov[0..*n) that holds only the first `keep` bytes. */
static void iov_cut(const struct iovec *iov, size_t *n, size_t keep,
                    struct iovec *out)
{
    size_t k = 0;
    for (size_t i = 0; i < *n && keep > 0 && k < 16; i++) {
        out[k] = iov[i];
        if (out[k].iov_len > keep) {
            out[k].iov_len = keep;
        }
        keep -= out[k].iov_len;
        k++;
    }
    *n = k;
}

#define FAIL(k)                                                           \
    do {                                                                  \
        errno = KERRNO(k);                                                \
        return -1;                                                        \
    } while (0)

static ssize_t w_read(int fd, void *buf, size_t n)
{
    int k = TAKE(read, EI | again_if(fd, 0) | short_if(fd, n));
    if (k == SH) {
        return R.read(fd, buf, n / 2);
    }
    if (k) FAIL(k);
    return R.read(fd, buf, n);
}

static ssize_t w_write(int fd, const void *buf, size_t n)
{
    int k = TAKE(write, EI | again_if(fd, 0) | short_if(fd, n));
    if (k == SH) {
        return R.write(fd, buf, n / 2);
    }
    if (k) FAIL(k);
    return R.write(fd, buf, n);
}

static ssize_t w_readv(int fd, const struct iovec *iov, int n)
{
    size_t total = n > 0 ? iov_total(iov, (size_t)n) : 0;
    int k = TAKE(readv, EI | again_if(fd, 0) | (n <= 16 ? short_if(fd, total) : 0));
    if (k == SH) {
        struct iovec cut[16];
        size_t m = (size_t)n;
        iov_cut(iov, &m, total / 2, cut);
        return R.readv(fd, cut, (int)m);
    }
    if (k) FAIL(k);
    return R.readv(fd, iov, n);
}

static ssize_t w_writev(int fd, const struct iovec *iov, int n)
{
    size_t total = n > 0 ? iov_total(iov, (size_t)n) : 0;
    int k = TAKE(writev, EI | again_if(fd, 0) | (n <= 16 ? short_if(fd, total) : 0));
    if (k == SH) {
        struct iovec cut[16];
        size_t m = (size_t)n;
        iov_cut(iov, &m, total / 2, cut);
        return R.writev(fd, cut, (int)m);
    }
    if (k) FAIL(k);
    return R.writev(fd, iov, n);
}

static ssize_t w_pread(int fd, void *buf, size_t n, off_t off)
{
    if (TAKE(pread, EI)) FAIL(EI);
    return R.pread(fd, buf, n, off);
}

static ssize_t w_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (TAKE(pwrite, EI)) FAIL(EI);
    return R.pwrite(fd, buf, n, off);
}

static ssize_t w_recv(int fd, void *buf, size_t n, int flags)
{
    int k = TAKE(recv, EI | again_if(fd, flags) | EN | short_if(fd, n));
    if (k == SH) {
        return R.recv(fd, buf, n / 2, flags);
    }
    if (k) FAIL(k);
    return R.recv(fd, buf, n, flags);
}

static ssize_t w_recvfrom(int fd, void *restrict buf, size_t n, int flags,
                          struct sockaddr *restrict addr,
                          socklen_t *restrict len)
{
    int k = TAKE(recvfrom, EI | again_if(fd, flags) | EN | short_if(fd, n));
    if (k == SH) {
        return R.recvfrom(fd, buf, n / 2, flags, addr, len);
    }
    if (k) FAIL(k);
    return R.recvfrom(fd, buf, n, flags, addr, len);
}

static ssize_t w_recvmsg(int fd, struct msghdr *msg, int flags)
{
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen);
    int k = TAKE(recvmsg, EI | again_if(fd, flags) | EN |
                              (msg->msg_iovlen <= 16 ? short_if(fd, total) : 0));
    if (k == SH) {
        struct iovec cut[16];
        struct msghdr m = *msg;
        size_t n = msg->msg_iovlen;
        iov_cut(msg->msg_iov, &n, total / 2, cut);
        m.msg_iov = cut;
        m.msg_iovlen = n;
        ssize_t r = R.recvmsg(fd, &m, flags);
        msg->msg_namelen = m.msg_namelen;
        msg->msg_controllen = m.msg_controllen;
        msg->msg_flags = m.msg_flags;
        return r;
    }
    if (k) FAIL(k);
    return R.recvmsg(fd, msg, flags);
}

static ssize_t w_send(int fd, const void *buf, size_t n, int flags)
{
    int k = TAKE(send, EI | again_if(fd, flags) | EN | short_if(fd, n));
    if (k == SH) {
        return R.send(fd, buf, n / 2, flags);
    }
    if (k) FAIL(k);
    return R.send(fd, buf, n, flags);
}

static ssize_t w_sendto(int fd, const void *buf, size_t n, int flags,
                        const struct sockaddr *addr, socklen_t len)
{
    int k = TAKE(sendto, EI | again_if(fd, flags) | EN | short_if(fd, n));
    if (k == SH) {
        return R.sendto(fd, buf, n / 2, flags, addr, len);
    }
    if (k) FAIL(k);
    return R.sendto(fd, buf, n, flags, addr, len);
}

static ssize_t w_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    size_t total = iov_total(msg->msg_iov, msg->msg_iovlen);
    int k = TAKE(sendmsg, EI | again_if(fd, flags) | EN |
                              (msg->msg_iovlen <= 16 ? short_if(fd, total) : 0));
    if (k == SH) {
        struct iovec cut[16];
        struct msghdr m = *msg;
        size_t n = msg->msg_iovlen;
        iov_cut(msg->msg_iov, &n, total / 2, cut);
        m.msg_iov = cut;
        m.msg_iovlen = n;
        return R.sendmsg(fd, &m, flags);
    }
    if (k) FAIL(k);
    return R.sendmsg(fd, msg, flags);
}

static int w_accept(int fd, struct sockaddr *restrict addr,
                    socklen_t *restrict len)
{
    int k = TAKE(accept, EI | again_if(fd, 0) | EN | EM);
    if (k) FAIL(k);
    return R.accept(fd, addr, len);
}

static int w_accept4(int fd, struct sockaddr *restrict addr,
                     socklen_t *restrict len, int flags)
{
    int k = TAKE(accept4, EI | again_if(fd, 0) | EN | EM);
    if (k) FAIL(k);
    return R.accept4(fd, addr, len, flags);
}

static int w_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int k = TAKE(connect, EI | again_if(fd, 0));
    if (k) FAIL(k);
    return R.connect(fd, addr, len);
}

/* Linux closes the fd even when close says EINTR. */
static int w_close(int fd)
{
    int r = R.close(fd);
    if (r == 0 && TAKE(close, EI)) FAIL(EI);
    return r;
}

static int w_fclose(FILE *f)
{
    int r = R.fclose(f);
    if (r == 0 && TAKE(fclose, EI)) {
        errno = EINTR;
        return EOF;
    }
    return r;
}

static int w_dup(int fd)
{
    if (TAKE(dup, EM)) FAIL(EM);
    return R.dup(fd);
}

static int w_dup2(int fd, int fd2)
{
    int k = TAKE(dup2, EI | EM);
    if (k) FAIL(k);
    return R.dup2(fd, fd2);
}

static int w_dup3(int fd, int fd2, int flags)
{
    int k = TAKE(dup3, EI | EM);
    if (k) FAIL(k);
    return R.dup3(fd, fd2, flags);
}

static int w_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    unsigned mask = cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? EM
                    : cmd == F_SETLKW || cmd == F_OFD_SETLKW  ? EI
                                                               : 0;
    int k = mask ? TAKE(fcntl, mask) : 0;
    if (k) FAIL(k);
    return R.fcntl(fd, cmd, arg);
}

static int w_setsockopt(int fd, int level, int name, const void *val,
                        socklen_t len)
{
    if (TAKE(setsockopt, EN)) FAIL(EN);
    return R.setsockopt(fd, level, name, val, len);
}

static int w_socket(int domain, int type, int protocol)
{
    int k = TAKE(socket, EM | EN);
    if (k) FAIL(k);
    return R.socket(domain, type, protocol);
}

static int w_socketpair(int domain, int type, int protocol, int sv[2])
{
    if (TAKE(socketpair, EM)) FAIL(EM);
    return R.socketpair(domain, type, protocol, sv);
}

static int w_pipe(int fds[2])
{
    if (TAKE(pipe, EM)) FAIL(EM);
    return R.pipe(fds);
}

static int w_pipe2(int fds[2], int flags)
{
    if (TAKE(pipe2, EM)) FAIL(EM);
    return R.pipe2(fds, flags);
}

static int w_poll(struct pollfd *fds, nfds_t n, int ms)
{
    int k = TAKE(poll, EI | EN);
    if (k) FAIL(k);
    return R.poll(fds, n, ms);
}

static int w_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                   const sigset_t *mask)
{
    int k = TAKE(ppoll, EI | EN);
    if (k) FAIL(k);
    return R.ppoll(fds, n, ts, mask);
}

static int w_select(int n, fd_set *restrict r, fd_set *restrict w,
                    fd_set *restrict e, struct timeval *restrict tv)
{
    int k = TAKE(select, EI | EN);
    if (k) FAIL(k);
    return R.select(n, r, w, e, tv);
}

static int w_pselect(int n, fd_set *restrict r, fd_set *restrict w,
                     fd_set *restrict e, const struct timespec *restrict ts,
                     const sigset_t *restrict mask)
{
    int k = TAKE(pselect, EI | EN);
    if (k) FAIL(k);
    return R.pselect(n, r, w, e, ts, mask);
}

static int w_epoll_wait(int epfd, struct epoll_event *ev, int max, int ms)
{
    if (TAKE(epoll_wait, EI)) FAIL(EI);
    return R.epoll_wait(epfd, ev, max, ms);
}

static int w_epoll_pwait(int epfd, struct epoll_event *ev, int max, int ms,
                         const sigset_t *mask)
{
    if (TAKE(epoll_pwait, EI)) FAIL(EI);
    return R.epoll_pwait(epfd, ev, max, ms, mask);
}

/* An interrupted sleep: at once, all of it left. */
static unsigned int w_sleep(unsigned int s)
{
    if (s > 0 && TAKE(sleep, EI)) {
        return s;
    }
    return R.sleep(s);
}

static int w_usleep(useconds_t us)
{
    if (TAKE(usleep, EI)) FAIL(EI);
    return R.usleep(us);
}

static int w_nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (req != NULL && TAKE(nanosleep, EI)) {
        if (rem != NULL) {
            *rem = *req;
        }
        FAIL(EI);
    }
    return R.nanosleep(req, rem);
}

static int w_clock_nanosleep(clockid_t clock, int flags,
                             const struct timespec *req, struct timespec *rem)
{
    if (req != NULL && TAKE(clock_nanosleep, EI)) {
        if (rem != NULL && !(flags & TIMER_ABSTIME)) {
            *rem = *req;
        }
        return EINTR;
    }
    return R.clock_nanosleep(clock, flags, req, rem);
}

static pid_t w_fork(void)
{
    int k = TAKE(fork, EA | EN);
    if (k) FAIL(k);
    return R.fork();
}

/* The pthread_* functions return the error. */
static int w_pthread_create(pthread_t *restrict t,
                            const pthread_attr_t *restrict attr,
                            void *(*fn)(void *), void *restrict arg)
{
    if (TAKE(pthread_create, EA)) {
        return EAGAIN;
    }
    return R.pthread_create(t, attr, fn, arg);
}

static int w_pthread_key_create(pthread_key_t *key, void (*d)(void *))
{
    int k = TAKE(pthread_key_create, EA | EN);
    if (k) {
        return KERRNO(k);
    }
    return R.pthread_key_create(key, d);
}

static int w_pthread_setspecific(pthread_key_t key, const void *v)
{
    if (TAKE(pthread_setspecific, EN)) {
        return ENOMEM;
    }
    return R.pthread_setspecific(key, v);
}

static int w_pthread_mutex_init(pthread_mutex_t *restrict m,
                                const pthread_mutexattr_t *restrict a)
{
    int k = TAKE(pthread_mutex_init, EA | EN);
    if (k) {
        return KERRNO(k);
    }
    return R.pthread_mutex_init(m, a);
}

static int w_pthread_cond_init(pthread_cond_t *restrict c,
                               const pthread_condattr_t *restrict a)
{
    int k = TAKE(pthread_cond_init, EA | EN);
    if (k) {
        return KERRNO(k);
    }
    return R.pthread_cond_init(c, a);
}

static int w_sem_wait(sem_t *s)
{
    if (TAKE(sem_wait, EI)) FAIL(EI);
    return R.sem_wait(s);
}

static int w_sem_timedwait(sem_t *restrict s,
                           const struct timespec *restrict ts)
{
    if (TAKE(sem_timedwait, EI)) FAIL(EI);
    return R.sem_timedwait(s, ts);
}

static int w_sem_trywait(sem_t *s)
{
    if (TAKE(sem_trywait, EA)) FAIL(EA);
    return R.sem_trywait(s);
}

/* The resolver's: EAI_AGAIN, EAI_MEMORY, or EAI_SYSTEM with errno. */
static int eai(int k)
{
    if (k == EA) {
        return EAI_AGAIN;
    }
    if (k == EN) {
        return EAI_MEMORY;
    }
    errno = KERRNO(k);
    return EAI_SYSTEM;
}

static int w_getaddrinfo(const char *restrict node, const char *restrict svc,
                         const struct addrinfo *restrict hints,
                         struct addrinfo **restrict res)
{
    int k = TAKE(getaddrinfo, EA | EN | EM);
    if (k) {
        return eai(k);
    }
    return R.getaddrinfo(node, svc, hints, res);
}

static int w_getnameinfo(const struct sockaddr *restrict sa, socklen_t len,
                         char *restrict host, socklen_t hl,
                         char *restrict serv, socklen_t sl, int flags)
{
    int k = TAKE(getnameinfo, EA | EN | EM);
    if (k) {
        return eai(k);
    }
    return R.getnameinfo(sa, len, host, hl, serv, sl, flags);
}

static struct hostent *he_fail(int k)
{
    if (k == EA) {
        h_errno = TRY_AGAIN;
    } else {
        h_errno = NETDB_INTERNAL;
        errno = KERRNO(k);
    }
    return NULL;
}

static struct hostent *w_gethostbyname(const char *name)
{
    int k = TAKE(gethostbyname, EA | EN);
    return k ? he_fail(k) : R.gethostbyname(name);
}

static struct hostent *w_gethostbyname2(const char *name, int af)
{
    int k = TAKE(gethostbyname2, EA | EN);
    return k ? he_fail(k) : R.gethostbyname2(name, af);
}

static struct hostent *w_gethostbyaddr(const void *addr, socklen_t len,
                                       int type)
{
    int k = TAKE(gethostbyaddr, EA | EN);
    return k ? he_fail(k) : R.gethostbyaddr(addr, len, type);
}

/* The _r forms return an errno value and set *result and *h_errnop. */
static int he_r_fail(int k, struct hostent **result, int *h_errnop)
{
    *result = NULL;
    if (h_errnop != NULL) {
        *h_errnop = k == EA ? TRY_AGAIN : NETDB_INTERNAL;
    }
    return KERRNO(k);
}

static int w_gethostbyname_r(const char *restrict name,
                             struct hostent *restrict ret, char *restrict buf,
                             size_t buflen, struct hostent **restrict result,
                             int *restrict h_errnop)
{
    int k = TAKE(gethostbyname_r, EA | EN);
    if (k) {
        return he_r_fail(k, result, h_errnop);
    }
    return R.gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
}

static int w_gethostbyname2_r(const char *restrict name, int af,
                              struct hostent *restrict ret,
                              char *restrict buf, size_t buflen,
                              struct hostent **restrict result,
                              int *restrict h_errnop)
{
    int k = TAKE(gethostbyname2_r, EA | EN);
    if (k) {
        return he_r_fail(k, result, h_errnop);
    }
    return R.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
}

static int w_gethostbyaddr_r(const void *restrict addr, socklen_t len,
                             int type, struct hostent *restrict ret,
                             char *restrict buf, size_t buflen,
                             struct hostent **restrict result,
                             int *restrict h_errnop)
{
    int k = TAKE(gethostbyaddr_r, EA | EN);
    if (k) {
        return he_r_fail(k, result, h_errnop);
    }
    return R.gethostbyaddr_r(addr, len, type, ret, buf, buflen, result,
                             h_errnop);
}

#define WRAP(name) [GREEN__RID_##name] = (green__fault_fn)w_##name

static const green__fault_fn wraps[GREEN__RID_COUNT] = {
    WRAP(read), WRAP(write), WRAP(readv), WRAP(writev), WRAP(pread),
    WRAP(pwrite), WRAP(recv), WRAP(recvfrom), WRAP(recvmsg), WRAP(send),
    WRAP(sendto), WRAP(sendmsg), WRAP(accept), WRAP(accept4),
    WRAP(connect), WRAP(close), WRAP(fclose), WRAP(dup), WRAP(dup2),
    WRAP(dup3), WRAP(fcntl), WRAP(setsockopt), WRAP(socket),
    WRAP(socketpair), WRAP(pipe), WRAP(pipe2), WRAP(poll), WRAP(ppoll),
    WRAP(select), WRAP(pselect), WRAP(epoll_wait), WRAP(epoll_pwait),
    WRAP(sleep), WRAP(usleep), WRAP(nanosleep), WRAP(clock_nanosleep),
    WRAP(fork), WRAP(pthread_create), WRAP(pthread_key_create),
    WRAP(pthread_setspecific), WRAP(pthread_mutex_init),
    WRAP(pthread_cond_init), WRAP(sem_wait), WRAP(sem_timedwait),
    WRAP(sem_trywait), WRAP(getaddrinfo), WRAP(getnameinfo),
    WRAP(gethostbyname), WRAP(gethostbyname2), WRAP(gethostbyaddr),
    WRAP(gethostbyname_r), WRAP(gethostbyname2_r), WRAP(gethostbyaddr_r),
};

green__fault_fn green__fault_real(int id, green__fault_fn real)
{
    int m = current_mode();
    if (m <= M_OFF || id < 0 || id >= GREEN__RID_COUNT ||
        wraps[id] == NULL) {
        return real;
    }
    return wraps[id];
}

#endif /* GREEN_FAULT_INJECTION */
