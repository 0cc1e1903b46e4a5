/* SPDX-License-Identifier: MIT */
/* Child processes: wait, waitpid, wait3, wait4 and waitid park only the
 * calling green thread; system() and popen()/pclose() keep glibc's
 * semantics without stopping the other green threads. posix_spawn and
 * fork + exec are as they were (spawning never waits for long); vfork is
 * fork (preload/fork.c).
 *
 * A wait. The call is made first as the program made it with WNOHANG
 * added: a child that has changed state is reaped (or reported) at once,
 * a pid that is not a child is ECHILD at once, bad options are EINVAL,
 * exactly as the kernel says them. Only when the answer is "children
 * exist, none is ready" does the green thread wait for an event, and
 * then it makes the call again:
 *  - for one child's exit (waitpid(pid, ...), no WUNTRACED/WCONTINUED),
 *    on a pidfd (pidfd_open, Linux 5.3), which the hub polls: no thread,
 *    no signal. The pidfd is moved above half the fd limit so that the
 *    program's own open() and pipe() get the numbers they would get;
 *  - otherwise (any child, a process group, stops and continues, or no
 *    pidfd), a worker thread of the pool (lib/workers.h) waits in
 *    waitid(..., WNOWAIT), which reports the event without consuming it,
 *    and the green thread's own call then reaps it. Such a wait can last
 *    for ever, so it gets a thread of its own (GREEN__JOB_WAITS). A signal
 *    that ends the program's wait (EINTR, as without SA_RESTART) leaves
 *    the worker to finish on the next event;
 *  - __WNOTHREAD (only this thread's children, which another thread
 *    cannot wait for) polls, every 1 ms doubling to 50 ms.
 * Nothing installs a SIGCHLD handler or changes the signal mask, so the
 * program's own SIGCHLD handler runs as it would (and may reap first, as
 * natively, leaving the waiter ECHILD).
 *
 * system(): as glibc 2.36's do_system: SIGINT and SIGQUIT ignored while
 * any system() runs (counted, the first saves the program's actions and
 * the last puts them back), SIGCHLD blocked in the caller (here the OS
 * thread: a SIGCHLD of another child is handled once system() returns),
 * "sh -c COMMAND" spawned with the caller's mask and SIGINT/SIGQUIT back
 * to default unless they were ignored, waited for (EINTR retried), status
 * 127 << 8 when the spawn fails; system(NULL) says whether a shell runs.
 *
 * popen()/pclose(): as glibc 2.36's: a pipe (O_CLOEXEC), "sh -c COMMAND"
 * spawned with its end on stdin or stdout and the streams of earlier
 * popen calls closed, the parent's end close-on-exec only with "e", a
 * mode other than one of r and w (and e) EINVAL; pclose closes the
 * stream, then waits for the child (green), EINTR retried, and returns
 * its status. The stream is an fdopen one: fclose on it (which POSIX
 * leaves undefined for popen streams) does not wait as glibc's would. */
#include "preload.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cancel.h"
#include "green/io.h"
#include "workers.h"

extern char **environ;

static bool green(void)
{
    return green__go_green(GREEN_PATCH_OS);
}

/* --- waiting for a child event ------------------------------------------- */

/* A pidfd for pid, moved high, or -errno. */
static int pidfd_for(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        return -errno;
    }
    struct rlimit rl;
    int floor = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64) {
        floor = rl.rlim_cur > 65536 ? 32768 : (int)(rl.rlim_cur / 2);
    }
    int high = GREEN_REAL(fcntl)((int)fd, F_DUPFD_CLOEXEC, floor);
    if (high >= 0) {
        GREEN_REAL(close)((int)fd);
        return high;
    }
    return (int)fd; /* no room up there: keep the low number */
}

struct waitreq {
    idtype_t idtype;
    id_t id;
    int options;
};

static void run_waitid(struct green__job *j)
{
    struct waitreq *w = j->arg;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    int r;
    do {
        r = GREEN_REAL(waitid)(w->idtype, w->id, &si, w->options | WNOWAIT);
    } while (r == -1 && errno == EINTR);
    j->ret = r;
}

/* Waits until a child matching (idtype, id) may have an event of the
 * kinds waitid's options name; the caller then asks again. 0, or -EINTR
 * (a signal that would have ended the program's wait). */
static int child_event_wait(idtype_t idtype, id_t id, int options);

/* child_event_wait with the wait noted as a child's (lib/dump.c names it
 * so, not as the wait on its pidfd or worker). */
static int child_event(idtype_t idtype, id_t id, int options)
{
    struct green__thread *t = green__thread_peek();
    struct greenlet *self = t != NULL ? t->current : NULL;
    long who = idtype == P_PID ? (long)id : idtype == P_PGID ? -(long)id
                                                             : -1;
    bool noted = self != NULL &&
                 green__wait_note(self, GREEN__WAIT_CHILD, who, 0);
    int r = child_event_wait(idtype, id, options);
    if (self != NULL) {
        green__wait_unnote(self, noted);
    }
    return r;
}

static int child_event_wait(idtype_t idtype, id_t id, int options)
{
    int intr = GREEN__INTR_RESTART;
    if (idtype == P_PID &&
        !(options & (WSTOPPED | WCONTINUED | __WNOTHREAD))) {
        int fd = pidfd_for((pid_t)id);
        if (fd >= 0) {
            int r = green__hub_io_wait_intr(fd, POLLIN, GREEN_FOREVER, intr);
            green_close(fd);
            return r == -EINTR ? -EINTR : 0;
        }
        if (fd == -ESRCH) {
            return 0; /* gone already: the next call says what it is */
        }
    }
    if (!(options & __WNOTHREAD)) {
        struct green__job *j = calloc(1, sizeof(*j) + sizeof(struct waitreq));
        if (j != NULL) {
            struct waitreq *w = (struct waitreq *)(j + 1);
            *w = (struct waitreq){idtype, id, options & ~WNOHANG};
            j->run = run_waitid;
            j->arg = w;
            int r = green__work_intr(j, GREEN__JOB_WAITS, intr);
            if (r == 0) {
                free(j);
                return 0;
            }
            if (r == -EINTR) {
                return -EINTR; /* the pool has it now */
            }
            free(j);
        }
    }
    /* No pidfd and no worker (or __WNOTHREAD): look again soon. */
    static __thread double backoff;
    backoff = backoff == 0.0 ? 0.001 : fmin(backoff * 2, 0.05);
    int r = green__hub_park_intr(backoff, "a child process", NULL, intr);
    if (r != -ETIMEDOUT) {
        backoff = 0.0;
    }
    return r == -EINTR ? -EINTR : 0;
}

/* wait4's pid as waitid's (idtype, id). */
static void pid_to_id(pid_t pid, idtype_t *idtype, id_t *id)
{
    if (pid < -1) {
        *idtype = P_PGID;
        *id = (id_t)-pid;
    } else if (pid == -1) {
        *idtype = P_ALL;
        *id = 0;
    } else if (pid == 0) {
        *idtype = P_PGID;
        *id = (id_t)getpgrp();
    } else {
        *idtype = P_PID;
        *id = (id_t)pid;
    }
}

/* wait4's options as waitid's. */
static int wait4_to_waitid(int options)
{
    int o = WEXITED;
    if (options & WUNTRACED) {
        o |= WSTOPPED;
    }
    o |= options & (WCONTINUED | __WALL | __WCLONE | __WNOTHREAD);
    return o;
}

static pid_t green_wait4(pid_t pid, int *status, int options,
                         struct rusage *ru)
{
    idtype_t idtype;
    id_t id;
    pid_to_id(pid, &idtype, &id);
    for (;;) {
        pid_t r = GREEN_REAL(wait4)(pid, status, options | WNOHANG, ru);
        if (r != 0) {
            return r; /* a child, or an error (ECHILD, EINVAL) at once */
        }
        if (child_event(idtype, id, wait4_to_waitid(options)) == -EINTR) {
            errno = EINTR;
            return -1;
        }
    }
}

GREEN_INTERPOSE pid_t wait4(pid_t pid, int *status, int options,
                            struct rusage *ru)
{
    if ((options & WNOHANG) || !green()) {
        return GREEN_REAL(wait4)(pid, status, options, ru);
    }
    return GREEN__CANCELLABLE(pid_t, green_wait4(pid, status, options, ru));
}

GREEN_INTERPOSE pid_t waitpid(pid_t pid, int *status, int options)
{
    return wait4(pid, status, options, NULL);
}

GREEN_INTERPOSE pid_t wait(int *status)
{
    return wait4(-1, status, 0, NULL);
}

GREEN_INTERPOSE pid_t wait3(int *status, int options, struct rusage *ru)
{
    return wait4(-1, status, options, ru);
}

GREEN_INTERPOSE int waitid(idtype_t idtype, id_t id, siginfo_t *info,
                           int options)
{
    if ((options & WNOHANG) || !green()) {
        return GREEN_REAL(waitid)(idtype, id, info, options);
    }
    green__cancel_point();
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        int r = GREEN_REAL(waitid)(idtype, id, &si, options | WNOHANG);
        if (r != 0 || si.si_pid != 0) {
            if (r == 0 && info != NULL) {
                *info = si;
            }
            return r;
        }
        if (GREEN__CANCELLABLE(int, child_event(idtype, id, options)) ==
            -EINTR) {
            errno = EINTR;
            return -1;
        }
    }
}

/* --- system() ------------------------------------------------------------ */

static pthread_mutex_t sys_lock = PTHREAD_MUTEX_INITIALIZER;
static int sys_count;             /* system() calls running */
static struct sigaction sys_intr, sys_quit; /* saved by the first */
static pid_t sys_mask_tid;        /* the OS thread whose mask is saved */
static int sys_mask_count;        /* system() calls on it */
static sigset_t sys_omask;        /* its mask before the first */

static pid_t tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static int green_system(const char *line)
{
    struct sigaction ign;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigset_t chld, omask;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);

    GREEN_REAL(pthread_mutex_lock)(&sys_lock);
    if (sys_count++ == 0) {
        GREEN_REAL(sigaction)(SIGINT, &ign, &sys_intr);
        GREEN_REAL(sigaction)(SIGQUIT, &ign, &sys_quit);
    }
    /* The green threads of an OS thread share its mask: the first
     * system() there blocks SIGCHLD and keeps the mask it found, the last
     * one puts it back. */
    bool first_here = false;
    if (sys_mask_count == 0 || sys_mask_tid != tid()) {
        first_here = sys_mask_count == 0;
    }
    if (first_here) {
        pthread_sigmask(SIG_BLOCK, &chld, &sys_omask);
        sys_mask_tid = tid();
    }
    bool shared_mask = sys_mask_tid == tid();
    if (shared_mask) {
        sys_mask_count++;
        omask = sys_omask;
    } else {
        pthread_sigmask(SIG_BLOCK, &chld, &omask);
    }
    sigset_t reset;
    sigemptyset(&reset);
    if (sys_intr.sa_handler != SIG_IGN) {
        sigaddset(&reset, SIGINT);
    }
    if (sys_quit.sa_handler != SIG_IGN) {
        sigaddset(&reset, SIGQUIT);
    }
    GREEN_REAL(pthread_mutex_unlock)(&sys_lock);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &omask);
    posix_spawnattr_setsigdefault(&attr, &reset);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)line, NULL};
    int ret = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    int status;
    if (ret == 0) {
        pid_t r;
        do {
            r = green_wait4(pid, &status, 0, NULL);
        } while (r == -1 && errno == EINTR);
        if (r != pid) {
            status = -1;
        }
    } else {
        status = 127 << 8;
    }

    GREEN_REAL(pthread_mutex_lock)(&sys_lock);
    if (--sys_count == 0) {
        GREEN_REAL(sigaction)(SIGINT, &sys_intr, NULL);
        GREEN_REAL(sigaction)(SIGQUIT, &sys_quit, NULL);
    }
    if (shared_mask) {
        if (--sys_mask_count == 0) {
            pthread_sigmask(SIG_SETMASK, &sys_omask, NULL);
            sys_mask_tid = 0;
        }
    } else {
        pthread_sigmask(SIG_SETMASK, &omask, NULL);
    }
    GREEN_REAL(pthread_mutex_unlock)(&sys_lock);
    if (ret != 0) {
        errno = ret;
    }
    return status;
}

GREEN_INTERPOSE int system(const char *line)
{
    if (!green()) {
        return GREEN_REAL(system)(line);
    }
    if (line == NULL) {
        return green_system("exit 0") == 0;
    }
    return green_system(line);
}

/* --- popen() and pclose() ------------------------------------------------ */

/* Streams popen made, with their child's pid (glibc keeps the same list,
 * proc_file_chain, for the same two reasons). */
struct popened {
    FILE *f;
    int fd;
    pid_t pid;
    struct popened *next;
};

static pthread_mutex_t popen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct popened *popened;

GREEN_INTERPOSE FILE *popen(const char *command, const char *mode)
{
    if (!green__patch_on(GREEN_PATCH_OS)) {
        return GREEN_REAL(popen)(command, mode);
    }
    bool rd = false, wr = false, cloexec = false;
    for (const char *m = mode; *m != '\0'; m++) {
        switch (*m) {
        case 'r': rd = true; break;
        case 'w': wr = true; break;
        case 'e': cloexec = true; break;
        default: errno = EINVAL; return NULL;
        }
    }
    if (rd == wr) {
        errno = EINVAL;
        return NULL;
    }
    struct popened *p = malloc(sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(p);
        return NULL;
    }
    int parent_end = rd ? fds[0] : fds[1];
    int child_end = rd ? fds[1] : fds[0];
    int child_fd = rd ? 1 : 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* dup2 onto itself clears FD_CLOEXEC (glibc 2.29 and later). */
    posix_spawn_file_actions_adddup2(&fa, child_end, child_fd);
    GREEN_REAL(pthread_mutex_lock)(&popen_lock);
    /* POSIX: the streams of earlier popen calls are closed in the child. */
    for (struct popened *q = popened; q != NULL; q = q->next) {
        if (q->fd != child_fd) {
            posix_spawn_file_actions_addclose(&fa, q->fd);
        }
    }
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(child_end);
    FILE *f = NULL;
    if (r == 0) {
        if (!cloexec) {
            GREEN_REAL(fcntl)(parent_end, F_SETFD, 0);
        }
        f = fdopen(parent_end, rd ? "r" : "w");
    }
    if (f == NULL) {
        int e = r != 0 ? r : errno;
        close(parent_end);
        GREEN_REAL(pthread_mutex_unlock)(&popen_lock);
        if (r == 0) {
            waitpid(pid, NULL, 0);
        }
        free(p);
        errno = e;
        return NULL;
    }
    *p = (struct popened){.f = f, .fd = parent_end, .pid = pid,
                          .next = popened};
    popened = p;
    GREEN_REAL(pthread_mutex_unlock)(&popen_lock);
    return f;
}

GREEN_INTERPOSE int pclose(FILE *f)
{
    struct popened *mine = NULL;
    if (green__patch_on(GREEN_PATCH_OS)) {
        GREEN_REAL(pthread_mutex_lock)(&popen_lock);
        for (struct popened **pp = &popened; *pp != NULL;
             pp = &(*pp)->next) {
            if ((*pp)->f == f) {
                mine = *pp;
                *pp = mine->next;
                break;
            }
        }
        GREEN_REAL(pthread_mutex_unlock)(&popen_lock);
    }
    if (mine == NULL) {
        return GREEN_REAL(pclose)(f); /* not popen's: fclose, as glibc */
    }
    pid_t pid = mine->pid;
    free(mine);
    /* glibc's pclose: close the stream, then wait, EINTR retried. */
    fclose(f);
    int status;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r == -1 && errno == EINTR);
    return r == -1 ? -1 : status;
}
