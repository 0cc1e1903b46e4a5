/* SPDX-License-Identifier: MIT */
/* File locks, FIFO opens and exec, one line of outcome per case;
 * differential.sh requires the same bytes natively and under the
 * preload. The holder of each lock (another process, or another thread)
 * lets go only after a third thread writes to a pipe, and each FIFO's
 * other end is opened by another thread later, so a wait that stopped
 * every thread would never end; a ticker thread runs throughout.
 *
 *   flock    another process's lock, another thread's (two opens), LOCK_SH
 *            beside LOCK_SH, LOCK_NB, EBADF, EINVAL
 *   fcntl    F_SETLKW against another process, F_SETLK's EAGAIN, F_GETLK,
 *            EDEADLK, F_OFD_SETLKW between two threads, syscall(SYS_fcntl)
 *   lockf    F_LOCK against another process, F_TLOCK, F_TEST
 *   fifo     open for reading and for writing, each waiting for the other
 *            end (the fd number as natively), O_NONBLOCK, O_RDWR, openat,
 *            ENXIO
 *   exec     a listening socket accepted on, then given to a program
 *            started by execve, posix_spawn and fork + execv: each sees
 *            the flags it would natively (no O_NONBLOCK)
 *   eintr    a FIFO open ended by SIGALRM without SA_RESTART (EINTR, and
 *            no fd left behind), and one with SA_RESTART that goes on
 */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void out(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out(const char *name, const char *fmt, ...)
{
    printf("%-48s ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *yes(bool b)
{
    return b ? "yes" : "no";
}

static void result(const char *name, long r)
{
    if (r == -1) {
        out(name, "-1 %s", strerrorname_np(errno));
    } else {
        out(name, "%ld", r);
    }
}

/* --- the ticker, and threads that act later -------------------------------- */

static atomic_long ticks;
static atomic_int stop;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

static void await_ticks(long n)
{
    long t0 = atomic_load(&ticks);
    while (atomic_load(&ticks) < t0 + n) {
        usleep(1000);
    }
}

static void ticked(const char *name, long t0)
{
    char line[96];
    snprintf(line, sizeof(line), "  %s: ticker ran meanwhile", name);
    out(line, "%s", yes(atomic_load(&ticks) - t0 >= 1)); /* one tick: see futex.c */
}

/* Runs fn(arg) on a thread after 10 ticks. */
struct later {
    void (*fn)(void *);
    void *arg;
    pthread_t t;
};

static void *later_body(void *p)
{
    struct later *l = p;
    await_ticks(10);
    l->fn(l->arg);
    return NULL;
}

static void run_later(struct later *l, void (*fn)(void *), void *arg)
{
    l->fn = fn;
    l->arg = arg;
    LEGACY_CHECK(pthread_create(&l->t, NULL, later_body, l) == 0);
}

static void join_later(struct later *l)
{
    LEGACY_CHECK(pthread_join(l->t, NULL) == 0);
}

static void write_byte(void *arg)
{
    LEGACY_CHECK(write(*(int *)arg, "x", 1) == 1);
}

/* --- a lock holder in another process ---------------------------------------- */

enum how { BY_FLOCK, BY_FCNTL, BY_LOCKF };

struct holder {
    pid_t pid;
    int go[2]; /* the parent writes a byte: let go */
};

/* Forks a child that takes the lock on path, says so, and lets go when
 * the parent's byte comes. */
static void hold(struct holder *h, const char *path, enum how how)
{
    int ready[2];
    LEGACY_CHECK(pipe(ready) == 0 && pipe(h->go) == 0);
    h->pid = fork();
    LEGACY_CHECK(h->pid >= 0);
    if (h->pid == 0) {
        int fd = open(path, O_RDWR);
        int r = -1;
        if (how == BY_FLOCK) {
            r = flock(fd, LOCK_EX);
        } else if (how == BY_FCNTL) {
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                               .l_start = 0, .l_len = 100};
            r = fcntl(fd, F_SETLK, &fl);
        } else {
            r = lockf(fd, F_LOCK, 100);
        }
        char c = r == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(h->go[0], &c, 1) != 1) {
            _exit(2);
        }
        _exit(0);
    }
    char c;
    LEGACY_CHECK(read(ready[0], &c, 1) == 1 && c == 'y');
    close(ready[0]);
    close(ready[1]);
}

static void release(struct holder *h)
{
    int st;
    LEGACY_CHECK(waitpid(h->pid, &st, 0) == h->pid);
    LEGACY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(h->go[0]);
    close(h->go[1]);
}

static char path[64];

static int make_file(void)
{
    snprintf(path, sizeof(path), "/tmp/legacy-locks-XXXXXX");
    int fd = mkstemp(path);
    LEGACY_CHECK(fd >= 0);
    LEGACY_CHECK(ftruncate(fd, 4096) == 0);
    return fd;
}

/* --- flock --------------------------------------------------------------------- */

struct unlock_arg {
    int fd;
    int how; /* 0 flock, 1 OFD */
};

static void unlock_it(void *p)
{
    struct unlock_arg *u = p;
    if (u->how == 0) {
        LEGACY_CHECK(flock(u->fd, LOCK_UN) == 0);
    } else {
        struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET,
                           .l_start = 0, .l_len = 100};
        LEGACY_CHECK(fcntl(u->fd, F_OFD_SETLK, &fl) == 0);
    }
}

static void flocks(void)
{
    int fd = make_file();
    struct holder h;
    struct later l;
    hold(&h, path, BY_FLOCK);
    result("flock(LOCK_EX|LOCK_NB), another process holds it",
           flock(fd, LOCK_EX | LOCK_NB));
    long t0 = atomic_load(&ticks);
    run_later(&l, write_byte, &h.go[1]);
    result("flock(LOCK_EX), another process holds it", flock(fd, LOCK_EX));
    ticked("flock", t0);
    join_later(&l);
    release(&h);
    result("flock(LOCK_UN)", flock(fd, LOCK_UN));

    /* Another thread, through another open of the file. */
    int fd2 = open(path, O_RDWR);
    LEGACY_CHECK(fd2 >= 0);
    result("flock(LOCK_EX) by this thread", flock(fd2, LOCK_EX));
    struct unlock_arg u = {fd2, 0};
    t0 = atomic_load(&ticks);
    run_later(&l, unlock_it, &u);
    result("flock(LOCK_EX), another thread holds it", flock(fd, LOCK_EX));
    ticked("flock between threads", t0);
    join_later(&l);
    flock(fd, LOCK_UN);
    result("flock(LOCK_SH), this one", flock(fd, LOCK_SH));
    result("flock(LOCK_SH), beside it", flock(fd2, LOCK_SH | LOCK_NB));
    flock(fd, LOCK_UN);
    flock(fd2, LOCK_UN);
    result("flock(-1)", flock(-1, LOCK_EX));
    result("flock(fd, 0)", flock(fd, 0));
    result("flock(fd, LOCK_SH|LOCK_EX)", flock(fd, LOCK_SH | LOCK_EX));
    close(fd2);
    close(fd);
    unlink(path);
}

/* --- fcntl record locks ----------------------------------------------------------- */

static void fcntls(void)
{
    int fd = make_file();
    struct holder h;
    struct later l;
    hold(&h, path, BY_FCNTL);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50,
                       .l_len = 10};
    result("F_SETLK, another process holds it", fcntl(fd, F_SETLK, &fl));
    struct flock q = fl;
    result("F_GETLK", fcntl(fd, F_GETLK, &q));
    out("  it names the holder", "%s",
        yes(q.l_type == F_WRLCK && q.l_pid == h.pid));
    long t0 = atomic_load(&ticks);
    run_later(&l, write_byte, &h.go[1]);
    result("F_SETLKW, another process holds it", fcntl(fd, F_SETLKW, &fl));
    ticked("F_SETLKW", t0);
    join_later(&l);
    release(&h);

    /* A deadlock the kernel sees: we hold [50, 60) (above), the child
     * holds [0, 10) and waits for [50, 60); we ask for [0, 10). */
    int ready[2], go[2];
    LEGACY_CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        int cfd = open(path, O_RDWR);
        struct flock a = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                          .l_start = 0, .l_len = 10};
        struct flock b = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                          .l_start = 50, .l_len = 10};
        char c = fcntl(cfd, F_SETLK, &a) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) {
            _exit(2);
        }
        _exit(fcntl(cfd, F_SETLKW, &b) == 0 ? 0 : 3);
    }
    char c;
    LEGACY_CHECK(read(ready[0], &c, 1) == 1 && c == 'y');
    struct flock a = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
                      .l_len = 10};
    /* Give the child time to wait in the kernel for [50, 60). */
    for (int i = 0; i < 200; i++) {
        struct flock g = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                          .l_start = 0, .l_len = 10};
        LEGACY_CHECK(fcntl(fd, F_GETLK, &g) == 0);
        usleep(1000);
    }
    result("F_SETLKW that would deadlock", fcntl(fd, F_SETLKW, &a));
    fl.l_type = F_UNLCK;
    LEGACY_CHECK(fcntl(fd, F_SETLK, &fl) == 0);
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    out("  the child then got its lock", "%s",
        yes(WIFEXITED(st) && WEXITSTATUS(st) == 0));
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);

    /* OFD locks between two threads of this process. */
    int fd2 = open(path, O_RDWR);
    LEGACY_CHECK(fd2 >= 0);
    struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
                      .l_len = 100};
    result("F_OFD_SETLKW by this thread", fcntl(fd2, F_OFD_SETLKW, &o));
    result("F_OFD_SETLK through another open", fcntl(fd, F_OFD_SETLK, &o));
    struct unlock_arg u = {fd2, 1};
    t0 = atomic_load(&ticks);
    run_later(&l, unlock_it, &u);
    result("F_OFD_SETLKW, another thread holds it",
           fcntl(fd, F_OFD_SETLKW, &o));
    ticked("F_OFD_SETLKW", t0);
    join_later(&l);
    o.l_type = F_UNLCK;
    LEGACY_CHECK(fcntl(fd, F_OFD_SETLK, &o) == 0);

    /* Through syscall(). */
    hold(&h, path, BY_FCNTL);
    t0 = atomic_load(&ticks);
    run_later(&l, write_byte, &h.go[1]);
    fl.l_type = F_RDLCK;
    result("syscall(SYS_fcntl, F_SETLKW)",
           syscall(SYS_fcntl, fd, F_SETLKW, &fl));
    ticked("syscall(SYS_fcntl)", t0);
    join_later(&l);
    release(&h);
    close(fd2);
    close(fd);
    unlink(path);
}

/* --- lockf ---------------------------------------------------------------------- */

static void lockfs(void)
{
    int fd = make_file();
    struct holder h;
    struct later l;
    hold(&h, path, BY_LOCKF);
    result("lockf(F_TLOCK), another process holds it", lockf(fd, F_TLOCK, 10));
    result("lockf(F_TEST)", lockf(fd, F_TEST, 10));
    long t0 = atomic_load(&ticks);
    run_later(&l, write_byte, &h.go[1]);
    result("lockf(F_LOCK), another process holds it", lockf(fd, F_LOCK, 10));
    ticked("lockf", t0);
    join_later(&l);
    release(&h);
    result("lockf(F_ULOCK)", lockf(fd, F_ULOCK, 10));
    int ro = open(path, O_RDONLY);
    result("lockf(F_LOCK) of a file open for reading", lockf(ro, F_LOCK, 10));
    close(ro);
    close(fd);
    unlink(path);
}

/* --- FIFOs ------------------------------------------------------------------------- */

static char fifo[64];

struct opener {
    int flags;
    int fd;
};

static void open_fifo(void *p)
{
    struct opener *o = p;
    o->fd = open(fifo, o->flags);
    LEGACY_CHECK(o->fd >= 0);
}

/* The number the next open would get natively: the lowest free one. */
static int lowest_free(void)
{
    int fd = dup(0);
    LEGACY_CHECK(fd >= 0);
    close(fd);
    return fd;
}

static void fifos(void)
{
    snprintf(fifo, sizeof(fifo), "/tmp/legacy-fifo-%d", (int)getpid());
    unlink(fifo);
    LEGACY_CHECK(mkfifo(fifo, 0600) == 0);
    struct later l;
    struct opener w = {O_WRONLY, -1};
    await_ticks(2); /* (the preload's hub has its fds by now) */
    int expect = lowest_free();
    long t0 = atomic_load(&ticks);
    run_later(&l, open_fifo, &w);
    int r = open(fifo, O_RDONLY);
    out("open(O_RDONLY) waits for a writer", "%s", yes(r >= 0));
    out("  the fd is the lowest free one", "%s", yes(r == expect));
    ticked("open for reading", t0);
    join_later(&l);
    LEGACY_CHECK(write(w.fd, "hi", 2) == 2);
    char buf[8] = "";
    out("  and reads what was written", "%s",
        yes(read(r, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0));
    close(w.fd);
    close(r);

    struct opener rd = {O_RDONLY, -1};
    t0 = atomic_load(&ticks);
    run_later(&l, open_fifo, &rd);
    r = openat(AT_FDCWD, fifo, O_WRONLY | O_CLOEXEC);
    out("openat(O_WRONLY) waits for a reader", "%s", yes(r >= 0));
    out("  close-on-exec as asked", "%s", yes(fcntl(r, F_GETFD) & FD_CLOEXEC));
    ticked("open for writing", t0);
    join_later(&l);
    close(rd.fd);
    close(r);

    errno = 0;
    r = open(fifo, O_WRONLY | O_NONBLOCK);
    result("open(O_WRONLY|O_NONBLOCK), no reader", r);
    r = open(fifo, O_RDONLY | O_NONBLOCK);
    out("open(O_RDONLY|O_NONBLOCK), no writer", "%s", yes(r >= 0));
    close(r);
    r = open(fifo, O_RDWR);
    out("open(O_RDWR)", "%s", yes(r >= 0));
    close(r);
    result("open of a missing path", open("/tmp/legacy-no-such-fifo", O_RDONLY));
    unlink(fifo);
}

/* --- exec ------------------------------------------------------------------------ */

static char self[4096];

/* The program exec'd: prints what it sees of fd's flags. */
static int exec_child(const char *how, const char *fdarg)
{
    int fd = atoi(fdarg);
    int fl = fcntl(fd, F_GETFL);
    printf("%-48s %s\n", how,
           fl < 0 ? "closed" : (fl & O_NONBLOCK) ? "O_NONBLOCK" : "blocking");
    fflush(stdout);
    return 0;
}

struct acceptor {
    int lfd;
    int got;
};

static void *accept_once(void *p)
{
    struct acceptor *a = p;
    a->got = accept(a->lfd, NULL, NULL);
    return NULL;
}

/* A listening socket on loopback that a thread accepted one connection
 * on (the preload makes it non-blocking for that). */
static int accepted_once(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(lfd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    LEGACY_CHECK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    LEGACY_CHECK(listen(lfd, 8) == 0);
    LEGACY_CHECK(getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0);
    struct acceptor a = {lfd, -1};
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, accept_once, &a) == 0);
    await_ticks(5);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(connect(c, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(a.got >= 0);
    close(a.got);
    close(c);
    return lfd;
}

/* Forks a child that execs this program (execv, or the raw system call)
 * to print what it sees of fd's flags. */
static void fork_exec(int lfd, const char *how, bool raw)
{
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", lfd);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        char *argv[] = {self, "exec-child", (char *)how, fdarg, NULL};
        if (raw) {
            syscall(SYS_execve, self, argv, environ);
        } else {
            execv(self, argv);
        }
        _exit(127);
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    LEGACY_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void execs(void)
{
    int lfd = accepted_once();
    out("the program's own view of the socket", "%s",
        (fcntl(lfd, F_GETFL) & O_NONBLOCK) ? "O_NONBLOCK" : "blocking");
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", lfd);
    pid_t pid;
    char *argv[] = {self, "exec-child", "posix_spawn's program sees", fdarg,
                    NULL};
    LEGACY_CHECK(posix_spawn(&pid, self, NULL, NULL, argv, environ) == 0);
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    close(lfd);
    /* (After a fork + exec, the parent is not to accept on the socket
     * again: the child's exec gave the shared description back its
     * blocking flag, which the parent's preload does not know. Hence a
     * new socket each.) */
    lfd = accepted_once();
    fork_exec(lfd, "fork + execv's program sees", false);
    close(lfd);
    lfd = accepted_once();
    fork_exec(lfd, "fork + syscall(SYS_execve)'s program sees", true);
    close(lfd);
}

/* --- EINTR (no other thread) ------------------------------------------------------ */

static void on_alrm(int sig)
{
    (void)sig;
}

static void eintrs(void)
{
    snprintf(fifo, sizeof(fifo), "/tmp/legacy-fifo-%d", (int)getpid());
    unlink(fifo);
    LEGACY_CHECK(mkfifo(fifo, 0600) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alrm;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    int expect = lowest_free();
    struct itimerval it = {{0, 0}, {0, 50000}};
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    result("open of a FIFO, SIGALRM without SA_RESTART",
           open(fifo, O_RDONLY));
    /* A writer comes later: no fd may be left open for the failed open. */
    int w = open(fifo, O_WRONLY | O_NONBLOCK);
    usleep(50000);
    if (w >= 0) {
        close(w);
    }
    usleep(50000);
    out("  no fd left behind", "%s", yes(lowest_free() == expect));

    sa.sa_flags = SA_RESTART;
    LEGACY_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        usleep(150000);
        int fd = open(fifo, O_WRONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    int r = open(fifo, O_RDONLY);
    out("open of a FIFO, SIGALRM with SA_RESTART", "%s", yes(r >= 0));
    close(r);
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    signal(SIGALRM, SIG_DFL);
    unlink(fifo);
}

static const struct {
    const char *name;
    void (*run)(void);
    bool alone;
} groups[] = {
    {"flock", flocks, false}, {"fcntl", fcntls, false},
    {"lockf", lockfs, false}, {"fifo", fifos, false},
    {"exec", execs, false},   {"eintr", eintrs, true},
};

/* No argument: every group; "list": their names; a name: that group;
 * "exec-child HOW FD": the program the exec group starts. */
int main(int argc, char **argv)
{
    if (argc > 3 && strcmp(argv[1], "exec-child") == 0) {
        return exec_child(argv[2], argv[3]);
    }
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    LEGACY_CHECK(len > 0);
    self[len] = '\0';
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (!groups[i].alone &&
            (argc < 2 || strcmp(argv[1], groups[i].name) == 0)) {
            groups[i].run();
        }
    }
    atomic_store(&stop, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (groups[i].alone &&
            (argc < 2 || strcmp(argv[1], groups[i].name) == 0)) {
            groups[i].run();
        }
    }
    return 0;
}
