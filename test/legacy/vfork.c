/* SPDX-License-Identifier: MIT */
/* vfork as CPython's _posixsubprocess uses it: the parent blocks every
 * signal around vfork, the child restores its mask with pthread_sigmask
 * and execs, the parent restores its own. A vfork child runs on the
 * parent's memory: under the preload its pthread_sigmask went through
 * the signal bridge and left the parent's OS thread with every signal
 * blocked while the bridge believed otherwise, so a signal to the process
 * was never handled afterwards. Under the preload vfork is fork now
 * (preload/fork.c). A thread runs and ends first, so that the runtime
 * is up; during the vfork main is the only thread, so its mask is the OS
 * thread's. Prints what happened; the same natively and preloaded.
 *
 * Usage: vfork [list | GROUP] (one group, "mask"). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
    (void)sig;
    handled = 1;
}

static void *brief(void *arg)
{
    struct timespec ts = {0, 2000000L};
    nanosleep(&ts, NULL);
    return arg;
}

static void group_mask(void)
{
    pthread_t t;
    pthread_create(&t, NULL, brief, NULL);
    pthread_join(t, NULL);
    signal(SIGUSR1, on_usr1);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int st = -1;
    waitpid(pid, &st, 0);
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 200 && !handled; i++) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    printf("mask: child exited %d; SIGUSR1 handled after it: %s\n",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1, handled ? "yes" : "no");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        printf("mask\n");
        return 0;
    }
    group_mask();
    return 0;
}
