/* SPDX-License-Identifier: MIT */
/* Green stdio, the stream lock: every stdio call holds its stream's lock
 * for its whole length, and flockfile holds it across calls, even while
 * the holder waits for the fd or sleeps. glibc's own lock is recursive
 * per OS thread, so under the preload, where every green thread is one
 * OS thread, it alone would let two green threads into one stream.
 *
 *   lines:     two threads print 3,000-byte lines to one stream that a
 *              slow reader drains, so each fprintf waits for the pipe in
 *              the middle of its line; no line may hold the other's bytes;
 *   flockfile: a thread holds flockfile(f) across a sleep; another's
 *              ftrylockfile fails meanwhile and its fputs waits until the
 *              holder's funlockfile (its line comes after the holder's);
 *   reader:    a thread holds flockfile on a stream it reads and sleeps;
 *              another's fgets on it waits, then reads the next line;
 *   unlocked:  putc_unlocked runs under flockfile in two threads, each
 *              region whole. */
#include "stdio_util.h"

#include <stdint.h>
#include <sys/socket.h>

/* A reader that drains fd slowly into memory. */
struct drain {
    int fd;
    char *data;
    size_t len, cap;
    pthread_t t;
};

static void *drain_run(void *arg)
{
    struct drain *d = arg;
    char buf[4096];
    for (;;) {
        su_nap(1);
        ssize_t n = read(d->fd, buf, sizeof(buf));
        LEGACY_CHECK(n >= 0);
        if (n == 0) {
            break;
        }
        if (d->len + (size_t)n + 1 > d->cap) {
            d->cap = (d->len + (size_t)n + 1) * 2;
            d->data = realloc(d->data, d->cap);
            LEGACY_CHECK(d->data != NULL);
        }
        memcpy(d->data + d->len, buf, (size_t)n);
        d->len += (size_t)n;
        d->data[d->len] = '\0';
    }
    close(d->fd);
    return NULL;
}

static FILE *drained_stream(struct drain *d)
{
    int fds[2];
    LEGACY_CHECK(pipe(fds) == 0);
    *d = (struct drain){.fd = fds[0]};
    LEGACY_CHECK(pthread_create(&d->t, NULL, drain_run, d) == 0);
    FILE *f = fdopen(fds[1], "w");
    LEGACY_CHECK(f != NULL);
    return f;
}

static void drain_join(struct drain *d)
{
    LEGACY_CHECK(pthread_join(d->t, NULL) == 0);
}

/* --- lines ------------------------------------------------------------ */

enum { LINES = 150, WIDTH = 3000 };

static FILE *shared;

static void *print_lines(void *arg)
{
    char c = (char)(long)arg;
    char *line = malloc(WIDTH + 1);
    LEGACY_CHECK(line != NULL);
    memset(line, c, WIDTH);
    line[WIDTH] = '\0';
    for (int i = 0; i < LINES; i++) {
        LEGACY_CHECK(fprintf(shared, "%s\n", line) == WIDTH + 1);
    }
    free(line);
    return NULL;
}

static void group_lines(void)
{
    struct drain d;
    shared = drained_stream(&d);
    pthread_t a, b;
    LEGACY_CHECK(pthread_create(&a, NULL, print_lines, (void *)'A') == 0);
    LEGACY_CHECK(pthread_create(&b, NULL, print_lines, (void *)'B') == 0);
    LEGACY_CHECK(pthread_join(a, NULL) == 0);
    LEGACY_CHECK(pthread_join(b, NULL) == 0);
    LEGACY_CHECK(fclose(shared) == 0);
    drain_join(&d);
    int lines = 0, whole = 0, as = 0, bs = 0;
    for (char *p = d.data; p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        LEGACY_CHECK(nl != NULL);
        size_t len = (size_t)(nl - p);
        size_t same = strspn(p, p[0] == 'A' ? "A" : "B");
        lines++;
        whole += len == WIDTH && same == WIDTH;
        as += p[0] == 'A';
        bs += p[0] == 'B';
        p = nl + 1;
    }
    su_say("lines %d (A %d, B %d), each one thread's whole line: %s", lines,
           as, bs, su_yes(whole == lines));
    free(d.data);
}

/* --- flockfile across a park -------------------------------------------- */

static FILE *held;
static volatile int holder_done, other_done, other_busy;

static void *other_writer(void *arg)
{
    (void)arg;
    other_busy = ftrylockfile(held) != 0;
    if (!other_busy) {
        funlockfile(held);
    }
    LEGACY_CHECK(fputs("other\n", held) >= 0);
    other_done = holder_done ? 1 : -1; /* 1: only after the holder */
    return NULL;
}

static void group_flockfile(void)
{
    struct drain d;
    held = drained_stream(&d);
    setvbuf(held, NULL, _IONBF, 0); /* every call writes at once */
    su_ticker_start();
    flockfile(held);
    fputs("holder: first half, ", held);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, other_writer, NULL) == 0);
    int t0 = su_ticks;
    su_nap(60); /* the other thread runs now, and must wait */
    su_ticked("the holder's sleep", t0, 5);
    fputs("second half\n", held);
    holder_done = 1;
    LEGACY_CHECK(ftrylockfile(held) == 0); /* recursive: ours */
    funlockfile(held);
    funlockfile(held);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    su_ticker_end();
    su_say("the other's ftrylockfile failed while held: %s",
           su_yes(other_busy));
    su_say("the other's fputs returned after the funlockfile: %s",
           su_yes(other_done == 1));
    LEGACY_CHECK(fclose(held) == 0);
    drain_join(&d);
    su_say("the stream got: %s",
           strcmp(d.data, "holder: first half, second half\nother\n") == 0
               ? "the holder's line, then the other's"
               : d.data);
    free(d.data);
}

/* --- a reader holding the lock ------------------------------------------- */

static FILE *in;
static volatile int reader_got;

static void *other_reader(void *arg)
{
    (void)arg;
    char line[64];
    LEGACY_CHECK(fgets(line, sizeof(line), in) != NULL);
    reader_got = strcmp(line, "second\n") == 0 ? 1 : -1;
    return NULL;
}

static void group_reader(void)
{
    int sv[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    LEGACY_CHECK(write(sv[1], "first\nsecond\n", 13) == 13);
    in = fdopen(sv[0], "r");
    LEGACY_CHECK(in != NULL);
    flockfile(in);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, other_reader, NULL) == 0);
    su_nap(40);
    int early = reader_got;
    char line[64];
    LEGACY_CHECK(fgets(line, sizeof(line), in) != NULL);
    funlockfile(in);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    su_say("the other's fgets waited for the holder: %s", su_yes(early == 0));
    su_say("the holder read '%s', the other the next line: %s",
           strtok(line, "\n"), su_yes(reader_got == 1));
    fclose(in);
    close(sv[1]);
}

/* --- putc_unlocked under flockfile --------------------------------------- */

static void *unlocked_writer(void *arg)
{
    char c = (char)(long)arg;
    for (int r = 0; r < 20; r++) {
        flockfile(shared);
        for (int i = 0; i < 19999; i++) {
            putc_unlocked(c, shared);
        }
        putc_unlocked('\n', shared);
        funlockfile(shared);
    }
    return NULL;
}

static void group_unlocked(void)
{
    struct drain d;
    shared = drained_stream(&d);
    pthread_t a, b;
    LEGACY_CHECK(pthread_create(&a, NULL, unlocked_writer, (void *)'x') == 0);
    LEGACY_CHECK(pthread_create(&b, NULL, unlocked_writer, (void *)'y') == 0);
    LEGACY_CHECK(pthread_join(a, NULL) == 0);
    LEGACY_CHECK(pthread_join(b, NULL) == 0);
    LEGACY_CHECK(fclose(shared) == 0);
    drain_join(&d);
    int lines = 0, whole = 0;
    for (char *p = d.data; p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        LEGACY_CHECK(nl != NULL);
        whole += nl - p == 19999 &&
                 strspn(p, p[0] == 'x' ? "x" : "y") == 19999;
        lines++;
        p = nl + 1;
    }
    su_say("regions %d, each whole: %s", lines, su_yes(whole == lines));
    free(d.data);
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {
        {"lines", group_lines, 0},
        {"flockfile", group_flockfile, 0},
        {"reader", group_reader, 0},
        {"unlocked", group_unlocked, 0},
    };
    return su_main(argc, argv, groups, sizeof(groups) / sizeof(groups[0]));
}
