/* SPDX-License-Identifier: MIT */
/* The formatted stdio interposers: the printf family (and dprintf), the
 * scanf family, and the messages that go to stderr (perror, err/warn,
 * error, psignal, psiginfo, herror), with their fortified forms.
 *
 * printf on a green stream formats into memory first (vsnprintf, or
 * __vsnprintf_chk with the same fortify flag, so %n and the other
 * checks stay glibc's), under the stream's lock as vfprintf does, and
 * then writes the bytes as one fwrite would (stdio_core.c's xsputn):
 * the same bytes, the same buffering, the same return value.
 *
 * scanf cannot be split: glibc's vfscanf refills the buffer whenever it
 * needs a character. So it runs on a private stream (fopencookie,
 * unbuffered, out of glibc's list of streams) whose reads take the real
 * stream's next byte, green; the lookahead it pushes back is given back
 * to the real stream afterwards, as glibc's own ungetc would have left
 * it there.
 *
 * The stderr messages are glibc's own calls, made once stderr can take
 * them (and stdout, which error() flushes first, is written out green). */
#include "stdio_preload.h"

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "green/io.h"

/* glibc's libio (exported, never interposed). */
extern void _IO_un_link(void *);

/* --- printf ------------------------------------------------------------- */

/* Formats into buf (or a malloc'd buffer, *out), with glibc's fortify
 * flag when flag >= 0. Returns the length, or -1 with errno. */
static int format(char *buf, size_t size, char **out, int flag,
                  const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = flag >= 0 ? __vsnprintf_chk(buf, size, flag, size, fmt, ap)
                      : vsnprintf(buf, size, fmt, ap);
    *out = buf;
    if (n >= 0 && (size_t)n >= size) {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            va_end(again);
            errno = ENOMEM;
            return -1;
        }
        n = flag >= 0 ? __vsnprintf_chk(big, (size_t)n + 1, flag,
                                        (size_t)n + 1, fmt, again)
                      : vsnprintf(big, (size_t)n + 1, fmt, again);
        *out = big;
    }
    va_end(again);
    return n;
}

/* vfprintf's body on a green stream, the locks held (flag: the fortify
 * flag, or -1). */
static int green_vfprintf_body(struct gs *c, int flag, const char *fmt,
                               va_list ap)
{
    FILE *f = c->f;
    /* ORIENT and ARGCHECK (stdio-common/vfprintf-internal.c). */
    if (f->_mode > 0 || (f->_mode == 0 && GREEN_REAL(fwide)(f, -1) > 0)) {
        return -1;
    }
    if (f->_flags & GS_NO_WRITES) {
        f->_flags |= GS_ERR_SEEN;
        errno = EBADF;
        return -1;
    }
    if (fmt == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (c->s->verdict == GREEN__STDIO_WRAP) {
        if (gs_prepare(c, POLLOUT) < 0) {
            return -1;
        }
        return flag >= 0 ? GREEN_REAL(__vfprintf_chk)(f, flag, fmt, ap)
                         : GREEN_REAL(vfprintf)(f, fmt, ap);
    }
    char small[1024], *out;
    int n = format(small, sizeof(small), &out, flag, fmt, ap);
    if (n < 0) {
        return -1;
    }
    size_t w = gs_xsputn(c, out, (size_t)n);
    if (out != small) {
        int e = errno;
        free(out);
        errno = e;
    }
    return w == (size_t)n ? n : -1;
}

static int green_vfprintf(FILE *f, int flag, const char *fmt, va_list ap)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return flag >= 0 ? GREEN_REAL(__vfprintf_chk)(f, flag, fmt, ap)
                         : GREEN_REAL(vfprintf)(f, fmt, ap);
    }
    if (c.failed) {
        return -1;
    }
    int r = green_vfprintf_body(&c, flag, fmt, ap);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    return green_vfprintf(f, -1, fmt, ap);
}

GREEN_INTERPOSE int vprintf(const char *fmt, va_list ap)
{
    return green_vfprintf(stdout, -1, fmt, ap);
}

GREEN_INTERPOSE int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfprintf(f, -1, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfprintf(stdout, -1, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __vfprintf_chk(FILE *f, int flag, const char *fmt,
                                   va_list ap)
{
    return green_vfprintf(f, flag, fmt, ap);
}

GREEN_INTERPOSE int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
    return green_vfprintf(stdout, flag, fmt, ap);
}

GREEN_INTERPOSE int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfprintf(f, flag, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __printf_chk(int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfprintf(stdout, flag, fmt, ap);
    va_end(ap);
    return r;
}

/* vdprintf (libio/iovdprintf.c): a stream of its own over fd, fully
 * buffered and flushed at the end; here the formatted bytes are written
 * green, all of them (a write error: -1 with errno). */
static int green_vdprintf(int fd, int flag, const char *fmt, va_list ap)
{
    if (!green__go_green(GREEN_PATCH_SOCKET) || !green__stdio_fd_blocks(fd)) {
        return flag >= 0 ? GREEN_REAL(__vdprintf_chk)(fd, flag, fmt, ap)
                         : GREEN_REAL(vdprintf)(fd, fmt, ap);
    }
    char small[1024], *out;
    int n = format(small, sizeof(small), &out, flag, fmt, ap);
    if (n < 0) {
        return -1;
    }
    size_t done = 0;
    int r = n, e = errno;
    while (done < (size_t)n) {
        ssize_t w = green_write(fd, out + done, (size_t)n - done);
        if (w < 0) {
            e = (int)-w;
            r = -1;
            break;
        }
        done += (size_t)w;
    }
    errno = e;
    if (out != small) {
        int e = errno;
        free(out);
        errno = e;
    }
    return r;
}

GREEN_INTERPOSE int vdprintf(int fd, const char *fmt, va_list ap)
{
    return green_vdprintf(fd, -1, fmt, ap);
}

GREEN_INTERPOSE int dprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vdprintf(fd, -1, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __vdprintf_chk(int fd, int flag, const char *fmt,
                                   va_list ap)
{
    return green_vdprintf(fd, flag, fmt, ap);
}

GREEN_INTERPOSE int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vdprintf(fd, flag, fmt, ap);
    va_end(ap);
    return r;
}

/* --- scanf --------------------------------------------------------------- */

struct scan {
    struct gs *c;
    bool drain; /* reading back what scanf left: no more input */
};

/* The private stream's read: the real stream's next byte, green. */
static ssize_t scan_read(void *cookie, char *buf, size_t size)
{
    struct scan *k = cookie;
    if (k->drain || size == 0) {
        return 0;
    }
    int e = errno;
    int before = k->c->f->_flags & GS_ERR_SEEN;
    k->c->f->_flags &= ~GS_ERR_SEEN;
    int ch = gs_getc(k->c);
    int failed = k->c->f->_flags & GS_ERR_SEEN;
    k->c->f->_flags |= before;
    if (ch == EOF) {
        if (failed) {
            return -1; /* errno: the read's */
        }
        errno = e;
        return 0;
    }
    errno = e;
    buf[0] = (char)ch;
    return 1;
}

/* vfscanf's body on a green stream (the locks held); iso: the C99
 * variant (__isoc99_vfscanf) rather than the GNU one. */
static int green_vfscanf_body(struct gs *c, bool iso, const char *fmt,
                              va_list ap)
{
    FILE *f = c->f;
    /* ORIENT and ARGCHECK (stdio-common/vfscanf-internal.c). */
    if (f->_mode > 0 || (f->_mode == 0 && GREEN_REAL(fwide)(f, -1) > 0)) {
        return EOF;
    }
    if (f->_flags & GS_NO_READS) {
        errno = EBADF;
        return EOF;
    }
    if (fmt == NULL) {
        errno = EINVAL;
        return EOF;
    }
    if (c->s->verdict == GREEN__STDIO_WRAP) {
        if (gs_prepare(c, POLLIN) < 0) {
            return EOF;
        }
        return iso ? GREEN_REAL(__isoc99_vfscanf)(f, fmt, ap)
                   : GREEN_REAL(vfscanf)(f, fmt, ap);
    }
    struct scan k = {.c = c};
    cookie_io_functions_t io = {.read = scan_read};
    int e = errno;
    FILE *p = fopencookie(&k, "r", io);
    if (p == NULL) {
        return EOF; /* ENOMEM */
    }
    _IO_un_link(p); /* nobody else's to see (fflush(NULL), exit) */
    GREEN_REAL(setvbuf)(p, NULL, _IONBF, 0);
    errno = e;
    int r = iso ? GREEN_REAL(__isoc99_vfscanf)(p, fmt, ap)
                : GREEN_REAL(vfscanf)(p, fmt, ap);
    e = errno;
    /* What scanf read ahead and pushed back goes back to the stream. */
    k.drain = true;
    char back[64];
    size_t nb = 0;
    int ch;
    while (nb < sizeof(back) && (ch = GREEN_REAL(getc_unlocked)(p)) != EOF) {
        back[nb++] = (char)ch;
    }
    while (nb > 0) {
        _IO_sputbackc(f, (unsigned char)back[--nb]);
    }
    GREEN_REAL(fclose)(p);
    errno = e;
    return r;
}

static int green_vfscanf(FILE *f, bool iso, const char *fmt, va_list ap)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return iso ? GREEN_REAL(__isoc99_vfscanf)(f, fmt, ap)
                   : GREEN_REAL(vfscanf)(f, fmt, ap);
    }
    if (c.failed) {
        return EOF;
    }
    int r = green_vfscanf_body(&c, iso, fmt, ap);
    gs_leave(&c);
    return r;
}

/* The GNU names, which the headers hide behind the C99 ones. */
GREEN_INTERPOSE int gs_vfscanf(FILE *, const char *, va_list)
    __asm__("vfscanf");
GREEN_INTERPOSE int gs_vscanf(const char *, va_list) __asm__("vscanf");
GREEN_INTERPOSE int gs_fscanf(FILE *, const char *, ...) __asm__("fscanf");
GREEN_INTERPOSE int gs_scanf(const char *, ...) __asm__("scanf");

int gs_vfscanf(FILE *f, const char *fmt, va_list ap)
{
    return green_vfscanf(f, false, fmt, ap);
}

int gs_vscanf(const char *fmt, va_list ap)
{
    return green_vfscanf(stdin, false, fmt, ap);
}

int gs_fscanf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfscanf(f, false, fmt, ap);
    va_end(ap);
    return r;
}

int gs_scanf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfscanf(stdin, false, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __isoc99_vfscanf(FILE *f, const char *fmt, va_list ap)
{
    return green_vfscanf(f, true, fmt, ap);
}

GREEN_INTERPOSE int __isoc99_vscanf(const char *fmt, va_list ap)
{
    return green_vfscanf(stdin, true, fmt, ap);
}

GREEN_INTERPOSE int __isoc99_fscanf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfscanf(f, true, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __isoc99_scanf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfscanf(stdin, true, fmt, ap);
    va_end(ap);
    return r;
}

/* --- messages on stderr -------------------------------------------------- */

/* Before glibc's own message call: stdout written out if asked (error()
 * flushes it), and stderr's lock taken and stderr ready to be written.
 * errno is kept: the message may be about it. */
static void message_begin(struct gs *c, bool flush_stdout)
{
    int e = errno;
    c->s = NULL;
    c->glock = c->rlock = c->failed = false;
    if (green__go_green(GREEN_PATCH_SOCKET)) {
        if (flush_stdout) {
            fflush(stdout);
        }
        gs_enter(c, stderr, true);
        if (c->s != NULL && !c->failed) {
            gs_prepare(c, POLLOUT);
        }
    }
    errno = e;
}

static void message_end(struct gs *c)
{
    if (c->s != NULL && !c->failed) {
        gs_leave(c);
    }
}

GREEN_INTERPOSE void perror(const char *s)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(perror)(s);
    message_end(&c);
}

GREEN_INTERPOSE void psignal(int sig, const char *s)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(psignal)(sig, s);
    message_end(&c);
}

GREEN_INTERPOSE void psiginfo(const siginfo_t *info, const char *s)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(psiginfo)(info, s);
    message_end(&c);
}

GREEN_INTERPOSE void herror(const char *s)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(herror)(s);
    message_end(&c);
}

GREEN_INTERPOSE void vwarn(const char *fmt, va_list ap)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(vwarn)(fmt, ap);
    message_end(&c);
}

GREEN_INTERPOSE void vwarnx(const char *fmt, va_list ap)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(vwarnx)(fmt, ap);
    message_end(&c);
}

GREEN_INTERPOSE void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

GREEN_INTERPOSE void warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx(fmt, ap);
    va_end(ap);
}

GREEN_INTERPOSE _Noreturn void verr(int status, const char *fmt, va_list ap)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(vwarn)(fmt, ap);
    message_end(&c);
    exit(status);
}

GREEN_INTERPOSE _Noreturn void verrx(int status, const char *fmt,
                                     va_list ap)
{
    struct gs c;
    message_begin(&c, false);
    GREEN_REAL(vwarnx)(fmt, ap);
    message_end(&c);
    exit(status);
}

GREEN_INTERPOSE _Noreturn void err(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(status, fmt, ap);
}

GREEN_INTERPOSE _Noreturn void errx(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrx(status, fmt, ap);
}

/* error() and error_at_line() have no va_list forms: the message is
 * formatted first and handed to glibc's as "%s". */
static void green_error(int status, int errnum, const char *file,
                        unsigned line, const char *fmt, va_list ap)
{
    char small[1024], *msg = NULL;
    int e = errno;
    int n = format(small, sizeof(small), &msg, -1, fmt, ap);
    errno = e;
    struct gs c;
    message_begin(&c, true);
    if (file != NULL) {
        GREEN_REAL(error_at_line)(0, errnum, file, line, "%s",
                                  n >= 0 ? msg : fmt);
    } else {
        GREEN_REAL(error)(0, errnum, "%s", n >= 0 ? msg : fmt);
    }
    message_end(&c);
    if (msg != small && n >= 0) {
        free(msg);
    }
    if (status != 0) {
        exit(status);
    }
}

GREEN_INTERPOSE void error(int status, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!green__go_green(GREEN_PATCH_SOCKET)) {
        char small[1024], *msg = NULL;
        int n = format(small, sizeof(small), &msg, -1, fmt, ap);
        va_end(ap);
        GREEN_REAL(error)(status, errnum, "%s", n >= 0 ? msg : fmt);
        if (msg != small && n >= 0) {
            free(msg);
        }
        return;
    }
    green_error(status, errnum, NULL, 0, fmt, ap);
    va_end(ap);
}

GREEN_INTERPOSE void error_at_line(int status, int errnum, const char *file,
                                   unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    green_error(status, errnum, file != NULL ? file : "", line, fmt, ap);
    va_end(ap);
}
