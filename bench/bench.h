/* SPDX-License-Identifier: MIT */
/* Helpers shared by the bench/ programs: a monotonic nanosecond clock, a
 * correctness check that survives NDEBUG (benchmarks are built with
 * buildtype=release), environment knobs, RSS from /proc, and the one output
 * format every program uses: one `name value unit` line per metric, read by
 * bench/run.sh. Header-only so that each program stays one file. */
#ifndef GREEN_BENCH_H
#define GREEN_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Aborts the run with file and line when a result is wrong: a benchmark
 * that computes the wrong thing fast is worthless, so every program checks
 * its counts (libuv's benchmarks do the same). */
#define BENCH_CHECK(cond)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                       \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The integer in environment variable `name`, or dflt if unset or bad. Lets
 * bench/run.sh (or a person) scale a program without rebuilding it. */
static inline long bench_env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') {
        return dflt;
    }
    char *end;
    long v = strtol(s, &end, 10);
    return (*end == '\0' && v > 0) ? v : dflt;
}

/* One result line. Names are dotted, `<benchmark>.<implementation>`, and
 * unique across every program, so the driver can pool them. */
static inline void bench_report(const char *name, double value,
                                const char *unit)
{
    printf("%s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

/* A `Key:   123 kB` line of a /proc file (VmRSS in /proc/self/status,
 * KernelStack in /proc/meminfo...), in KiB; -1 if absent. */
static inline long bench_proc_kib(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    size_t klen = strlen(key);
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static inline long bench_rss_kib(void)
{
    return bench_proc_kib("/proc/self/status", "VmRSS");
}

/* The first integer in a file such as /proc/sys/vm/max_map_count, or -1. */
static inline long bench_read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

/* The number of memory mappings of this process (lines of /proc/self/maps),
 * to compare with vm.max_map_count. */
static inline long bench_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        return -1;
    }
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        n += (c == '\n');
    }
    fclose(f);
    return n;
}

#endif
