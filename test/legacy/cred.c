/* SPDX-License-Identifier: MIT */
/* Credentials from threads: glibc's setgid and friends change every OS
 * thread of the process (a signal to each, SIGSETXID). Under the preload
 * a green pthread's setgid used to signal its own OS thread for ever, and
 * after a hand-off main runs on another OS thread than its own. Each
 * group changes the group ids from some thread and then reads the Gid
 * line of every OS thread in /proc/self/task: they must all agree.
 * Run as root it changes them for real (to 33, then 0 back is not
 * allowed: each group runs in a child process); otherwise it sets what
 * they already are, which still takes glibc's broadcast.
 *
 *   thread     a second thread calls setgid, setegid, setresgid, setgroups
 *   main       main calls them while two other threads sleep
 *   afterspin  main spins 100 ms first (under the preload: a hand-off),
 *              then calls setgid
 *
 * Usage: cred [list | GROUP]. */
#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static gid_t target(void)
{
    return geteuid() == 0 ? 33 : getgid();
}

/* Whether every OS thread's Gid line is the same. */
static int tasks_agree(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) {
        return 0;
    }
    char first[256] = "";
    int ok = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[300], line[256], gid[256] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue; /* ended meanwhile */
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "Gid:", 4) == 0) {
                snprintf(gid, sizeof(gid), "%s", line);
            }
        }
        fclose(f);
        if (first[0] == '\0') {
            snprintf(first, sizeof(first), "%s", gid);
        } else if (strcmp(first, gid) != 0) {
            ok = 0;
        }
    }
    closedir(d);
    return ok;
}

static int change(void)
{
    gid_t g = target();
    int r = setgid(g);
    r |= setegid(g);
    r |= setresgid(g, g, g);
    r |= geteuid() == 0 ? setgroups(1, &g) : 0;
    return r == 0;
}

static int stop;

static void *sleeper(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *changer(void *arg)
{
    (void)arg;
    return (void *)(long)change();
}

static void run(const char *name)
{
    pthread_t a, b;
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    pthread_create(&a, NULL, sleeper, NULL);
    pthread_create(&b, NULL, sleeper, NULL);
    int ok;
    if (strcmp(name, "thread") == 0) {
        pthread_t c;
        void *r;
        pthread_create(&c, NULL, changer, NULL);
        pthread_join(c, &r);
        ok = r != NULL;
    } else {
        if (strcmp(name, "afterspin") == 0) {
            struct timespec t0, t;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            do {
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while ((t.tv_sec - t0.tv_sec) * 1000000000L +
                         (t.tv_nsec - t0.tv_nsec) < 100000000L);
        }
        ok = change();
    }
    int agree = tasks_agree();
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%s: the calls succeeded: %s; every OS thread has the new ids: "
           "%s; getegid is the target: %s\n", name, ok ? "yes" : "no",
           agree ? "yes" : "no", getegid() == target() ? "yes" : "no");
}

int main(int argc, char **argv)
{
    static const char *const groups[] = {"thread", "main", "afterspin"};
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < 3; i++) {
            printf("%s\n", groups[i]);
        }
        return 0;
    }
    for (size_t i = 0; i < 3; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i]) != 0) {
            continue;
        }
        pid_t p = fork();
        if (p == 0) {
            run(groups[i]);
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("%s: the child ended badly\n", groups[i]);
        }
    }
    return 0;
}
