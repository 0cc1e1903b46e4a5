/* SPDX-License-Identifier: MIT */
/* Green stdio, reading: getline, fread, fgets, getc, fscanf, fgetws and
 * a popen'd stream, each on a pipe or socket whose writer is another
 * thread (or a child) that writes its data in pieces, with naps between
 * them, so that every call must wait for the fd several times, and
 * lines and blocks straddle the stream's buffer. Each group prints what
 * it read (counts, sizes, a checksum) and whether the ticker thread ran
 * while it read, which it does natively and must under the preload
 * (before green stdio the first read blocked the OS thread, and with it
 * the writer: a hang). */
#include "stdio_util.h"

#include <locale.h>
#include <stdint.h>
#include <sys/socket.h>
#include <wchar.h>

/* The writer: the pieces, each after a nap, then it closes its end. */
struct piece {
    const char *data;
    size_t len; /* 0: strlen(data) */
};

struct writer {
    int fd;
    const struct piece *pieces;
    size_t n;
    long nap_ms;
    pthread_t t;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        su_nap(w->nap_ms);
        const char *p = w->pieces[i].data;
        size_t len = w->pieces[i].len ? w->pieces[i].len : strlen(p);
        while (len > 0) {
            ssize_t k = write(w->fd, p, len);
            LEGACY_CHECK(k > 0);
            p += k;
            len -= (size_t)k;
        }
    }
    close(w->fd);
    return NULL;
}

static void writer_start(struct writer *w)
{
    LEGACY_CHECK(pthread_create(&w->t, NULL, writer_run, w) == 0);
}

static void writer_join(struct writer *w)
{
    LEGACY_CHECK(pthread_join(w->t, NULL) == 0);
}

/* A pipe (or a socketpair) read as a stream; the writer gets the other
 * end. */
static FILE *reader_stream(struct writer *w, int socket, const char *mode)
{
    int fds[2];
    if (socket) {
        LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    } else {
        LEGACY_CHECK(pipe(fds) == 0);
    }
    w->fd = fds[1];
    FILE *f = fdopen(fds[0], mode);
    LEGACY_CHECK(f != NULL);
    return f;
}

static uint32_t checksum(const void *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ ((const unsigned char *)p)[i]) * 16777619u;
    }
    return h;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    LEGACY_CHECK(s != NULL);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* --- getline: a line longer than the buffer, lines split over writes -- */

static void group_getline(void)
{
    char *a = repeat('a', 2000);
    const struct piece pieces[] = {
        {"first line\n", 0}, {a, 0}, {a, 0}, {a, 0}, {a, 0}, {a, 0},
        {"\nx\ny", 0},       {"z\n", 0}, {"no newline at the end", 0},
    };
    struct writer w = {.pieces = pieces, .n = 9, .nap_ms = 15};
    FILE *f = reader_stream(&w, 0, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lines = 0;
    size_t total = 0;
    uint32_t sum = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lines++;
        total += (size_t)n;
        sum ^= checksum(line, (size_t)n) + (uint32_t)lines;
        su_say("getline %d: %zd bytes, starts '%.5s'", lines, n, line);
    }
    su_ticked("getline", t0, 10);
    su_say("lines %d, bytes %zu, checksum %08x", lines, total, sum);
    su_say("end: feof %d ferror %d, capacity grew: %s", feof(f), ferror(f),
           su_yes(cap >= 10001));
    writer_join(&w);
    su_ticker_end();
    free(line);
    fclose(f);
    free(a);
}

/* --- fread: a block that arrives in ten pieces, then a short one ------ */

static void group_fread(void)
{
    enum { BLOCK = 50000, PIECES = 10 };
    char *data = malloc(BLOCK + 123);
    LEGACY_CHECK(data != NULL);
    for (size_t i = 0; i < BLOCK + 123; i++) {
        data[i] = (char)('A' + (i * 7) % 26);
    }
    struct piece pieces[PIECES + 1];
    for (int i = 0; i < PIECES; i++) {
        pieces[i] = (struct piece){data + i * (BLOCK / PIECES),
                                   BLOCK / PIECES};
    }
    pieces[PIECES] = (struct piece){data + BLOCK, 123};
    struct writer w = {.pieces = pieces, .n = PIECES + 1, .nap_ms = 10};
    FILE *f = reader_stream(&w, 1, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    char *buf = malloc(BLOCK);
    LEGACY_CHECK(buf != NULL);
    size_t got = fread(buf, 1, BLOCK, f);
    su_ticked("fread", t0, 10);
    su_say("fread %d: %zu, same bytes: %s", BLOCK, got,
           su_yes(got == BLOCK && memcmp(buf, data, BLOCK) == 0));
    char small[7 * 100];
    size_t items = fread(small, 7, 100, f); /* 123 bytes: 17 items */
    su_say("fread 7 x 100: %zu items, feof %d ferror %d", items, feof(f),
           ferror(f));
    su_say("the short one's bytes: %s",
           su_yes(memcmp(small, data + BLOCK, 119) == 0));
    su_say("fread at EOF: %zu", fread(small, 1, 10, f));
    writer_join(&w);
    su_ticker_end();
    fclose(f);
    free(buf);
    free(data);
}

/* --- fgets: a 9,000-byte line read with a 4,000-byte buffer ----------- */

static void group_fgets(void)
{
    char *a = repeat('f', 3000);
    const struct piece pieces[] = {{a, 0}, {a, 0}, {a, 0},
                                   {"\nshort\n", 0}, {"tail", 0}};
    struct writer w = {.pieces = pieces, .n = 5, .nap_ms = 15};
    FILE *f = reader_stream(&w, 1, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    char buf[4000];
    int calls = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        calls++;
        su_say("fgets %d: %zu bytes, newline: %s", calls, strlen(buf),
               su_yes(strchr(buf, '\n') != NULL));
    }
    su_ticked("fgets", t0, 10);
    su_say("fgets at EOF: feof %d ferror %d", feof(f), ferror(f));
    writer_join(&w);
    su_ticker_end();
    fclose(f);
    free(a);
}

/* --- getc: one byte per write ----------------------------------------- */

static void group_getc(void)
{
    const char *text = "hello, world\n";
    struct piece pieces[16];
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        pieces[i] = (struct piece){text + i, 1};
    }
    struct writer w = {.pieces = pieces, .n = n, .nap_ms = 4};
    FILE *f = reader_stream(&w, 0, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    char got[64];
    size_t k = 0;
    int c;
    /* getc, fgetc, getc_unlocked (glibc's inline one) in turn. */
    for (int i = 0;; i++) {
        c = i % 3 == 0 ? getc(f) : i % 3 == 1 ? fgetc(f) : getc_unlocked(f);
        if (c == EOF) {
            break;
        }
        got[k++] = (char)c;
    }
    got[k] = '\0';
    su_ticked("getc", t0, 10);
    su_say("getc read %zu bytes: %s", k, su_yes(strcmp(got, text) == 0));
    su_say("then: feof %d ferror %d", feof(f), ferror(f));
    writer_join(&w);
    su_ticker_end();
    fclose(f);
}

/* --- fscanf: numbers and words split across writes --------------------- */

static void group_scanf(void)
{
    const struct piece pieces[] = {{"12", 0},        {"34 wo", 0},
                                   {"rd 5.5", 0},    {"\n", 0},
                                   {"rest of line\n", 0}, {"  77", 0},
                                   {"7 end", 0}};
    struct writer w = {.pieces = pieces, .n = 7, .nap_ms = 15};
    FILE *f = reader_stream(&w, 1, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    int i = 0;
    char word[32];
    double d = 0;
    int r = fscanf(f, "%d %31s %lf", &i, word, &d);
    su_say("fscanf: %d, %d '%s' %.1f", r, i, word, d);
    char line[64];
    su_say("fgets after it: '%s'",
           fgets(line, sizeof(line), f) != NULL ? strtok(line, "\n") ?: "\\n"
                                                : "(null)");
    su_say("fgets next: '%s'", fgets(line, sizeof(line), f) != NULL
                                   ? strtok(line, "\n")
                                   : "(null)");
    int j = 0, pos = 0;
    r = fscanf(f, "%d%n", &j, &pos);
    su_say("fscanf again: %d, %d, %%n %d", r, j, pos);
    r = fscanf(f, " %31s", word);
    su_say("fscanf a word at the end: %d '%s'", r, word);
    r = fscanf(f, "%d", &j);
    su_say("fscanf at EOF: %d, feof %d", r, feof(f));
    su_ticked("fscanf", t0, 10);
    writer_join(&w);
    su_ticker_end();
    fclose(f);
}

/* --- fgetws and fgetwc, UTF-8 ------------------------------------------- */

static void group_wide(void)
{
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
        su_say("no C.UTF-8 locale: skipped");
        return;
    }
    /* Pieces end on character boundaries. */
    const struct piece pieces[] = {{"h\xc3\xa9llo ", 0},
                                   {"w\xc3\xb6rld\n", 0},
                                   {"\xe2\x82\xac", 0},
                                   {"5\n", 0}};
    struct writer w = {.pieces = pieces, .n = 4, .nap_ms = 15};
    FILE *f = reader_stream(&w, 0, "r");
    su_ticker_start();
    int t0 = su_ticks;
    writer_start(&w);
    wchar_t buf[64];
    if (fgetws(buf, 64, f) != NULL) {
        su_say("fgetws: %zu characters, second is U+%04X", wcslen(buf),
               (unsigned)buf[1]);
    } else {
        su_say("fgetws: NULL");
    }
    wint_t c = fgetwc(f);
    su_say("fgetwc: U+%04X", (unsigned)c);
    su_say("fgetws again: %s", fgetws(buf, 64, f) != NULL ? "a line" : "NULL");
    c = fgetwc(f);
    su_say("then: %s, feof %d, orientation %d", c == WEOF ? "WEOF" : "more",
           feof(f), fwide(f, 0));
    su_ticked("fgetws", t0, 10);
    writer_join(&w);
    su_ticker_end();
    fclose(f);
    setlocale(LC_CTYPE, "C");
}

/* --- a popen'd stream --------------------------------------------------- */

static void group_popen(void)
{
    su_ticker_start();
    int t0 = su_ticks;
    FILE *f = popen("printf 'one\\n'; sleep 0.2; printf 'two\\n'", "r");
    LEGACY_CHECK(f != NULL);
    char line[32];
    int lines = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lines++;
        su_say("popen line %d: %s", lines, strtok(line, "\n"));
    }
    su_ticked("fgets on popen's stream", t0, 10);
    su_say("pclose: %d", pclose(f));
    su_ticker_end();
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {
        {"getline", group_getline, 0},
        {"fread", group_fread, 0},
        {"fgets", group_fgets, 0},
        {"getc", group_getc, 0},
        {"scanf", group_scanf, 0},
        {"wide", group_wide, 0},
        {"popen", group_popen, 0},
    };
    return su_main(argc, argv, groups, sizeof(groups) / sizeof(groups[0]));
}
