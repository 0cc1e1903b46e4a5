/* SPDX-License-Identifier: MIT */
/* Green stdio keeps glibc's semantics: each group prints the outcomes of
 * edge cases (return values, flags, errno names, what the peer has
 * received) on streams over sockets, which must be the same natively
 * and under the preload:
 *
 *   ungetc:    push-back of the same and of another byte (glibc's backup
 *              area), at end of file, on a fresh stream, ungetc(EOF);
 *   modes:     what reaches the fd after each call, unbuffered, line
 *              buffered and fully buffered (setvbuf);
 *   eof:       fgets, getline, fread, fgetc, fscanf at end of file, the
 *              flags, errno left alone, clearerr;
 *   epipe:     writing to a socket whose peer is gone (SIGPIPE ignored):
 *              the error flag, EPIPE, fclose's status;
 *   nonblock:  a stream over an fd the program made non-blocking: EAGAIN
 *              and the error flag, then the data once it came;
 *   timeout:   SO_RCVTIMEO and SO_SNDTIMEO end a read and a write with
 *              EAGAIN (the ticker runs meanwhile);
 *   readwrite: a "r+" stream over a socket, writing then reading;
 *   getline:   its buffer's growth, EINVAL;
 *   errno:     a call that waits for its fd leaves errno alone. */
#include "stdio_util.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

static void pair(int sv[2])
{
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

/* Bytes waiting to be read on fd. */
static int waiting(int fd)
{
    int n = -1;
    LEGACY_CHECK(ioctl(fd, FIONREAD, &n) == 0);
    return n;
}

/* A write of data to fd after ms, from another thread. */
struct later {
    int fd;
    const char *data;
    long ms;
    int close_after;
    pthread_t t;
};

static void *later_run(void *arg)
{
    struct later *l = arg;
    su_nap(l->ms);
    if (l->data != NULL) {
        LEGACY_CHECK(write(l->fd, l->data, strlen(l->data)) ==
                     (ssize_t)strlen(l->data));
    }
    if (l->close_after) {
        close(l->fd);
    }
    return NULL;
}

static void later_start(struct later *l)
{
    LEGACY_CHECK(pthread_create(&l->t, NULL, later_run, l) == 0);
}

static void later_join(struct later *l)
{
    LEGACY_CHECK(pthread_join(l->t, NULL) == 0);
}

static const char *show(const char *s)
{
    static char buf[64];
    if (s == NULL) {
        return "NULL";
    }
    size_t k = 0;
    for (; *s != '\0' && k + 3 < sizeof(buf); s++) {
        if (*s == '\n') {
            buf[k++] = '\\';
            buf[k++] = 'n';
        } else {
            buf[k++] = *s;
        }
    }
    buf[k] = '\0';
    return buf;
}

/* --- ungetc ----------------------------------------------------------- */

static void group_ungetc(void)
{
    int sv[2];
    pair(sv);
    LEGACY_CHECK(write(sv[1], "abc\n", 4) == 4);
    FILE *f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    su_say("fgetc %c", fgetc(f));
    su_say("ungetc the same byte: %c", ungetc('a', f));
    su_say("ungetc another: %c", ungetc('z', f));
    char line[32];
    su_say("fgets: %s", show(fgets(line, sizeof(line), f)));
    struct later l = {.fd = sv[1], .data = "q", .ms = 30, .close_after = 1};
    later_start(&l);
    su_ticker_start();
    int t0 = su_ticks;
    int c = fgetc(f);
    su_ticked("fgetc", t0, 5);
    su_ticker_end();
    su_say("fgetc after the wait: %c", c);
    c = fgetc(f);
    su_say("fgetc at EOF: %s, feof %d", c == EOF ? "EOF" : "?", feof(f));
    c = ungetc('r', f);
    su_say("ungetc at EOF: %c, feof %d", c, feof(f));
    c = fgetc(f);
    su_say("fgetc: %c", c);
    c = fgetc(f);
    su_say("then: %s, feof %d", c == EOF ? "EOF" : "?", feof(f));
    su_say("ungetc(EOF): %s", ungetc(EOF, f) == EOF ? "EOF" : "?");
    later_join(&l);
    fclose(f);

    pair(sv);
    f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    su_say("ungetc on a fresh stream: %c", ungetc('x', f));
    int y = ungetc('y', f);
    int w = ungetc('w', f);
    su_say("ungetc twice more: %c %c", y, w);
    LEGACY_CHECK(write(sv[1], "1\n", 2) == 2);
    su_say("fgets: %s", show(fgets(line, sizeof(line), f)));
    fclose(f);
    close(sv[1]);
}

/* --- buffering modes --------------------------------------------------- */

static void one_mode(const char *name, int mode, size_t size)
{
    int sv[2];
    pair(sv);
    FILE *f = fdopen(sv[0], "w");
    LEGACY_CHECK(f != NULL);
    LEGACY_CHECK(setvbuf(f, NULL, mode, size) == 0);
    fputs("ab", f);
    int a = waiting(sv[1]);
    fputs("c\nd", f);
    int b = waiting(sv[1]);
    char blob[100];
    memset(blob, 'x', sizeof(blob));
    fwrite(blob, 1, sizeof(blob), f);
    int c = waiting(sv[1]);
    putc('\n', f);
    int d = waiting(sv[1]);
    fflush(f);
    int e = waiting(sv[1]);
    su_say("%s: the peer has %d, %d, %d, %d, then %d after fflush", name, a,
           b, c, d, e);
    fclose(f);
    close(sv[1]);
}

static void group_modes(void)
{
    one_mode("unbuffered", _IONBF, 0);
    one_mode("line-buffered", _IOLBF, 64);
    one_mode("fully buffered, 64", _IOFBF, 64);
    one_mode("fully buffered, default", _IOFBF, 0);
}

/* --- end of file --------------------------------------------------------- */

static void group_eof(void)
{
    int sv[2];
    pair(sv);
    FILE *f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    struct later l = {.fd = sv[1], .data = "x\n", .ms = 20, .close_after = 1};
    later_start(&l);
    char line[32];
    su_say("fgets: %s", show(fgets(line, sizeof(line), f)));
    errno = ENOENT;
    char *r = fgets(line, sizeof(line), f);
    int e = errno;
    su_say("fgets at EOF: %s, feof %d, ferror %d, errno %s", show(r), feof(f),
           ferror(f), su_errname(e));
    char *lp = NULL;
    size_t n = 0;
    errno = ENOENT;
    ssize_t g = getline(&lp, &n, f);
    e = errno;
    su_say("getline at EOF: %zd, errno %s", g, su_errname(e));
    su_say("fread at EOF: %zu", fread(line, 1, 10, f));
    int k = 0;
    su_say("fscanf at EOF: %d", fscanf(f, "%d", &k));
    su_say("fgetc at EOF: %s", fgetc(f) == EOF ? "EOF" : "?");
    clearerr(f);
    su_say("after clearerr: feof %d ferror %d", feof(f), ferror(f));
    int c = fgetc(f);
    su_say("fgetc: %s, feof %d", c == EOF ? "EOF" : "?", feof(f));
    later_join(&l);
    free(lp);
    fclose(f);
}

/* --- a peer that is gone ------------------------------------------------- */

static void group_epipe(void)
{
    int sv[2];
    pair(sv);
    close(sv[1]);
    FILE *f = fdopen(sv[0], "w");
    LEGACY_CHECK(f != NULL);
    su_say("fputs: %d", fputs("hello\n", f));
    errno = 0;
    int r = fflush(f);
    int e = errno;
    su_say("fflush: %d, ferror %d, errno %s", r, ferror(f), su_errname(e));
    clearerr(f);
    su_say("fputs again: %d", fputs("again\n", f));
    errno = 0;
    r = fclose(f);
    e = errno;
    su_say("fclose: %d, errno %s", r, su_errname(e));

    pair(sv);
    close(sv[1]);
    f = fdopen(sv[0], "w");
    LEGACY_CHECK(f != NULL);
    setvbuf(f, NULL, _IONBF, 0);
    errno = 0;
    r = fprintf(f, "%d\n", 42);
    e = errno;
    su_say("unbuffered fprintf: %d, ferror %d, errno %s", r, ferror(f),
           su_errname(e));
    su_say("fclose: %d", fclose(f));

    pair(sv);
    FILE *in = fdopen(sv[0], "r");
    LEGACY_CHECK(in != NULL);
    struct linger lg = {1, 0}; /* the peer resets the connection */
    setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    LEGACY_CHECK(write(sv[1], "partial", 7) == 7);
    close(sv[1]);
    char line[32];
    errno = 0;
    char *g = fgets(line, sizeof(line), in);
    e = errno;
    su_say("fgets after the peer went: %s, feof %d, ferror %d", show(g),
           feof(in), ferror(in));
    fclose(in);
}

/* --- non-blocking fds ---------------------------------------------------- */

static void group_nonblock(void)
{
    int sv[2];
    pair(sv);
    LEGACY_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
    FILE *f = fdopen(sv[0], "r+");
    LEGACY_CHECK(f != NULL);
    char line[32];
    errno = 0;
    char *r = fgets(line, sizeof(line), f);
    int e = errno;
    su_say("fgets, nothing there: %s, ferror %d, errno %s", show(r),
           ferror(f), su_errname(e));
    errno = 0;
    int c = fgetc(f);
    e = errno;
    su_say("fgetc: %s, errno %s", c == EOF ? "EOF" : "?", su_errname(e));
    LEGACY_CHECK(write(sv[1], "par", 3) == 3);
    errno = 0;
    r = fgets(line, sizeof(line), f);
    e = errno;
    su_say("fgets, a partial line: %s, ferror %d, errno %s", show(r),
           ferror(f), su_errname(e));
    LEGACY_CHECK(write(sv[1], "tial\n", 5) == 5);
    clearerr(f);
    su_say("fgets, the rest: %s", show(fgets(line, sizeof(line), f)));
    fclose(f);

    /* Writing until the socket is full. */
    int sz = 4096;
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    close(sv[1]);
    pair(sv);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    LEGACY_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
    FILE *w = fdopen(sv[0], "w");
    LEGACY_CHECK(w != NULL);
    static char big[1 << 20];
    memset(big, 'n', sizeof(big));
    errno = 0;
    size_t n = fwrite(big, 1, sizeof(big), w);
    e = errno;
    su_say("fwrite of 1 MiB: short %s, ferror %d, errno %s",
           su_yes(n < sizeof(big)), ferror(w), su_errname(e));
    fclose(w);
    close(sv[1]);
}

/* --- SO_RCVTIMEO, SO_SNDTIMEO -------------------------------------------- */

static void group_timeout(void)
{
    int sv[2];
    pair(sv);
    struct timeval tv = {0, 60000};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    FILE *f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    char line[32];
    su_ticker_start();
    int t0 = su_ticks;
    errno = 0;
    char *r = fgets(line, sizeof(line), f);
    int e = errno;
    su_ticked("fgets with SO_RCVTIMEO", t0, 5);
    su_say("fgets: %s, ferror %d, errno %s", show(r), ferror(f),
           su_errname(e));
    fclose(f);
    close(sv[1]);

    pair(sv);
    int sz = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    FILE *w = fdopen(sv[0], "w");
    LEGACY_CHECK(w != NULL);
    static char big[1 << 20];
    memset(big, 't', sizeof(big));
    t0 = su_ticks;
    errno = 0;
    size_t n = fwrite(big, 1, sizeof(big), w);
    e = errno;
    su_ticked("fwrite with SO_SNDTIMEO", t0, 5);
    su_say("fwrite: short %s, ferror %d, errno %s", su_yes(n < sizeof(big)),
           ferror(w), su_errname(e));
    su_ticker_end();
    fclose(w);
    close(sv[1]);
}

/* --- "r+" ---------------------------------------------------------------- */

static void *ponger(void *arg)
{
    int fd = (int)(long)arg;
    char buf[64];
    for (int i = 0; i < 2; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        LEGACY_CHECK(n > 0);
        su_nap(20);
        LEGACY_CHECK(write(fd, "pong\n", 5) == 5);
    }
    return NULL;
}

static void group_readwrite(void)
{
    int sv[2];
    pair(sv);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, ponger, (void *)(long)sv[1]) == 0);
    FILE *f = fdopen(sv[0], "r+");
    LEGACY_CHECK(f != NULL);
    char line[32];
    su_ticker_start();
    int t0 = su_ticks;
    int p = fputs("ping\n", f);
    su_say("fputs %d, fflush %d", p, fflush(f));
    su_say("fgets: %s", show(fgets(line, sizeof(line), f)));
    p = fputs("ping again\n", f);
    su_say("fputs %d, fflush %d", p, fflush(f));
    su_say("fgets: %s", show(fgets(line, sizeof(line), f)));
    su_ticked("the round trips", t0, 10);
    su_ticker_end();
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    fclose(f);
    close(sv[1]);
}

/* --- getline's buffer ---------------------------------------------------- */

static void group_getline(void)
{
    int sv[2];
    pair(sv);
    char big[1000];
    memset(big, 'g', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\n';
    LEGACY_CHECK(write(sv[1], "short\n", 6) == 6);
    LEGACY_CHECK(write(sv[1], big, sizeof(big)) == (ssize_t)sizeof(big));
    LEGACY_CHECK(write(sv[1], "a;b;c", 5) == 5);
    close(sv[1]);
    FILE *f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    char *lp = NULL;
    size_t n = 0;
    ssize_t r = getline(&lp, &n, f);
    su_say("getline %zd, buffer %zu", r, n);
    r = getline(&lp, &n, f);
    su_say("getline %zd, buffer %zu", r, n);
    r = getdelim(&lp, &n, ';', f);
    su_say("getdelim %zd: %s", r, lp);
    errno = 0;
    r = getline(NULL, &n, f);
    int e = errno;
    su_say("getline(NULL): %zd, errno %s", r, su_errname(e));
    r = getdelim(&lp, &n, ';', f);
    su_say("getdelim %zd: %s", r, lp);
    r = getdelim(&lp, &n, ';', f);
    su_say("getdelim %zd: %s", r, lp);
    r = getdelim(&lp, &n, ';', f);
    su_say("getdelim at EOF %zd, feof %d", r, feof(f));
    free(lp);
    fclose(f);
}

/* --- errno across a wait ------------------------------------------------- */

static void group_errno(void)
{
    int sv[2];
    pair(sv);
    FILE *f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    struct later l = {.fd = sv[1], .data = "late\n", .ms = 30};
    later_start(&l);
    char line[32];
    errno = ENOENT;
    char *r = fgets(line, sizeof(line), f);
    int e = errno;
    su_say("fgets %s, errno still %s", show(r), su_errname(e));
    later_join(&l);
    errno = ERANGE;
    int k = 0;
    l = (struct later){.fd = sv[1], .data = "17\n", .ms = 30};
    later_start(&l);
    int s = fscanf(f, "%d", &k);
    e = errno;
    su_say("fscanf %d (%d), errno still %s", s, k, su_errname(e));
    later_join(&l);
    fclose(f);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {
        {"ungetc", group_ungetc, 0},
        {"modes", group_modes, 0},
        {"eof", group_eof, 0},
        {"epipe", group_epipe, 0},
        {"nonblock", group_nonblock, 0},
        {"timeout", group_timeout, 0},
        {"readwrite", group_readwrite, 0},
        {"getline", group_getline, 0},
        {"errno", group_errno, 0},
    };
    return su_main(argc, argv, groups, sizeof(groups) / sizeof(groups[0]));
}
