/* SPDX-License-Identifier: MIT */
/* The wide-character stdio interposers: fgetwc/getwc/getwchar, fgetws,
 * ungetwc, fputwc/putwc/putwchar, fputws, the fwprintf and fwscanf
 * families, their _unlocked and fortified forms, and the __wuflow,
 * __wunderflow and __woverflow entry points.
 *
 * A wide stream keeps its characters in a second buffer and converts
 * through the locale's codecvt, whose state is glibc's own; so these
 * are glibc's calls, made once the fd is ready. Reads wait while both
 * buffers are empty. Writes are cut into pieces of at most `wide_piece`
 * characters, and the wide buffer is written out before it holds more
 * than that, so that every write glibc makes is of at most PIPE_BUF
 * bytes, which a ready pipe or socket takes at once. fgetws is fgetwc
 * repeated, with fgetws' error-flag rules. Limits (README.md): a
 * multibyte character split across two reads makes glibc read again,
 * which blocks until the rest arrives; wide output reaches the fd in
 * pieces of at most PIPE_BUF bytes rather than when the buffer fills. */
#include "stdio_preload.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

extern _Noreturn void __chk_fail(void);

/* The most wide characters one piece may hold. */
static size_t wide_piece(void)
{
    size_t m = MB_CUR_MAX;
    size_t n = PIPE_BUF / (2 * (m > 0 ? m : 1));
    return n > 0 ? n : 1;
}

/* --- reading ---------------------------------------------------------- */

/* Before glibc's wide read on a green stream: what is pending in the
 * wide buffer is written out first (glibc does when it switches to
 * reading), then the fd is waited for if both buffers are empty. */
static int wide_prepare_read(struct gs *c)
{
    FILE *f = c->f;
    struct gs_wide *w = gs_wide(f);
    if (f->_mode > 0 && w != NULL && w->read_ptr < w->read_end) {
        return 0;
    }
    if (f->_mode > 0 && w != NULL && w->write_ptr > w->write_base) {
        if (gs_prepare(c, POLLOUT) < 0) {
            return -1;
        }
        GREEN_REAL(fflush_unlocked)(f);
    }
    return gs_prepare(c, POLLIN);
}

static wint_t green_getwc(FILE *f, bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(getwc)(f) : GREEN_REAL(getwc_unlocked)(f);
    }
    if (c.failed) {
        return WEOF;
    }
    wint_t r = wide_prepare_read(&c) < 0 ? WEOF
                                         : GREEN_REAL(getwc_unlocked)(f);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE wint_t getwc(FILE *f)
{
    return green_getwc(f, true);
}

GREEN_INTERPOSE wint_t fgetwc(FILE *f)
{
    return green_getwc(f, true);
}

GREEN_INTERPOSE wint_t getwchar(void)
{
    return green_getwc(stdin, true);
}

GREEN_INTERPOSE wint_t getwc_unlocked(FILE *f)
{
    return green_getwc(f, false);
}

GREEN_INTERPOSE wint_t fgetwc_unlocked(FILE *f)
{
    return green_getwc(f, false);
}

GREEN_INTERPOSE wint_t getwchar_unlocked(void)
{
    return green_getwc(stdin, false);
}

GREEN_INTERPOSE wint_t __wuflow(FILE *f)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__wuflow)(f);
    }
    return wide_prepare_read(&c) < 0 ? WEOF : GREEN_REAL(__wuflow)(f);
}

GREEN_INTERPOSE wint_t __wunderflow(FILE *f)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__wunderflow)(f);
    }
    return wide_prepare_read(&c) < 0 ? WEOF : GREEN_REAL(__wunderflow)(f);
}

GREEN_INTERPOSE wint_t ungetwc(wint_t wc, FILE *f)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return GREEN_REAL(ungetwc)(wc, f);
    }
    if (c.failed) {
        return WEOF;
    }
    wint_t r = GREEN_REAL(ungetwc)(wc, f);
    gs_leave(&c);
    return r;
}

/* fgetws and __fgetws_chk (limit: the buffer's size in characters):
 * _IO_getwline one character at a time. */
static wchar_t *green_fgetws(wchar_t *buf, size_t limit, int n, FILE *f,
                             bool locking, bool chk)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        if (chk) {
            return locking ? GREEN_REAL(__fgetws_chk)(buf, limit, n, f)
                           : GREEN_REAL(__fgetws_unlocked_chk)(buf, limit, n,
                                                               f);
        }
        return locking ? GREEN_REAL(fgetws)(buf, n, f)
                       : GREEN_REAL(fgetws_unlocked)(buf, n, f);
    }
    if (n <= 0) {
        gs_leave(&c);
        return NULL;
    }
    if (n == 1 && !chk) {
        gs_leave(&c);
        buf[0] = L'\0';
        return buf;
    }
    if (c.failed) {
        return NULL;
    }
    int old_error = f->_flags & GS_ERR_SEEN;
    f->_flags &= ~GS_ERR_SEEN;
    size_t want = (size_t)n - 1, count = 0;
    if (chk && limit < want) {
        want = limit;
    }
    if (f->_mode == 0) {
        GREEN_REAL(fwide)(f, 1);
    }
    while (count < want) {
        if (wide_prepare_read(&c) < 0) {
            break;
        }
        wint_t wc = GREEN_REAL(getwc_unlocked)(f);
        if (wc == WEOF) {
            break;
        }
        buf[count++] = (wchar_t)wc;
        if (wc == L'\n') {
            break;
        }
    }
    wchar_t *result;
    if (count == 0 || ((f->_flags & GS_ERR_SEEN) && errno != EAGAIN)) {
        result = NULL;
    } else {
        if (chk && count >= limit) {
            __chk_fail();
        }
        buf[count] = L'\0';
        result = buf;
    }
    f->_flags |= old_error;
    gs_leave(&c);
    return result;
}

GREEN_INTERPOSE wchar_t *fgetws(wchar_t *buf, int n, FILE *f)
{
    return green_fgetws(buf, SIZE_MAX, n, f, true, false);
}

GREEN_INTERPOSE wchar_t *fgetws_unlocked(wchar_t *buf, int n, FILE *f)
{
    return green_fgetws(buf, SIZE_MAX, n, f, false, false);
}

GREEN_INTERPOSE wchar_t *__fgetws_chk(wchar_t *buf, size_t size, int n,
                                      FILE *f)
{
    return green_fgetws(buf, size, n, f, true, true);
}

GREEN_INTERPOSE wchar_t *__fgetws_unlocked_chk(wchar_t *buf, size_t size,
                                               int n, FILE *f)
{
    return green_fgetws(buf, size, n, f, false, true);
}

/* --- writing ------------------------------------------------------------ */

/* Before glibc writes `count` wide characters (newline: one of them is
 * L'\n') to a green stream: the wide buffer is written out first if the
 * piece would take it past wide_piece() characters, and the fd is
 * waited for if glibc may write. 0, or -1 (the wait failed). */
static int wide_prepare_write(struct gs *c, size_t count, bool newline)
{
    FILE *f = c->f;
    struct gs_wide *w = gs_wide(f);
    if (f->_mode <= 0 || w == NULL || w->write_base == NULL) {
        return gs_prepare(c, POLLOUT); /* its first write: allocations */
    }
    size_t pending = (size_t)(w->write_ptr - w->write_base);
    if (pending + count > wide_piece()) {
        if (gs_prepare(c, POLLOUT) < 0) {
            return -1;
        }
        GREEN_REAL(fflush_unlocked)(f);
    }
    if ((f->_flags & GS_UNBUFFERED) ||
        ((f->_flags & GS_LINE_BUF) && newline) ||
        (size_t)(w->write_end - w->write_ptr) <= count) {
        return gs_prepare(c, POLLOUT);
    }
    return 0;
}

static wint_t green_putwc(wchar_t wc, FILE *f, bool locking, bool orient)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        if (orient) {
            return locking ? GREEN_REAL(fputwc)(wc, f)
                           : GREEN_REAL(fputwc_unlocked)(wc, f);
        }
        return locking ? GREEN_REAL(putwc)(wc, f)
                       : GREEN_REAL(putwc_unlocked)(wc, f);
    }
    if (c.failed) {
        return WEOF;
    }
    wint_t r;
    if (orient && GREEN_REAL(fwide)(f, 1) < 0) {
        r = WEOF;
    } else if (wide_prepare_write(&c, 1, wc == L'\n') < 0) {
        r = WEOF;
    } else {
        r = GREEN_REAL(putwc_unlocked)(wc, f);
    }
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE wint_t fputwc(wchar_t wc, FILE *f)
{
    return green_putwc(wc, f, true, true);
}

GREEN_INTERPOSE wint_t putwc(wchar_t wc, FILE *f)
{
    return green_putwc(wc, f, true, false);
}

GREEN_INTERPOSE wint_t putwchar(wchar_t wc)
{
    return green_putwc(wc, stdout, true, false);
}

GREEN_INTERPOSE wint_t fputwc_unlocked(wchar_t wc, FILE *f)
{
    return green_putwc(wc, f, false, true);
}

GREEN_INTERPOSE wint_t putwc_unlocked(wchar_t wc, FILE *f)
{
    return green_putwc(wc, f, false, false);
}

GREEN_INTERPOSE wint_t putwchar_unlocked(wchar_t wc)
{
    return green_putwc(wc, stdout, false, false);
}

GREEN_INTERPOSE wint_t __woverflow(FILE *f, wint_t wc)
{
    struct gs c;
    gs_enter(&c, f, false);
    if (c.s == NULL) {
        return GREEN_REAL(__woverflow)(f, wc);
    }
    return wide_prepare_write(&c, 1, wc == L'\n') < 0
               ? WEOF
               : GREEN_REAL(__woverflow)(f, wc);
}

/* Writes len characters of str (the lock held, the stream wide), in
 * pieces. true if all of them went. */
static bool wide_write(struct gs *c, const wchar_t *str, size_t len)
{
    size_t piece = wide_piece();
    wchar_t chunk[PIPE_BUF / 2 + 1];
    while (len > 0) {
        size_t n = len < piece ? len : piece;
        const wchar_t *nl = wmemchr(str, L'\n', n);
        if (wide_prepare_write(c, n, nl != NULL) < 0) {
            return false;
        }
        size_t at = 0;
        while (at < n) {
            /* fputws takes a string: an embedded L'\0' goes alone. */
            if (str[at] == L'\0') {
                if (GREEN_REAL(fputwc_unlocked)(L'\0', c->f) == WEOF) {
                    return false;
                }
                at++;
                continue;
            }
            size_t k = at;
            while (k < n && str[k] != L'\0') {
                k++;
            }
            wmemcpy(chunk, str + at, k - at);
            chunk[k - at] = L'\0';
            if (GREEN_REAL(fputws_unlocked)(chunk, c->f) < 0) {
                return false;
            }
            at = k;
        }
        str += n;
        len -= n;
    }
    return true;
}

static int green_fputws(const wchar_t *str, FILE *f, bool locking)
{
    struct gs c;
    gs_enter(&c, f, locking);
    if (c.s == NULL) {
        return locking ? GREEN_REAL(fputws)(str, f)
                       : GREEN_REAL(fputws_unlocked)(str, f);
    }
    if (c.failed) {
        return EOF;
    }
    size_t len = wcslen(str);
    int r = GREEN_REAL(fwide)(f, 1) == 1 && wide_write(&c, str, len) ? 1
                                                                      : EOF;
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int fputws(const wchar_t *str, FILE *f)
{
    return green_fputws(str, f, true);
}

GREEN_INTERPOSE int fputws_unlocked(const wchar_t *str, FILE *f)
{
    return green_fputws(str, f, false);
}

/* vfwprintf: formatted into memory (open_wmemstream, with glibc's own
 * vfwprintf and fortify flag), then written in pieces. */
static int green_vfwprintf(FILE *f, int flag, const wchar_t *fmt,
                           va_list ap)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s == NULL) {
        return flag >= 0 ? GREEN_REAL(__vfwprintf_chk)(f, flag, fmt, ap)
                         : GREEN_REAL(vfwprintf)(f, fmt, ap);
    }
    if (c.failed) {
        return -1;
    }
    int r = -1;
    if (GREEN_REAL(fwide)(f, 1) != 1) {
        goto out;
    }
    if (f->_flags & GS_NO_WRITES) {
        f->_flags |= GS_ERR_SEEN;
        errno = EBADF;
        goto out;
    }
    if (fmt == NULL) {
        errno = EINVAL;
        goto out;
    }
    wchar_t *text = NULL;
    size_t len = 0;
    FILE *m = open_wmemstream(&text, &len);
    if (m == NULL) {
        goto out;
    }
    int n = flag >= 0 ? GREEN_REAL(__vfwprintf_chk)(m, flag, fmt, ap)
                      : GREEN_REAL(vfwprintf)(m, fmt, ap);
    int e = errno;
    GREEN_REAL(fclose)(m);
    errno = e;
    if (n >= 0 && wide_write(&c, text, len)) {
        r = n;
    }
    e = errno;
    free(text);
    errno = e;
out:
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int vfwprintf(FILE *f, const wchar_t *fmt, va_list ap)
{
    return green_vfwprintf(f, -1, fmt, ap);
}

GREEN_INTERPOSE int vwprintf(const wchar_t *fmt, va_list ap)
{
    return green_vfwprintf(stdout, -1, fmt, ap);
}

GREEN_INTERPOSE int fwprintf(FILE *f, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwprintf(f, -1, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int wprintf(const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwprintf(stdout, -1, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __vfwprintf_chk(FILE *f, int flag, const wchar_t *fmt,
                                    va_list ap)
{
    return green_vfwprintf(f, flag, fmt, ap);
}

GREEN_INTERPOSE int __vwprintf_chk(int flag, const wchar_t *fmt, va_list ap)
{
    return green_vfwprintf(stdout, flag, fmt, ap);
}

GREEN_INTERPOSE int __fwprintf_chk(FILE *f, int flag, const wchar_t *fmt,
                                   ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwprintf(f, flag, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __wprintf_chk(int flag, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwprintf(stdout, flag, fmt, ap);
    va_end(ap);
    return r;
}

/* vfwscanf: glibc's own, once the fd has something to read. */
static int green_vfwscanf(FILE *f, bool iso, const wchar_t *fmt,
                          va_list ap)
{
    struct gs c;
    gs_enter(&c, f, true);
    if (c.s != NULL && !c.failed && wide_prepare_read(&c) < 0) {
        gs_leave(&c);
        return WEOF;
    }
    if (c.s != NULL && c.failed) {
        return WEOF;
    }
    int r = iso ? GREEN_REAL(__isoc99_vfwscanf)(f, fmt, ap)
                : GREEN_REAL(vfwscanf)(f, fmt, ap);
    gs_leave(&c);
    return r;
}

GREEN_INTERPOSE int gs_vfwscanf(FILE *, const wchar_t *, va_list)
    __asm__("vfwscanf");
GREEN_INTERPOSE int gs_vwscanf(const wchar_t *, va_list) __asm__("vwscanf");
GREEN_INTERPOSE int gs_fwscanf(FILE *, const wchar_t *, ...)
    __asm__("fwscanf");
GREEN_INTERPOSE int gs_wscanf(const wchar_t *, ...) __asm__("wscanf");

int gs_vfwscanf(FILE *f, const wchar_t *fmt, va_list ap)
{
    return green_vfwscanf(f, false, fmt, ap);
}

int gs_vwscanf(const wchar_t *fmt, va_list ap)
{
    return green_vfwscanf(stdin, false, fmt, ap);
}

int gs_fwscanf(FILE *f, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwscanf(f, false, fmt, ap);
    va_end(ap);
    return r;
}

int gs_wscanf(const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwscanf(stdin, false, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __isoc99_vfwscanf(FILE *f, const wchar_t *fmt,
                                      va_list ap)
{
    return green_vfwscanf(f, true, fmt, ap);
}

GREEN_INTERPOSE int __isoc99_vwscanf(const wchar_t *fmt, va_list ap)
{
    return green_vfwscanf(stdin, true, fmt, ap);
}

GREEN_INTERPOSE int __isoc99_fwscanf(FILE *f, const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwscanf(f, true, fmt, ap);
    va_end(ap);
    return r;
}

GREEN_INTERPOSE int __isoc99_wscanf(const wchar_t *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = green_vfwscanf(stdin, true, fmt, ap);
    va_end(ap);
    return r;
}
