/* SPDX-License-Identifier: MIT */
/* Every message libgreen prints goes through here (green/log.h).
 *
 * The default sink writes the whole line with one write system call,
 * made directly: it never re-enters the preload's interposers, works
 * before the real-symbol table is filled and in signal handlers, and
 * lines from two OS threads do not interleave. The program's sink, once
 * set, gets the same messages. The pair (fn, userdata) is read with two
 * atomic loads: setting it while another thread logs may pair the new
 * function with the old data, which green_set_log's contract rules out. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "real.h"
#include "rawsys.h"

#define LOG_LINE 1024

static green_log_fn sink;
static void *sink_data;

void green_set_log(green_log_fn fn, void *userdata)
{
    __atomic_store_n(&sink_data, userdata, __ATOMIC_RELAXED);
    __atomic_store_n(&sink, fn, __ATOMIC_RELEASE);
}

int green__debug_level(void)
{
    static int level = -1;
    int v = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (v < 0) {
        v = (int)green__env_long("GREEN_DEBUG", 0, 9, 0,
                                 "a level from 0 to 9");
        __atomic_store_n(&level, v, __ATOMIC_RELAXED);
    }
    return v;
}

bool green__log_on(int level)
{
    if (level <= GREEN_LOG_WARNING) {
        return true;
    }
    int debug = green__debug_level();
    return level == GREEN_LOG_INFO ? debug >= 1 : debug >= 2;
}

/* The default sink: "libgreen: msg\n" on fd 2 in one write. Raw system
 * calls only: it runs in signal handlers and before the real-symbol
 * table is filled. */
static void to_stderr(const char *msg, size_t len)
{
    char line[LOG_LINE + 16];
    static const char prefix[] = "libgreen: ";
    size_t p = sizeof(prefix) - 1;
    if (len > LOG_LINE) {
        len = LOG_LINE;
    }
    memcpy(line, prefix, p);
    memcpy(line + p, msg, len);
    line[p + len] = '\n';
    size_t n = p + len + 1, off = 0;
    while (off < n) {
        long w = green__syscall(SYS_write, 2, line + off, n - off);
        if (w <= 0) {
            break; /* EINTR is retried by the kernel for a short write */
        }
        off += (size_t)w;
    }
}

void green__log_raw(int level, const char *msg, size_t len)
{
    if (!green__log_on(level)) {
        return;
    }
    green_log_fn fn = __atomic_load_n(&sink, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        to_stderr(msg, len);
        return;
    }
    char line[LOG_LINE + 1];
    if (len > LOG_LINE) {
        len = LOG_LINE;
    }
    memcpy(line, msg, len);
    line[len] = '\0';
    fn(__atomic_load_n(&sink_data, __ATOMIC_RELAXED), level, line);
}

void green__log(int level, const char *fmt, ...)
{
    if (!green__log_on(level)) {
        return;
    }
    char line[LOG_LINE + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n;
    if (len > LOG_LINE) {
        memcpy(line + LOG_LINE - 3, "...", 3);
        len = LOG_LINE;
    }
    green__log_raw(level, line, len);
}
