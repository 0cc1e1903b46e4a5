/* SPDX-License-Identifier: MIT */
#include "helpers.h"
#include "internal.h"
#include "stack.h"

#include <dirent.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double green_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int green_test_fork_capture(void (*fn)(void *), void *arg, char *buf,
                            size_t len)
{
    int p[2];
    if (pipe(p) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        fn(arg);
        _exit(0);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(p[0], buf + got, len - 1 - got);
        if (n <= 0 || got + (size_t)n >= len - 1) {
            if (n > 0) {
                got += (size_t)n;
            }
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

int green_test_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    int n = 0;
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own fd */
}

double green_test_slowdown(void)
{
    if (green_test_valgrind()) {
        return 20.0;
    }
#if defined(__SANITIZE_ADDRESS__)
    return 3.0;
#else
    return 1.0;
#endif
}

void *green_test_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t th;
    if (pthread_create(&th, NULL, fn, arg) != 0) {
        return (void *)-1;
    }
    void *ret = NULL;
    pthread_join(th, &ret);
    return ret;
}

int green_test_count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        return -1;
    }
    int n = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        if (c == '\n') {
            n++;
        }
    }
    fclose(f);
    return n;
}

long green_test_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    size_t flen = strlen(field);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kib = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

int green_test_valgrind(void)
{
    const char *v = getenv("GREEN_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

int green_test_tsan(void)
{
#ifdef GREEN__TSAN /* lib/internal.h's test, as GREEN__ASAN below */
    return 1;
#else
    return 0;
#endif
}

int green_test_emulated(void)
{
    const char *v = getenv("MESON_EXE_WRAPPER");
    return (v != NULL && v[0] != '\0') || green_test_tsan();
}

int green_test_asan(void)
{
#ifdef GREEN__ASAN
    return 1;
#else
    return 0;
#endif
}

int green_test_footprint_reliable(void)
{
    return !green_test_asan() && !green_test_valgrind() && !green_test_tsan();
}

int green_test_forking(void)
{
    const char *v = getenv("CK_FORK");
    return v == NULL || strcmp(v, "no") != 0;
}

int green_test_count_substr(const char *haystack, const char *needle)
{
    size_t nlen = strlen(needle);
    int n = 0;
    if (nlen == 0) {
        return 0;
    }
    for (const char *p = strstr(haystack, needle); p != NULL;
         p = strstr(p + nlen, needle)) {
        n++;
    }
    return n;
}

void green_test_warm_malloc(void)
{
    /* volatile: a malloc/free pair the compiler can see is deleted. */
    void *volatile p = malloc(64);
    free(p);
}

const char *green_test_describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else {
        snprintf(buf, len, "status 0x%x", status);
    }
    return buf;
}

void green_test_child_deadline(unsigned seconds)
{
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);
}

int green_test_guard_markers(void)
{
    struct green__stack *s;
    size_t size;
    if (green__stack_size(0, &size) != 0 || green__stack_alloc(size, &s) != 0) {
        return 0;
    }
    green__stack_free(s);
    return green__stack_guard_mode() == 1;
}

size_t green_test_task_records(void)
{
    struct green__thread *t = green__thread_peek();
    return t == NULL ? 0 : green__task_records(t);
}

size_t green_test_live_tasks(void)
{
    struct green__thread *t = green__thread_peek();
    return t == NULL ? 0 : t->live_tasks;
}

/* --- a waiter that frees what woke it ------------------------------------ */

struct free_race {
    sem_t ready, go;
    void *obj;
    int rounds, bad;
    int (*wake)(void *);
};

static void one_cpu(void)
{
    cpu_set_t s;
    int cpu = sched_getcpu();
    CPU_ZERO(&s);
    CPU_SET(cpu >= 0 ? cpu : 0, &s);
    pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *free_race_waker(void *arg)
{
    struct free_race *f = arg;
    one_cpu();
    for (int i = 0; i < f->rounds; i++) {
        sem_post(&f->ready);
        sem_wait(&f->go);
        if (f->wake(f->obj) != 0) {
            f->bad++;
        }
    }
    return NULL;
}

int green_test_free_race(int rounds, void *(*make)(void),
                         int (*wake)(void *), int (*wait_free)(void *))
{
    struct free_race f = {.rounds = rounds, .wake = wake};
    cpu_set_t saved;
    pthread_t th;
    if (pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) != 0) {
        return rounds;
    }
    sem_init(&f.ready, 0, 0);
    sem_init(&f.go, 0, 0);
    one_cpu();
    int failed = 0;
    if (pthread_create(&th, NULL, free_race_waker, &f) != 0) {
        f.rounds = 0;
        failed = rounds;
    }
    for (int i = 0; i < f.rounds; i++) {
        sem_wait(&f.ready);
        f.obj = make();
        sem_post(&f.go);
        if (f.obj == NULL || wait_free(f.obj) != 0) {
            failed++;
        }
    }
    if (f.rounds != 0) {
        pthread_join(th, NULL);
    }
    pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
    sem_destroy(&f.ready);
    sem_destroy(&f.go);
    return failed + f.bad;
}
