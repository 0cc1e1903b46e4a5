/* SPDX-License-Identifier: MIT */
/* Green stdio, writing: a megabyte through printf (stdout made a pipe),
 * fprintf, fwrite, fputs, puts, putc, an unbuffered stream, a
 * line-buffered one with a megabyte of buffer, dprintf and fputws, each
 * into a pipe or socket that another thread drains slowly (4 KiB, then a
 * nap), so that every call must wait for the fd again and again; and
 * exit()'s own flush of a megabyte of stdout whose reader is a thread of
 * the same process. Each
 * group prints what the reader got (bytes, a checksum) and whether the
 * ticker ran while the writer wrote, which it does natively and must
 * under the preload (before green stdio the writer blocked the OS
 * thread, and with it the reader: a hang). */
#include "stdio_util.h"

#include <locale.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <wchar.h>

enum { MIB = 1 << 20 };

/* The slow reader: reads everything until end of file, 4 KiB at a time
 * with a nap between reads. */
struct reader {
    int fd;
    size_t total;
    uint32_t sum;
    pthread_t t;
};

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ ((const unsigned char *)p)[i]) * 16777619u;
    }
    return h;
}

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    char buf[4096];
    r->sum = 2166136261u;
    for (;;) {
        su_nap(1);
        ssize_t n = read(r->fd, buf, sizeof(buf));
        LEGACY_CHECK(n >= 0);
        if (n == 0) {
            break;
        }
        r->total += (size_t)n;
        r->sum = fnv(r->sum, buf, (size_t)n);
    }
    close(r->fd);
    return NULL;
}

/* A pipe (or socketpair) whose read end the slow reader drains; returns
 * the write end. */
static int slow_sink(struct reader *r, int socket)
{
    int fds[2];
    if (socket) {
        LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        /* A small buffer, so that the writer waits as on a pipe. */
        int sz = 16384;
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    } else {
        LEGACY_CHECK(pipe(fds) == 0);
    }
    r->fd = fds[0];
    r->total = 0;
    LEGACY_CHECK(pthread_create(&r->t, NULL, reader_run, r) == 0);
    return fds[1];
}

static void sink_done(struct reader *r, const char *what, size_t want,
                      uint32_t want_sum)
{
    LEGACY_CHECK(pthread_join(r->t, NULL) == 0);
    su_say("%s: reader got %zu bytes (want %zu), same bytes: %s", what,
           r->total, want, su_yes(r->total == want && r->sum == want_sum));
}

/* A megabyte of text, lines of 64 (63 + newline). */
static char *text(size_t n)
{
    char *s = malloc(n + 1);
    LEGACY_CHECK(s != NULL);
    for (size_t i = 0; i < n; i++) {
        s[i] = i % 64 == 63 ? '\n' : (char)('a' + (i / 64 + i) % 26);
    }
    s[n] = '\0';
    return s;
}

/* --- printf to stdout, which is made a pipe for the call ------------ */

static void group_printf(void)
{
    char *big = text(MIB);
    struct reader r;
    int w = slow_sink(&r, 0);
    fflush(stdout);
    int saved = dup(1);
    LEGACY_CHECK(saved >= 0 && dup2(w, 1) == 1);
    close(w);
    su_ticker_start();
    int t0 = su_ticks;
    int n = printf("%s", big);
    int t1 = su_ticks;
    int p = puts("and a line by puts");
    int f = fflush(stdout);
    LEGACY_CHECK(dup2(saved, 1) == 1);
    close(saved);
    su_ticker_end();
    su_say("printf returned %d, puts %d, fflush %d", n, p, f);
    printf("ticker ran during printf: %s\n", su_yes(t1 - t0 >= 10));
    uint32_t sum = fnv(2166136261u, big, MIB);
    sum = fnv(sum, "and a line by puts\n", 19);
    sink_done(&r, "printf", MIB + 19, sum);
    free(big);
}

/* --- fprintf, fwrite, fputs on a fdopen'd pipe or socket -------------- */

static void one_stream(const char *what, int socket, int mode, size_t bufsz,
                       int how)
{
    char *big = text(MIB);
    struct reader r;
    int w = slow_sink(&r, socket);
    FILE *f = fdopen(w, "w");
    LEGACY_CHECK(f != NULL);
    char *buf = NULL;
    if (mode >= 0) {
        if (bufsz > 0) {
            buf = malloc(bufsz);
            LEGACY_CHECK(buf != NULL);
        }
        LEGACY_CHECK(setvbuf(f, buf, mode, bufsz) == 0);
    }
    su_ticker_start();
    int t0 = su_ticks;
    long ret = 0;
    switch (how) {
    case 0:
        ret = fprintf(f, "%s", big);
        break;
    case 1:
        ret = (long)fwrite(big, 1, MIB, f);
        break;
    case 2:
        ret = fputs(big, f);
        break;
    case 3: /* putc and its inline unlocked form, a byte at a time */
        for (size_t i = 0; i < MIB / 4; i++) {
            ret += (i % 2 ? putc(big[i], f) : putc_unlocked(big[i], f)) ==
                   (unsigned char)big[i];
        }
        break;
    }
    int t1 = su_ticks;
    int fl = fflush(f);
    int cl = fclose(f);
    su_ticker_end();
    free(buf);
    size_t want = how == 3 ? MIB / 4 : MIB;
    su_say("%s: returned %ld, fflush %d, fclose %d", what, ret, fl, cl);
    printf("ticker ran during %s: %s\n", what, su_yes(t1 - t0 >= 10));
    sink_done(&r, what, want, fnv(2166136261u, big, want));
    free(big);
}

static void group_fprintf(void)
{
    one_stream("fprintf to a pipe", 0, -1, 0, 0);
    one_stream("fprintf to a socket", 1, -1, 0, 0);
}

static void group_fwrite(void)
{
    one_stream("fwrite to a pipe", 0, -1, 0, 1);
    one_stream("fputs to a socket", 1, -1, 0, 2);
}

static void group_putc(void)
{
    one_stream("putc to a pipe", 0, -1, 0, 3);
}

static void group_modes(void)
{
    one_stream("fprintf, unbuffered", 0, _IONBF, 0, 0);
    one_stream("fwrite, line-buffered with a 1 MiB buffer", 0, _IOLBF, MIB,
               1);
    one_stream("fputs, fully buffered with a 100,000-byte buffer", 1, _IOFBF,
               100000, 2);
}

/* --- dprintf ------------------------------------------------------------- */

static void group_dprintf(void)
{
    char *big = text(MIB);
    struct reader r;
    int w = slow_sink(&r, 0);
    su_ticker_start();
    int t0 = su_ticks;
    int n = dprintf(w, "%s%d\n", big, 42);
    int t1 = su_ticks;
    close(w);
    su_ticker_end();
    su_say("dprintf returned %d", n);
    printf("ticker ran during dprintf: %s\n", su_yes(t1 - t0 >= 10));
    uint32_t sum = fnv(fnv(2166136261u, big, MIB), "42\n", 3);
    sink_done(&r, "dprintf", MIB + 3, sum);
    free(big);
}

/* --- fputws and fwprintf ----------------------------------------------- */

static void group_wide(void)
{
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        su_say("no C.UTF-8 locale: skipped");
        return;
    }
    enum { N = 100000 };
    wchar_t *ws = malloc((N + 1) * sizeof(wchar_t));
    LEGACY_CHECK(ws != NULL);
    for (size_t i = 0; i < N; i++) {
        ws[i] = i % 50 == 49 ? L'\n' : (i % 3 ? L'\u00e9' : L'x'); /* é */
    }
    ws[N] = L'\0';
    /* The bytes: é is two in UTF-8. */
    size_t bytes = wcstombs(NULL, ws, 0);
    char *mb = malloc(bytes + 1);
    LEGACY_CHECK(mb != NULL && wcstombs(mb, ws, bytes + 1) == bytes);
    struct reader r;
    int w = slow_sink(&r, 0);
    FILE *f = fdopen(w, "w");
    LEGACY_CHECK(f != NULL);
    su_ticker_start();
    int t0 = su_ticks;
    int a = fputws(ws, f);
    int b = fwprintf(f, L"%ls%d\n", ws, 7);
    int t1 = su_ticks;
    int fl = fflush(f);
    int cl = fclose(f);
    su_ticker_end();
    su_say("fputws %d, fwprintf %d, fflush %d, fclose %d", a, b, fl, cl);
    printf("ticker ran during fputws: %s\n", su_yes(t1 - t0 >= 10));
    uint32_t sum = fnv(fnv(fnv(2166136261u, mb, bytes), mb, bytes), "7\n", 2);
    sink_done(&r, "fputws and fwprintf", 2 * bytes + 2, sum);
    free(mb);
    free(ws);
    setlocale(LC_CTYPE, "C");
}

/* --- fflush(NULL) while another thread writes --------------------------- */

static FILE *busy;
static volatile int writer_done, flushed_after;

static void *all_flusher(void *arg)
{
    (void)arg;
    su_nap(20); /* the writer waits for the pipe by now */
    LEGACY_CHECK(fflush(NULL) == 0);
    flushed_after = writer_done; /* it waited for the writer's lock */
    return NULL;
}

static void group_flushall(void)
{
    char *big = text(MIB);
    struct reader r;
    int w = slow_sink(&r, 0);
    busy = fdopen(w, "w");
    LEGACY_CHECK(busy != NULL);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, all_flusher, NULL) == 0);
    /* The mark inside the stream's lock: fflush(NULL) takes every
     * stream's lock, so it returns after the mark, whichever CPU runs
     * what (set after the fputs alone, the flusher could read it first). */
    flockfile(busy);
    int n = fputs(big, busy);
    writer_done = 1;
    funlockfile(busy);
    LEGACY_CHECK(fputs("tail\n", busy) >= 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(fclose(busy) == 0);
    su_say("fputs %d; fflush(NULL) returned after the writer's fputs: %s", n,
           su_yes(flushed_after));
    uint32_t sum = fnv(fnv(2166136261u, big, MIB), "tail\n", 5);
    sink_done(&r, "fputs beside fflush(NULL)", MIB + 5, sum);
    free(big);
}

/* --- exit's flush ------------------------------------------------------- */

/* A child whose stdout (a pipe, fully buffered with a 1 MiB buffer) holds
 * 300,000 bytes when it calls exit(), and whose reader is a thread of its
 * own: exit's flush must let that thread run. The reader reports what it
 * read to the parent, which reads what is left once the child is gone. */
static int report[2];

static void *exit_reader(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        total += n;
        LEGACY_CHECK(write(report[1], &total, sizeof(total)) ==
                     (ssize_t)sizeof(total));
        su_nap(1);
    }
    return NULL;
}

static void group_exit(void)
{
    enum { BYTES = 300000 };
    int data[2];
    LEGACY_CHECK(pipe(data) == 0 && pipe(report) == 0);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        pthread_t t;
        LEGACY_CHECK(pthread_create(&t, NULL, exit_reader,
                                    (void *)(long)data[0]) == 0);
        LEGACY_CHECK(dup2(data[1], 1) == 1);
        close(data[1]);
        static char buf[1 << 20];
        LEGACY_CHECK(setvbuf(stdout, buf, _IOFBF, sizeof(buf)) == 0);
        char *big = text(BYTES);
        fputs(big, stdout); /* all of it in the buffer still */
        free(big); /* (no leak for a sanitizer's exit to report) */
        exit(0);
    }
    close(data[1]);
    close(report[1]);
    /* The reports until the child is gone, or 5 s (a child that hangs
     * in exit is killed). */
    long got = 0, last;
    int st = 0, waited = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && waited < 5000) {
        struct pollfd p = {.fd = report[0], .events = POLLIN};
        int ready = poll(&p, 1, 10);
        if (ready == 1 &&
            read(report[0], &last, sizeof(last)) == (ssize_t)sizeof(last)) {
            got = last;
            continue;
        }
        if (ready == 1) {
            su_nap(10); /* the end of the reports: the child is going */
        }
        waited += 10;
    }
    while (w == pid &&
           read(report[0], &last, sizeof(last)) == (ssize_t)sizeof(last)) {
        got = last;
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(data[0], buf, sizeof(buf))) > 0) {
        got += n;
    }
    close(data[0]);
    close(report[0]);
    /* The reader may have been in the middle of a read when exit ended
     * the child: up to one read's worth is not counted. */
    su_say("the child exited: %s, status %d; its stdout's bytes came: %s",
           su_yes(w == pid), WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           su_yes(got <= BYTES && got >= BYTES - 4096));
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {
        {"printf", group_printf, 0},
        {"fprintf", group_fprintf, 0},
        {"fwrite", group_fwrite, 0},
        {"putc", group_putc, 0},
        {"modes", group_modes, 0},
        {"dprintf", group_dprintf, 0},
        {"wide", group_wide, 0},
        {"flushall", group_flushall, 0},
        {"exit", group_exit, 1},
    };
    return su_main(argc, argv, groups, sizeof(groups) / sizeof(groups[0]));
}
