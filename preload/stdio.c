/* SPDX-License-Identifier: MIT */
/* The byte stdio interposers: reading (getc and friends, fgets, fread,
 * getline/getdelim, gets, getw), writing (putc and friends, fputs, puts,
 * fwrite, putw), flushing and closing, and the stream lock (flockfile
 * and the implicit lock of every call), with their _unlocked and
 * fortified __*_chk forms and the __uflow/__underflow/__overflow entry
 * points that glibc's inline getc_unlocked and putc_unlocked call.
 *
 * Each one: a stream that takes glibc's path (a regular file, a thread
 * that is not green, ...) goes straight to the real function; a green
 * "exact" stream runs glibc's own algorithm (stdio_core.c) with green
 * reads and writes; a "wrap" or wide-oriented one waits for its fd and
 * then makes glibc's call (stdio_preload.h). */
#include "stdio_preload.h"

#include <limits.h>
#include <poll.h>
#include <stdint.h>

#include "fd.h"

extern _Noreturn void __chk_fail(void);

/* A call that would run glibc's own code on a "wrap" or wide stream:
 * wait for the fd, then the real call (still under the locks). */
#define WRAPPED(c, events, fail, real_call)                               \
    do {                                                                  \
        if (gs_prepare(c, events) < 0) {                                  \
            gs_leave(c);                                                  \
            return fail;                                                  \
        }                                                                 \
        __typeof__(real_call) r_ = (real_call);                           \
        gs_leave(c);                                                      \
        return r_;                                                        \
    } while (0)

/* --- the lock ------------------------------------------------------------ */

/* flockfile and friends. The green lock, not glibc's: a green thread
 * that holds a stream and parks keeps the others out. (glibc's own lock
 * is only ever taken for the length of one call.) */
static bool lock_target(FILE *f, struct green__stdio **s)
{
    if (!green__go_green(GREEN_PATCH_SOCKET) || f == NULL) {
        return false;
    }
    *s = green__stdio_get(f);
    return *s != NULL;
}

/* preload/park.c: stops the program when a wait can never end. */
_Noreturn void green__thread_deadlock(const char *fn);

GREEN_INTERPOSE void flockfile(FILE *f)
{
    struct green__stdio *s;
    if (!lock_target(f, &s)) {
        GREEN_REAL(flockfile)(f);
        return;
    }
    int r = green__stdio_lock(s);
    if (r == -EDEADLK) {
        green__thread_deadlock("flockfile");
    }
}

GREEN_INTERPOSE int ftrylockfile(FILE *f)
{
    struct green__stdio *s;
    if (!lock_target(f, &s)) {
        return GREEN_REAL(ftrylockfile)(f);
    }
    return green__stdio_trylock(s) == 0 ? 0 : EBUSY;
}

GREEN_INTERPOSE void funlockfile(FILE *f)
{
    struct green__stdio *s;
    if (!lock_target(f, &s) || !green__stdio_unlock(s)) {
        /* Not the green lock's owner: glibc's lock, taken before this
         * thread went green, if this OS thread holds it. */
        struct {
            int lock, cnt;
            void *owner;
        } *l = (void *)f->_lock;
        if (l != NULL && l->cnt > 0 &&
            l->owner == (void *)GREEN_REAL(pthread_self)()) {
            GREEN_REAL(funlockfile)(f);
        }
    }
}

GREEN_INTERPOSE void _IO_flockfile(FILE *f)
{
    flockfile(f);
}

GREEN_INTERPOSE void _IO_funlockfile(FILE *f)
{
    funlockfile(f);
}

GREEN_INTERPOSE int _IO_ftrylockfile(FILE *f)
{
    return ftrylockfile(f);
}

/* --- reading one byte ---------------------------------------------------- */

static int green_getc(FILE *f, bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(getc)(f) : GREEN_REAL(getc_unlocked)(f);
    }
    if (c.failed) {
        return EOF;
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLIN, EOF, GREEN_REAL(getc_unlocked)(f));
    }
    int r = gs_getc(&c);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int getc(FILE *f)
{
    return green_getc(f, true);
}

GREEN_INTERPOSE int fgetc(FILE *f)
{
    return green_getc(f, true);
}

GREEN_INTERPOSE int _IO_getc(FILE *f)
{
    return green_getc(f, true);
}

GREEN_INTERPOSE int getchar(void)
{
    return green_getc(stdin, true);
}

GREEN_INTERPOSE int getc_unlocked(FILE *f)
{
    return green_getc(f, false);
}

GREEN_INTERPOSE int fgetc_unlocked(FILE *f)
{
    return green_getc(f, false);
}

GREEN_INTERPOSE int getchar_unlocked(void)
{
    return green_getc(stdin, false);
}

/* What glibc's inline getc_unlocked calls when the buffer is empty. */
GREEN_INTERPOSE int __uflow(FILE *f)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__uflow)(f);
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLIN, EOF, GREEN_REAL(__uflow)(f));
    }
    return gs_uflow(&c);
}

GREEN_INTERPOSE int __underflow(FILE *f)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__underflow)(f);
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLIN, EOF, GREEN_REAL(__underflow)(f));
    }
    return gs_underflow(&c);
}

GREEN_INTERPOSE int ungetc(int ch, FILE *f)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return GREEN_REAL(ungetc)(ch, f);
    }
    if (c.failed) {
        return EOF;
    }
    int r = ch == EOF ? EOF : _IO_sputbackc(f, (unsigned char)ch);
    gs_leave(&c);
    return r;
}

/* --- reading lines and blocks -------------------------------------------- */

/* fgets and __fgets_chk (limit: the buffer's size), locking or not. */
static char *green_fgets(char *buf, size_t limit, int n, FILE *f,
                         bool locking, bool chk)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        if (chk) {
            return locking ? GREEN_REAL(__fgets_chk)(buf, limit, n, f)
                           : GREEN_REAL(__fgets_unlocked_chk)(buf, limit, n,
                                                              f);
        }
        return locking ? GREEN_REAL(fgets)(buf, n, f)
                       : GREEN_REAL(fgets_unlocked)(buf, n, f);
    }
    if (n <= 0) {
        gs_leave(&c);
        return NULL;
    }
    if (n == 1 && !chk) {
        gs_leave(&c);
        buf[0] = '\0';
        return buf;
    }
    if (c.failed) {
        return NULL;
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLIN, NULL,
                chk ? GREEN_REAL(__fgets_unlocked_chk)(buf, limit, n, f)
                    : GREEN_REAL(fgets_unlocked)(buf, n, f));
    }
    size_t count;
    char *r = gs_fgets(&c, buf, n, limit, &count);
    if (r != NULL) {
        if (chk && count >= limit) {
            __chk_fail();
        }
        buf[count] = '\0';
    }
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE char *fgets(char *buf, int n, FILE *f)
{
    return green_fgets(buf, SIZE_MAX, n, f, true, false);
}

GREEN_INTERPOSE char *fgets_unlocked(char *buf, int n, FILE *f)
{
    return green_fgets(buf, SIZE_MAX, n, f, false, false);
}

GREEN_INTERPOSE char *__fgets_chk(char *buf, size_t size, int n, FILE *f)
{
    return green_fgets(buf, size, n, f, true, true);
}

GREEN_INTERPOSE char *__fgets_unlocked_chk(char *buf, size_t size, int n,
                                           FILE *f)
{
    return green_fgets(buf, size, n, f, false, true);
}

/* _IO_gets and __gets_chk (limit: the buffer's size). */
static char *green_gets(char *buf, size_t limit, bool chk)
{
    FILE *f = stdin;
    if (chk && limit == 0) {
        __chk_fail();
    }
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return chk ? GREEN_REAL(__gets_chk)(buf, limit)
                   : GREEN_REAL(gets)(buf);
    }
    if (c.failed) {
        return NULL;
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLIN, NULL,
                chk ? GREEN_REAL(__gets_chk)(buf, limit)
                    : GREEN_REAL(gets)(buf));
    }
    char *retval = buf;
    size_t count;
    int ch = gs_getc(&c);
    if (ch == EOF) {
        retval = NULL;
        goto out;
    }
    if (ch == '\n') {
        count = 0;
    } else {
        int old_error = f->_flags & GS_ERR_SEEN;
        f->_flags &= ~GS_ERR_SEEN;
        buf[0] = (char)ch;
        size_t room = chk ? limit - 1 : INT_MAX;
        count = gs_getline(&c, buf + 1, room, '\n', 0, NULL) + 1;
        if (f->_flags & GS_ERR_SEEN) {
            retval = NULL;
            goto out;
        }
        f->_flags |= old_error;
    }
    if (chk && count >= limit) {
        __chk_fail();
    }
    buf[count] = '\0';
out:
    gs_leave(&c);
    return retval;
}

GREEN_INTERPOSE char *gets(char *buf)
{
    return green_gets(buf, SIZE_MAX, false);
}

GREEN_INTERPOSE char *__gets_chk(char *buf, size_t size)
{
    return green_gets(buf, size, true);
}

static size_t green_fread(void *buf, size_t size, size_t count, FILE *f,
                          bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(fread)(buf, size, count, f)
                       : GREEN_REAL(fread_unlocked)(buf, size, count, f);
    }
    size_t bytes = size * count;
    if (bytes == 0) {
        gs_leave(&c);
        return 0;
    }
    if (c.failed) {
        return 0;
    }
    size_t got;
    if (gs_wrapped(&c)) {
        /* glibc may read more than once: each refill once the fd is
         * ready, then what the buffer holds. */
        got = 0;
        while (got < bytes) {
            size_t avail = f->_mode <= 0 ? (size_t)(f->_IO_read_end -
                                                    f->_IO_read_ptr)
                                         : 0;
            if (avail == 0 && gs_prepare(&c, POLLIN) < 0) {
                break;
            }
            size_t want = avail == 0 ? 1
                          : avail < bytes - got ? avail : bytes - got;
            size_t n = GREEN_REAL(fread_unlocked)((char *)buf + got, 1, want,
                                                  f);
            got += n;
            if (n < want) {
                break;
            }
        }
    } else {
        got = gs_xsgetn(&c, buf, bytes);
    }
    gs_leave(&c);
    return got == bytes ? count : got / size;
}

GREEN_INTERPOSE size_t fread(void *buf, size_t size, size_t count, FILE *f)
{
    return green_fread(buf, size, count, f, true);
}

GREEN_INTERPOSE size_t fread_unlocked(void *buf, size_t size, size_t count,
                                      FILE *f)
{
    return green_fread(buf, size, count, f, false);
}

/* __fread_chk's checks, then fread. */
static void fread_check(size_t buflen, size_t size, size_t count)
{
    size_t bytes = size * count;
    if (((count | size) >= ((size_t)1 << (8 * sizeof(size_t) / 2)) &&
         size != 0 && bytes / size != count) ||
        bytes > buflen) {
        __chk_fail();
    }
}

GREEN_INTERPOSE size_t __fread_chk(void *buf, size_t buflen, size_t size,
                                   size_t count, FILE *f)
{
    fread_check(buflen, size, count);
    return green_fread(buf, size, count, f, true);
}

GREEN_INTERPOSE size_t __fread_unlocked_chk(void *buf, size_t buflen,
                                            size_t size, size_t count,
                                            FILE *f)
{
    fread_check(buflen, size, count);
    return green_fread(buf, size, count, f, false);
}

GREEN_INTERPOSE int getw(FILE *f)
{
    int w;
    return fread(&w, sizeof(w), 1, f) != 1 ? EOF : w;
}

/* __getdelim (libio/iogetdelim.c) */
GREEN_INTERPOSE ssize_t __getdelim(char **lineptr, size_t *n, int delim,
                                   FILE *f)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return GREEN_REAL(__getdelim)(lineptr, n, delim, f);
    }
    if (lineptr == NULL || n == NULL) {
        gs_leave(&c);
        errno = EINVAL;
        return -1;
    }
    if (c.failed) {
        return -1;
    }
    if (gs_wrapped(&c)) {
        /* glibc's own, one byte at a time once the fd is ready. */
        ssize_t r = -1;
        if (!(f->_flags & GS_ERR_SEEN) && (*lineptr == NULL || *n == 0)) {
            *n = 120;
            *lineptr = malloc(*n);
        }
        if (!(f->_flags & GS_ERR_SEEN) && *lineptr != NULL) {
            size_t len = 0;
            while (gs_prepare(&c, POLLIN) == 0) {
                int ch = GREEN_REAL(getc_unlocked)(f);
                if (ch == EOF) {
                    break;
                }
                if (len + 2 > *n) {
                    char *p = realloc(*lineptr, 2 * *n);
                    if (p == NULL) {
                        break;
                    }
                    *lineptr = p;
                    *n *= 2;
                }
                (*lineptr)[len++] = (char)ch;
                if (ch == delim) {
                    break;
                }
            }
            if (len > 0) {
                (*lineptr)[len] = '\0';
                r = (ssize_t)len;
            }
        }
        gs_leave(&c);
        return r;
    }
    ssize_t result, cur_len = 0, len;
    if (f->_flags & GS_ERR_SEEN) {
        result = -1;
        goto out;
    }
    if (*lineptr == NULL || *n == 0) {
        *n = 120;
        *lineptr = malloc(*n);
        if (*lineptr == NULL) {
            result = -1;
            goto out;
        }
    }
    len = f->_IO_read_end - f->_IO_read_ptr;
    if (len <= 0) {
        if (gs_underflow(&c) == EOF) {
            result = -1;
            goto out;
        }
        len = f->_IO_read_end - f->_IO_read_ptr;
    }
    for (;;) {
        char *t = memchr(f->_IO_read_ptr, delim, (size_t)len);
        if (t != NULL) {
            len = (t - f->_IO_read_ptr) + 1;
        }
        if (len >= SSIZE_MAX - cur_len) {
            errno = EOVERFLOW;
            result = -1;
            goto out;
        }
        size_t needed = (size_t)(cur_len + len + 1);
        if (needed > *n) {
            if (needed < 2 * *n) {
                needed = 2 * *n;
            }
            char *p = realloc(*lineptr, needed);
            if (p == NULL) {
                result = -1;
                goto out;
            }
            *lineptr = p;
            *n = needed;
        }
        memcpy(*lineptr + cur_len, f->_IO_read_ptr, (size_t)len);
        f->_IO_read_ptr += len;
        cur_len += len;
        if (t != NULL || gs_underflow(&c) == EOF) {
            break;
        }
        len = f->_IO_read_end - f->_IO_read_ptr;
    }
    (*lineptr)[cur_len] = '\0';
    result = cur_len;
out:
    gs_leave(&c);
    return result;
}

GREEN_INTERPOSE ssize_t getdelim(char **lineptr, size_t *n, int delim,
                                 FILE *f)
{
    return __getdelim(lineptr, n, delim, f);
}

GREEN_INTERPOSE ssize_t getline(char **lineptr, size_t *n, FILE *f)
{
    return __getdelim(lineptr, n, '\n', f);
}

/* --- writing ------------------------------------------------------------- */

static int green_putc(int ch, FILE *f, bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(putc)(ch, f)
                       : GREEN_REAL(putc_unlocked)(ch, f);
    }
    if (c.failed) {
        return EOF;
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLOUT, EOF, GREEN_REAL(putc_unlocked)(ch, f));
    }
    int r = gs_putc(&c, ch);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int putc(int ch, FILE *f)
{
    return green_putc(ch, f, true);
}

GREEN_INTERPOSE int fputc(int ch, FILE *f)
{
    return green_putc(ch, f, true);
}

GREEN_INTERPOSE int _IO_putc(int ch, FILE *f)
{
    return green_putc(ch, f, true);
}

GREEN_INTERPOSE int putchar(int ch)
{
    return green_putc(ch, stdout, true);
}

GREEN_INTERPOSE int putc_unlocked(int ch, FILE *f)
{
    return green_putc(ch, f, false);
}

GREEN_INTERPOSE int fputc_unlocked(int ch, FILE *f)
{
    return green_putc(ch, f, false);
}

GREEN_INTERPOSE int putchar_unlocked(int ch)
{
    return green_putc(ch, stdout, false);
}

/* What glibc's inline putc_unlocked calls when the buffer is full. */
GREEN_INTERPOSE int __overflow(FILE *f, int ch)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__overflow)(f, ch);
    }
    if (gs_wrapped(&c)) {
        WRAPPED(&c, POLLOUT, EOF, GREEN_REAL(__overflow)(f, ch));
    }
    return gs_overflow(&c, ch);
}

/* Whether a byte-oriented call may write to the stream: glibc's
 * "_IO_fwide (fp, -1) == -1" (which orients an unoriented stream). */
static bool bytes_oriented(FILE *f)
{
    return f->_mode < 0 || (f->_mode == 0 && GREEN_REAL(fwide)(f, -1) < 0);
}

/* _IO_fputs / puts' body, with the lock held. */
static int fputs_body(struct gs *c, const char *str, bool newline)
{
    size_t len = strlen(str);
    if (gs_wrapped(c)) {
        if (gs_prepare(c, POLLOUT) < 0) {
            return EOF;
        }
        return newline ? GREEN_REAL(puts)(str)
                       : GREEN_REAL(fputs_unlocked)(str, c->f);
    }
    if (!bytes_oriented(c->f) || gs_xsputn(c, str, len) != len) {
        return EOF;
    }
    if (newline) {
        if (gs_putc(c, '\n') == EOF) {
            return EOF;
        }
        return len + 1 > INT_MAX ? INT_MAX : (int)(len + 1);
    }
    return 1;
}

GREEN_INTERPOSE int fputs(const char *str, FILE *f)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return GREEN_REAL(fputs)(str, f);
    }
    if (c.failed) {
        return EOF;
    }
    int r = fputs_body(&c, str, false);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int fputs_unlocked(const char *str, FILE *f)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(fputs_unlocked)(str, f);
    }
    return fputs_body(&c, str, false);
}

GREEN_INTERPOSE int puts(const char *str)
{
    struct gs c;
    gs_enter(&c, stdout, true);
    if (c.s == NULL) {
        return GREEN_REAL(puts)(str);
    }
    if (c.failed) {
        return EOF;
    }
    int r = fputs_body(&c, str, true);
    gs_leave(&c);
    return r;
}

static size_t green_fwrite(const void *buf, size_t size, size_t count,
                           FILE *f, bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(fwrite)(buf, size, count, f)
                       : GREEN_REAL(fwrite_unlocked)(buf, size, count, f);
    }
    size_t request = size * count;
    if (request == 0) {
        gs_leave(&c);
        return 0;
    }
    if (c.failed) {
        return 0;
    }
    size_t written = 0;
    if (gs_wrapped(&c)) {
        /* glibc's own, in pieces a ready fd takes at once. */
        while (written < request && gs_prepare(&c, POLLOUT) == 0) {
            size_t piece = request - written < 512 ? request - written : 512;
            size_t n = GREEN_REAL(fwrite_unlocked)((const char *)buf + written,
                                                   1, piece, f);
            written += n;
            if (n < piece) {
                break;
            }
        }
    } else if (bytes_oriented(f)) {
        written = gs_xsputn(&c, buf, request);
    }
    gs_leave(&c);
    if (written == request || written == (size_t)EOF) {
        return count;
    }
    return written / size;
}

GREEN_INTERPOSE size_t fwrite(const void *buf, size_t size, size_t count,
                              FILE *f)
{
    return green_fwrite(buf, size, count, f, true);
}

GREEN_INTERPOSE size_t fwrite_unlocked(const void *buf, size_t size,
                                       size_t count, FILE *f)
{
    return green_fwrite(buf, size, count, f, false);
}

GREEN_INTERPOSE int putw(int w, FILE *f)
{
    return fwrite(&w, sizeof(w), 1, f) == 1 ? 0 : EOF;
}

/* --- opening ------------------------------------------------------------ */

/* A stream glibc opened on a new fd: whatever libgreen remembers under
 * that fd number, or under the FILE's address, belongs to a file glibc
 * closed on its own (pclose, its internal streams) and goes. */
static FILE *opened(FILE *f, bool new_fd)
{
    if (f != NULL && green__patch_on(GREEN_PATCH_SOCKET)) {
        if (new_fd && f->_fileno >= 0) {
            green__hub_io_forget(f->_fileno);
            green__fd_forget(f->_fileno);
        }
        green__stdio_forget(f);
    }
    return f;
}

GREEN_INTERPOSE FILE *fopen(const char *path, const char *mode)
{
    return opened(GREEN_REAL(fopen)(path, mode), true);
}

GREEN_INTERPOSE FILE *fopen64(const char *path, const char *mode)
{
    return opened(GREEN_REAL(fopen64)(path, mode), true);
}

GREEN_INTERPOSE FILE *tmpfile(void)
{
    return opened(GREEN_REAL(tmpfile)(), true);
}

GREEN_INTERPOSE FILE *tmpfile64(void)
{
    return opened(GREEN_REAL(tmpfile64)(), true);
}

GREEN_INTERPOSE FILE *fdopen(int fd, const char *mode)
{
    return opened(GREEN_REAL(fdopen)(fd, mode), false);
}

/* --- flushing, closing and the calls that flush first -------------------- */

/* Writes out f's pending output, green (the lock held). 0 or EOF. */
static int flush_first(struct gs *c)
{
    FILE *f = c->f;
    if (gs_wrapped(c)) {
        return gs_prepare(c, POLLOUT) < 0 ? EOF : 0;
    }
    if (f->_IO_write_ptr > f->_IO_write_base) {
        return gs_flush_pending(c);
    }
    return 0;
}

static int green_fflush(FILE *f, bool locking)
{
    if (f == NULL) {
        int r = gs_flush_all(false, false);
        int r2 = GREEN_REAL(fflush)(NULL);
        return r == EOF ? EOF : r2;
    }
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(fflush)(f)
                       : GREEN_REAL(fflush_unlocked)(f);
    }
    if (c.failed) {
        return EOF;
    }
    int r = flush_first(&c) == EOF ? EOF : GREEN_REAL(fflush_unlocked)(f);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int fflush(FILE *f)
{
    return green_fflush(f, true);
}

GREEN_INTERPOSE int fflush_unlocked(FILE *f)
{
    return green_fflush(f, false);
}

/* exit() flushes every stream inside glibc (_IO_cleanup), after the
 * atexit handlers: this one, registered before main and so run last,
 * writes out the green streams first, green, so that a reader that is
 * another green thread still runs while stdout drains. */
static void flush_at_exit(void)
{
    gs_flush_all(false, true);
}

__attribute__((constructor)) static void stdio_init(void)
{
    atexit(flush_at_exit);
}

GREEN_INTERPOSE void _flushlbf(void)
{
    gs_flush_all(true, false);
    GREEN_REAL(_flushlbf)();
}

GREEN_INTERPOSE int fcloseall(void)
{
    int r = gs_flush_all(false, false);
    int r2 = GREEN_REAL(fcloseall)();
    return r == EOF ? EOF : r2;
}

/* fclose closes its fd inside glibc, where no interposer sees it: the fd
 * is forgotten first, as close() would (waking whoever waits on it with
 * EBADF), then the stream's pending output is written green, and the
 * stream's record goes with it. */
GREEN_INTERPOSE int fclose(FILE *f)
{
    int fd = f != NULL ? f->_fileno : -1;
    if (fd >= 0) {
        green__hub_io_forget(fd);
        green__fd_forget(fd);
    }
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        if (green__go_green(GREEN_PATCH_SOCKET) && f != NULL) {
            green__stdio_forget(f); /* a plain stream's record */
        }
        return GREEN_REAL(fclose)(f);
    }
    if (c.failed) {
        return EOF; /* closed by another thread meanwhile */
    }
    int status = 0;
    if (!(f->_flags & GS_NO_WRITES) && (f->_flags & GS_CURRENTLY_PUTTING)) {
        status = flush_first(&c);
    }
    /* The flush may have waited: anything registered again goes too. */
    fd = f->_fileno;
    if (fd >= 0) {
        green__hub_io_forget(fd);
        green__fd_forget(fd);
    }
    int e = errno;
    struct green__stdio *s = c.s;
    GREEN_REAL(funlockfile)(f);
    c.rlock = false;
    int r = GREEN_REAL(fclose)(f);
    if (status == EOF) {
        r = EOF;
        errno = e;
    }
    green__stdio_closed(s); /* releases the green lock */
    return r;
}

/* freopen: the old fd is flushed green and forgotten like fclose's; the
 * record stays (the FILE does) and is classified again on next use. */
static FILE *green_freopen(const char *path, const char *mode, FILE *f,
                           bool large)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s != NULL && !c.failed) {
        flush_first(&c);
    }
    int fd = f != NULL ? f->_fileno : -1;
    if (fd >= 0 && green__patch_on(GREEN_PATCH_SOCKET)) {
        green__hub_io_forget(fd);
        green__fd_forget(fd);
    }
    bool rl = c.rlock;
    if (rl) {
        GREEN_REAL(funlockfile)(f);
        c.rlock = false;
    }
    FILE *r = large ? GREEN_REAL(freopen64)(path, mode, f)
                    : GREEN_REAL(freopen)(path, mode, f);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE FILE *freopen(const char *path, const char *mode, FILE *f)
{
    return green_freopen(path, mode, f, false);
}

GREEN_INTERPOSE FILE *freopen64(const char *path, const char *mode, FILE *f)
{
    return green_freopen(path, mode, f, true);
}

/* Calls that write out the pending output first (glibc's seek and
 * setbuf paths sync the stream): the write is made green; if it fails,
 * the call fails as glibc's would. */
#define FLUSH_FIRST(f, fail, real_call)                                   \
    do {                                                                  \
        struct gs c_;                                                     \
        gs_enter(&c_, f, true);                                           \
        if (c_.s == NULL) {                                               \
            return real_call;                                             \
        }                                                                 \
        if (c_.failed) {                                                  \
            return fail;                                                  \
        }                                                                 \
        if (flush_first(&c_) == EOF) {                                    \
            gs_leave(&c_);                                                \
            return fail;                                                  \
        }                                                                 \
        __typeof__(real_call) r_ = real_call;                             \
        gs_leave(&c_);                                                    \
        return r_;                                                        \
    } while (0)

GREEN_INTERPOSE int fseek(FILE *f, long off, int whence)
{
    FLUSH_FIRST(f, -1, GREEN_REAL(fseek)(f, off, whence));
}

GREEN_INTERPOSE int fseeko(FILE *f, off_t off, int whence)
{
    FLUSH_FIRST(f, -1, GREEN_REAL(fseeko)(f, off, whence));
}

GREEN_INTERPOSE int fseeko64(FILE *f, off_t off, int whence)
{
    return fseeko(f, off, whence);
}

GREEN_INTERPOSE int fsetpos(FILE *f, const fpos_t *pos)
{
    FLUSH_FIRST(f, -1, GREEN_REAL(fsetpos)(f, pos));
}

GREEN_INTERPOSE int fsetpos64(FILE *f, const fpos64_t *pos)
{
    return fsetpos(f, (const fpos_t *)(const void *)pos);
}

GREEN_INTERPOSE int setvbuf(FILE *f, char *buf, int mode, size_t size)
{
    FLUSH_FIRST(f, EOF, GREEN_REAL(setvbuf)(f, buf, mode, size));
}

/* For the void ones. */
#define FLUSH_FIRST_VOID(f, real_call)                                    \
    do {                                                                  \
        struct gs c_;                                                     \
        gs_enter(&c_, f, true);                                           \
        if (c_.s == NULL) {                                               \
            real_call;                                                    \
            return;                                                       \
        }                                                                 \
        if (c_.failed) {                                                  \
            return;                                                       \
        }                                                                 \
        flush_first(&c_);                                                 \
        real_call;                                                        \
        gs_leave(&c_);                                                    \
    } while (0)

GREEN_INTERPOSE void rewind(FILE *f)
{
    FLUSH_FIRST_VOID(f, GREEN_REAL(rewind)(f));
}

GREEN_INTERPOSE void setbuf(FILE *f, char *buf)
{
    FLUSH_FIRST_VOID(f, GREEN_REAL(setbuf)(f, buf));
}

GREEN_INTERPOSE void setbuffer(FILE *f, char *buf, size_t size)
{
    FLUSH_FIRST_VOID(f, GREEN_REAL(setbuffer)(f, buf, size));
}

GREEN_INTERPOSE void setlinebuf(FILE *f)
{
    FLUSH_FIRST_VOID(f, GREEN_REAL(setlinebuf)(f));
}

/* --- calls that only take the lock --------------------------------------- */

/* Waits for the stream's green lock (another green thread inside it
 * keeps this one out, as glibc's lock would), then glibc's call. */
#define LOCKED(f, fail, real_call)                                        \
    do {                                                                  \
        struct gs c_;                                                     \
        gs_enter(&c_, f, true);                                           \
        if (c_.s == NULL) {                                               \
            return real_call;                                             \
        }                                                                 \
        if (c_.failed) {                                                  \
            return fail;                                                  \
        }                                                                 \
        __typeof__(real_call) r_ = real_call;                             \
        gs_leave(&c_);                                                    \
        return r_;                                                        \
    } while (0)

GREEN_INTERPOSE int feof(FILE *f)
{
    LOCKED(f, 0, GREEN_REAL(feof)(f));
}

GREEN_INTERPOSE int ferror(FILE *f)
{
    LOCKED(f, 1, GREEN_REAL(ferror)(f));
}

GREEN_INTERPOSE long ftell(FILE *f)
{
    LOCKED(f, -1L, GREEN_REAL(ftell)(f));
}

GREEN_INTERPOSE off_t ftello(FILE *f)
{
    LOCKED(f, (off_t)-1, GREEN_REAL(ftello)(f));
}

GREEN_INTERPOSE off_t ftello64(FILE *f)
{
    return ftello(f);
}

GREEN_INTERPOSE int fgetpos(FILE *f, fpos_t *pos)
{
    LOCKED(f, -1, GREEN_REAL(fgetpos)(f, pos));
}

GREEN_INTERPOSE int fgetpos64(FILE *f, fpos64_t *pos)
{
    return fgetpos(f, (fpos_t *)(void *)pos);
}

GREEN_INTERPOSE int fwide(FILE *f, int mode)
{
    LOCKED(f, 0, GREEN_REAL(fwide)(f, mode));
}

GREEN_INTERPOSE void clearerr(FILE *f)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s != NULL && c.failed) {
        return;
    }
    GREEN_REAL(clearerr)(f);
    gs_leave(&c);
}
