/* SPDX-License-Identifier: MIT */
/* Child processes, one line of outcome per case; differential.sh runs it
 * natively and under the preload and requires the same bytes. Most
 * children cannot exit before another thread of this program writes to a
 * pipe they read, so a wait that stopped every thread would never end; a
 * ticker thread runs throughout, and each wait checks it ticked.
 *
 *   wait      waitpid(pid), wait, wait3, wait4(-1) with rusage, waitpid
 *             on the process group, waitid(P_PID) and waitid(P_ALL,
 *             WNOWAIT) then waitpid, posix_spawn + waitpid, stops and
 *             continues (WUNTRACED, WCONTINUED), a death by signal, the
 *             program's own SIGCHLD handler; bad input: ECHILD at once
 *             for a pid that is no child and with no children, EINVAL
 *   system    the exit status, system(NULL), a command waiting for
 *             another thread, SIGINT ignored while it runs (and the
 *             handler back afterwards), SIGCHLD handled after it
 *   popen     read and write streams, a child that waits for another
 *             thread while pclose waits for it, "e", bad modes, earlier
 *             popen streams closed in the child
 *   eintr     a handled SIGALRM without SA_RESTART ends waitpid with
 *             EINTR, one with SA_RESTART does not (run with no other
 *             thread, so that natively main is the one to take it)
 */
#include "legacy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void out(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stdarg.h>

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

static const char *describe(int st)
{
    static char buf[64];
    if (WIFEXITED(st)) {
        snprintf(buf, sizeof(buf), "exited %d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        snprintf(buf, sizeof(buf), "killed by %s", sigabbrev_np(WTERMSIG(st)));
    } else if (WIFSTOPPED(st)) {
        snprintf(buf, sizeof(buf), "stopped by %s", sigabbrev_np(WSTOPSIG(st)));
    } else if (WIFCONTINUED(st)) {
        snprintf(buf, sizeof(buf), "continued");
    } else {
        snprintf(buf, sizeof(buf), "status %#x", st);
    }
    return buf;
}

/* --- the ticker and the helper that feeds children ----------------------- */

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

/* A thread that, after 10 ticks, writes s (or the byte c) to fd. */
struct feed {
    int fd;
    char c;
    const char *s;
    pthread_t t;
};

static void *feed_body(void *arg)
{
    struct feed *f = arg;
    await_ticks(10);
    if (f->s != NULL) {
        size_t n = strlen(f->s);
        LEGACY_CHECK(write(f->fd, f->s, n) == (ssize_t)n);
    } else {
        LEGACY_CHECK(write(f->fd, &f->c, 1) == 1);
    }
    return NULL;
}

static void feed_later(struct feed *f, int fd, char c)
{
    f->fd = fd;
    f->c = c;
    f->s = NULL;
    LEGACY_CHECK(pthread_create(&f->t, NULL, feed_body, f) == 0);
}

static void feed_line_later(struct feed *f, int fd, const char *s)
{
    f->fd = fd;
    f->s = s;
    LEGACY_CHECK(pthread_create(&f->t, NULL, feed_body, f) == 0);
}

static void feed_done(struct feed *f)
{
    LEGACY_CHECK(pthread_join(f->t, NULL) == 0);
}

/* A forked child that exits with the byte it reads from fd. */
static pid_t child_reading(int fd)
{
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        char c = 0;
        ssize_t n = read(fd, &c, 1);
        _exit(n == 1 ? c : 99);
    }
    return pid;
}

/* A pipe whose ends children inherit. */
static void open_pipe(int p[2])
{
    LEGACY_CHECK(pipe(p) == 0);
}

static void close_pipe(int p[2])
{
    close(p[0]);
    close(p[1]);
}

/* "  NAME: ticker ran while it waited   yes". */
static void ticked(const char *name, long t0)
{
    char line[96];
    snprintf(line, sizeof(line), "  %s: ticker ran meanwhile", name);
    out(line, "%s", yes(atomic_load(&ticks) - t0 >= 1)); /* one tick: see futex.c */
}

/* --- waits ---------------------------------------------------------------- */

static atomic_int chld_seen;

static void on_chld(int sig)
{
    (void)sig;
    atomic_fetch_add(&chld_seen, 1);
}

static void waits(void)
{
    int p[2];
    struct feed f;
    int st;
    long t0;

    open_pipe(p);
    pid_t pid = child_reading(p[0]);
    t0 = atomic_load(&ticks);
    feed_later(&f, p[1], 7);
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    out("waitpid(pid), child waits for a thread", "%s", describe(st));
    ticked("waitpid(pid)", t0);
    feed_done(&f);

    pid = child_reading(p[0]);
    t0 = atomic_load(&ticks);
    feed_later(&f, p[1], 8);
    out("wait() returns the child", "%s", yes(wait(&st) == pid));
    out("  its status", "%s", describe(st));
    ticked("wait()", t0);
    feed_done(&f);

    struct rusage ru;
    pid = child_reading(p[0]);
    feed_later(&f, p[1], 9);
    memset(&ru, 0xff, sizeof(ru));
    out("wait3() returns the child", "%s", yes(wait3(&st, 0, &ru) == pid));
    out("  its status, rusage filled", "%s, %s", describe(st),
        yes(ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000));
    feed_done(&f);

    pid = child_reading(p[0]);
    feed_later(&f, p[1], 10);
    out("wait4(-1) returns the child", "%s", yes(wait4(-1, &st, 0, &ru) == pid));
    out("  its status", "%s", describe(st));
    feed_done(&f);

    pid = child_reading(p[0]);
    feed_later(&f, p[1], 11);
    out("waitpid(0) (process group)", "%s", yes(waitpid(0, &st, 0) == pid));
    feed_done(&f);
    pid = child_reading(p[0]);
    feed_later(&f, p[1], 12);
    out("waitpid(-pgrp)", "%s", yes(waitpid(-getpgrp(), &st, 0) == pid));
    out("  its status", "%s", describe(st));
    feed_done(&f);

    siginfo_t si;
    pid = child_reading(p[0]);
    t0 = atomic_load(&ticks);
    feed_later(&f, p[1], 3);
    memset(&si, 0, sizeof(si));
    result("waitid(P_PID, WEXITED)", waitid(P_PID, (id_t)pid, &si, WEXITED));
    out("  si_pid, si_code, si_status", "%s, %s, %d", yes(si.si_pid == pid),
        si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status);
    ticked("waitid(P_PID)", t0);
    feed_done(&f);

    pid = child_reading(p[0]);
    feed_later(&f, p[1], 4);
    memset(&si, 0, sizeof(si));
    result("waitid(P_ALL, WEXITED|WNOWAIT)",
           waitid(P_ALL, 0, &si, WEXITED | WNOWAIT));
    out("  it names the child", "%s", yes(si.si_pid == pid));
    out("  and waitpid then reaps it", "%s", yes(waitpid(pid, &st, 0) == pid));
    out("  its status", "%s", describe(st));
    feed_done(&f);

    /* posix_spawn + waitpid. */
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "read -r x <&%d; exit 5", p[0]);
    char *argv[] = {"sh", "-c", cmd, NULL};
    LEGACY_CHECK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0);
    t0 = atomic_load(&ticks);
    feed_later(&f, p[1], '\n');
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    out("posix_spawn, then waitpid", "%s", describe(st));
    ticked("posix_spawn + waitpid", t0);
    feed_done(&f);

    /* Through syscall(). */
    pid = child_reading(p[0]);
    t0 = atomic_load(&ticks);
    feed_later(&f, p[1], 13);
    out("syscall(SYS_wait4, pid)", "%s",
        yes(syscall(SYS_wait4, pid, &st, 0, NULL) == pid));
    out("  its status", "%s", describe(st));
    ticked("syscall(SYS_wait4)", t0);
    feed_done(&f);

    /* Stops and continues. */
    pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        raise(SIGSTOP);
        char c;
        _exit(read(p[0], &c, 1) == 1 ? c : 99);
    }
    LEGACY_CHECK(waitpid(pid, &st, WUNTRACED) == pid);
    out("waitpid(WUNTRACED)", "%s", describe(st));
    kill(pid, SIGCONT);
    LEGACY_CHECK(waitpid(pid, &st, WCONTINUED) == pid);
    out("waitpid(WCONTINUED)", "%s", describe(st));
    kill(pid, SIGTERM);
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    out("waitpid after SIGTERM", "%s", describe(st));

    /* The program's own SIGCHLD handler runs. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGCHLD, &sa, &old) == 0);
    atomic_store(&chld_seen, 0);
    pid = child_reading(p[0]);
    feed_later(&f, p[1], 2);
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    for (int i = 0; i < 1000 && atomic_load(&chld_seen) == 0; i++) {
        usleep(1000);
    }
    out("the program's SIGCHLD handler ran", "%s",
        yes(atomic_load(&chld_seen) >= 1));
    feed_done(&f);
    LEGACY_CHECK(sigaction(SIGCHLD, &old, NULL) == 0);

    /* Bad input: at once. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    result("waitpid(1) (no child of ours)", waitpid(1, &st, 0));
    result("waitpid(-1) without children", waitpid(-1, &st, 0));
    result("wait() without children", wait(&st));
    memset(&si, 0, sizeof(si));
    result("waitid(P_ALL) without children", waitid(P_ALL, 0, &si, WEXITED));
    result("waitpid, bad options", waitpid(-1, &st, 0x40000000));
    result("waitid, no event asked for", waitid(P_ALL, 0, &si, 0));
    clock_gettime(CLOCK_MONOTONIC, &b);
    out("  all of them at once", "%s",
        yes((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 <
            500));
    close_pipe(p);
}

/* --- system() ------------------------------------------------------------- */

static atomic_int int_seen;

static void on_int(int sig)
{
    (void)sig;
    atomic_fetch_add(&int_seen, 1);
}

static void systems(void)
{
    int st = system("exit 3");
    out("system(\"exit 3\")", "%s", describe(st));
    out("system(NULL)", "%s", yes(system(NULL) != 0));

    long t0 = atomic_load(&ticks);
    st = system("sleep 0.1");
    out("system(\"sleep 0.1\")", "%s", describe(st));
    ticked("system(sleep)", t0);

    int p[2];
    open_pipe(p);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "read -r x <&%d; exit $x", p[0]);
    struct feed f;
    t0 = atomic_load(&ticks);
    feed_line_later(&f, p[1], "6\n");
    st = system(cmd);
    feed_done(&f);
    out("system(), command waits for a thread", "%s", describe(st));
    ticked("system(read)", t0);
    close_pipe(p);

    /* SIGINT is ignored while system() runs; the handler is back after. */
    struct sigaction sa, old, now;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_int;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGINT, &sa, &old) == 0);
    atomic_store(&int_seen, 0);
    st = system("kill -INT $PPID; kill -QUIT $PPID; exit 0");
    out("system() sending SIGINT and SIGQUIT to us", "%s", describe(st));
    out("  our SIGINT handler ran meanwhile", "%s",
        yes(atomic_load(&int_seen) != 0));
    LEGACY_CHECK(sigaction(SIGINT, NULL, &now) == 0);
    out("  the handler is back", "%s", yes(now.sa_handler == on_int));
    LEGACY_CHECK(sigaction(SIGINT, &old, NULL) == 0);

    /* SIGCHLD: handled, once system() is done. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGCHLD, &sa, &old) == 0);
    atomic_store(&chld_seen, 0);
    st = system("exit 0");
    for (int i = 0; i < 1000 && atomic_load(&chld_seen) == 0; i++) {
        usleep(1000);
    }
    out("SIGCHLD handled after system()", "%s",
        yes(atomic_load(&chld_seen) >= 1));
    LEGACY_CHECK(sigaction(SIGCHLD, &old, NULL) == 0);
}

/* --- popen() -------------------------------------------------------------- */

static void popens(void)
{
    char buf[128] = "";
    FILE *f = popen("echo hello", "r");
    LEGACY_CHECK(f != NULL);
    LEGACY_CHECK(fgets(buf, sizeof(buf), f) != NULL);
    out("popen(\"echo hello\", \"r\") read", "%.*s", (int)strcspn(buf, "\n"),
        buf);
    out("  pclose", "%s", describe(pclose(f)));

    char path[] = "/tmp/legacy-proc-XXXXXX";
    int tfd = mkstemp(path);
    LEGACY_CHECK(tfd >= 0);
    close(tfd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "cat > %s; exit 4", path);
    f = popen(cmd, "w");
    LEGACY_CHECK(f != NULL);
    for (int i = 0; i < 1000; i++) {
        fputc('a' + i % 26, f);
    }
    out("popen(\"cat > file\", \"w\"), pclose", "%s", describe(pclose(f)));
    FILE *r = fopen(path, "r");
    LEGACY_CHECK(r != NULL);
    long n = 0;
    while (fgetc(r) != EOF) {
        n++;
    }
    fclose(r);
    unlink(path);
    out("  bytes the child wrote", "%ld", n);

    /* pclose waits for a child that waits for another thread. */
    int p[2];
    open_pipe(p);
    snprintf(cmd, sizeof(cmd), "read -r x <&%d; exit $x", p[0]);
    f = popen(cmd, "w");
    LEGACY_CHECK(f != NULL);
    struct feed fd1;
    long t0 = atomic_load(&ticks);
    feed_line_later(&fd1, p[1], "8\n");
    int st = pclose(f);
    feed_done(&fd1);
    out("pclose, child waits for a thread", "%s", describe(st));
    ticked("pclose", t0);
    close_pipe(p);

    errno = 0;
    FILE *bad = popen("true", "x");
    out("popen(..., \"x\")", "%s %s", yes(bad == NULL),
        strerrorname_np(errno));
    errno = 0;
    bad = popen("true", "rw");
    out("popen(..., \"rw\")", "%s %s", yes(bad == NULL),
        strerrorname_np(errno));

    f = popen("true", "re");
    LEGACY_CHECK(f != NULL);
    out("popen \"re\": close-on-exec", "%s",
        yes(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC));
    pclose(f);
    f = popen("true", "r");
    LEGACY_CHECK(f != NULL);
    out("popen \"r\": close-on-exec", "%s",
        yes(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC));
    pclose(f);

    FILE *a = popen("cat > /dev/null", "w");
    LEGACY_CHECK(a != NULL);
    snprintf(cmd, sizeof(cmd),
             "if [ -e /proc/$$/fd/%d ]; then echo open; else echo closed; fi",
             fileno(a));
    f = popen(cmd, "r");
    LEGACY_CHECK(f != NULL);
    LEGACY_CHECK(fgets(buf, sizeof(buf), f) != NULL);
    out("an earlier popen stream, in a later child", "%.*s",
        (int)strcspn(buf, "\n"), buf);
    pclose(f);
    out("  its pclose", "%s", describe(pclose(a)));
}

/* --- EINTR (no other thread) ---------------------------------------------- */

static void on_alrm(int sig)
{
    (void)sig;
}

/* A forked child that exits 1 after ms milliseconds. */
static pid_t child_sleeping(long ms)
{
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) == -1 && errno == EINTR) {
        }
        _exit(1);
    }
    return pid;
}

static void eintr_case(bool restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alrm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    pid_t pid = child_sleeping(restart ? 150 : 1000);
    struct itimerval it = {{0, 0}, {0, 50000}};
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    int st;
    if (restart) {
        out("waitpid, SIGALRM with SA_RESTART: the child", "%s",
            yes(waitpid(pid, &st, 0) == pid));
        out("  its status", "%s", describe(st));
    } else {
        result("waitpid, SIGALRM without SA_RESTART", waitpid(pid, &st, 0));
        kill(pid, SIGKILL);
        LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
        out("  then the child", "%s", describe(st));
    }
    signal(SIGALRM, SIG_DFL);
}

static void eintrs(void)
{
    eintr_case(false);
    eintr_case(true);
}

static const struct {
    const char *name;
    void (*run)(void);
    bool alone; /* without the ticker */
} groups[] = {
    {"wait", waits, false},
    {"system", systems, false},
    {"popen", popens, false},
    {"eintr", eintrs, true},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (groups[i].alone || (argc > 1 && strcmp(argv[1], groups[i].name))) {
            continue;
        }
        groups[i].run();
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
