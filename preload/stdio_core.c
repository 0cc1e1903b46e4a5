/* SPDX-License-Identifier: MIT */
/* glibc 2.36's libio internals for "exact" streams (stdio_preload.h),
 * step for step, with every read and write of the fd made green:
 * __underflow and __uflow (genops.c) with _IO_new_file_underflow,
 * _IO_new_file_overflow, new_do_write and _IO_new_file_write,
 * _IO_new_file_xsputn with _IO_default_xsputn, _IO_file_xsgetn and
 * _IO_default_xsgetn (fileops.c, genops.c), _IO_getline_info
 * (iogetline.c) and fgets' error-flag rules (iofgets.c). Each function
 * names the glibc one it follows; where they differ it says so.
 *
 * The caller holds the stream's green lock and, unless it is an
 * _unlocked call, glibc's; the reads and writes drop glibc's while they
 * park. */
#include "stdio_preload.h"

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "green/io.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* _IO_setg */
static void setg(FILE *f, char *base, char *ptr, char *end)
{
    f->_IO_read_base = base;
    f->_IO_read_ptr = ptr;
    f->_IO_read_end = end;
}

/* _IO_SYSREAD: one green read; -1 with errno on failure. */
static ssize_t sysread(struct gs *c, void *buf, size_t n)
{
    int e = errno; /* glibc's read leaves it alone unless it fails */
    gs_park_begin(c);
    ssize_t r = green_read(c->f->_fileno, buf, n);
    gs_park_end(c);
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    errno = e;
    return r;
}

/* _IO_new_file_write: writes all of it, green; stops at the first error
 * (the stream's error flag, errno). */
static size_t syswrite(struct gs *c, const char *data, size_t n)
{
    FILE *f = c->f;
    size_t to_do = n;
    int e = errno;
    while (to_do > 0) {
        gs_park_begin(c);
        ssize_t count = green_write(f->_fileno, data, to_do);
        gs_park_end(c);
        if (count < 0) {
            e = (int)-count;
            f->_flags |= GS_ERR_SEEN;
            break;
        }
        to_do -= (size_t)count;
        data += count;
    }
    errno = e;
    n -= to_do;
    if (f->_offset >= 0) {
        f->_offset += (off64_t)n;
    }
    return n;
}

/* new_do_write */
static size_t new_do_write(struct gs *c, const char *data, size_t to_do)
{
    FILE *f = c->f;
    if (f->_flags & GS_IS_APPENDING) {
        f->_offset = -1;
    } else if (f->_IO_read_end != f->_IO_write_base) {
        off64_t pos = lseek(f->_fileno, f->_IO_write_base - f->_IO_read_end,
                            SEEK_CUR);
        if (pos == -1) {
            return 0;
        }
        f->_offset = pos;
    }
    /* While the write waits, glibc's own walks over every stream
     * (another thread's fflush(NULL), exit's flush) must not take these
     * bytes for pending output and write them a second time: the buffer
     * looks empty until the write is done, and then it is. */
    if (data == f->_IO_write_base) {
        f->_IO_write_ptr = f->_IO_write_base;
    }
    size_t count = syswrite(c, data, to_do);
    if (f->_cur_column && count) {
        f->_cur_column =
            (unsigned short)(_IO_adjust_column(f->_cur_column - 1u, data,
                                               (int)count) + 1);
    }
    setg(f, f->_IO_buf_base, f->_IO_buf_base, f->_IO_buf_base);
    f->_IO_write_base = f->_IO_write_ptr = f->_IO_buf_base;
    f->_IO_write_end = (f->_mode <= 0 &&
                        (f->_flags & (GS_LINE_BUF | GS_UNBUFFERED)))
                           ? f->_IO_buf_base
                           : f->_IO_buf_end;
    return count;
}

/* _IO_new_do_write */
static int do_write(struct gs *c, const char *data, size_t to_do)
{
    return (to_do == 0 || new_do_write(c, data, to_do) == to_do) ? 0 : EOF;
}

int gs_flush_pending(struct gs *c)
{
    FILE *f = c->f;
    return do_write(c, f->_IO_write_base,
                    (size_t)(f->_IO_write_ptr - f->_IO_write_base));
}

/* _IO_new_file_overflow, and __overflow's orientation. */
int gs_overflow(struct gs *c, int ch)
{
    FILE *f = c->f;
    if (f->_mode == 0) {
        GREEN_REAL(fwide)(f, -1);
    }
    if (f->_flags & GS_NO_WRITES) {
        f->_flags |= GS_ERR_SEEN;
        errno = EBADF;
        return EOF;
    }
    if ((f->_flags & GS_CURRENTLY_PUTTING) == 0 || f->_IO_write_base == NULL) {
        if (f->_IO_write_base == NULL) {
            _IO_doallocbuf(f);
            setg(f, f->_IO_buf_base, f->_IO_buf_base, f->_IO_buf_base);
        }
        if (f->_flags & GS_IN_BACKUP) {
            size_t nbackup = (size_t)(f->_IO_read_end - f->_IO_read_ptr);
            _IO_free_backup_area(f);
            f->_IO_read_base -= MIN(nbackup, (size_t)(f->_IO_read_base -
                                                      f->_IO_buf_base));
            f->_IO_read_ptr = f->_IO_read_base;
        }
        if (f->_IO_read_ptr == f->_IO_buf_end) {
            f->_IO_read_end = f->_IO_read_ptr = f->_IO_buf_base;
        }
        f->_IO_write_ptr = f->_IO_read_ptr;
        f->_IO_write_base = f->_IO_write_ptr;
        f->_IO_write_end = f->_IO_buf_end;
        f->_IO_read_base = f->_IO_read_ptr = f->_IO_read_end;
        f->_flags |= GS_CURRENTLY_PUTTING;
        if (f->_mode <= 0 && (f->_flags & (GS_LINE_BUF | GS_UNBUFFERED))) {
            f->_IO_write_end = f->_IO_write_ptr;
        }
    }
    if (ch == EOF) {
        return gs_flush_pending(c);
    }
    if (f->_IO_write_ptr == f->_IO_buf_end && gs_flush_pending(c) == EOF) {
        return EOF;
    }
    *f->_IO_write_ptr++ = (char)ch;
    if (((f->_flags & GS_UNBUFFERED) ||
         ((f->_flags & GS_LINE_BUF) && ch == '\n')) &&
        gs_flush_pending(c) == EOF) {
        return EOF;
    }
    return (unsigned char)ch;
}

/* _IO_default_xsputn */
static size_t default_xsputn(struct gs *c, const char *s, size_t n)
{
    FILE *f = c->f;
    size_t more = n;
    if (more == 0) {
        return 0;
    }
    for (;;) {
        if (f->_IO_write_ptr < f->_IO_write_end) {
            size_t count = (size_t)(f->_IO_write_end - f->_IO_write_ptr);
            if (count > more) {
                count = more;
            }
            memcpy(f->_IO_write_ptr, s, count);
            f->_IO_write_ptr += count;
            s += count;
            more -= count;
        }
        if (more == 0 || gs_overflow(c, (unsigned char)*s++) == EOF) {
            break;
        }
        more--;
    }
    return n - more;
}

/* _IO_new_file_xsputn */
size_t gs_xsputn(struct gs *c, const void *data, size_t n)
{
    FILE *f = c->f;
    const char *s = data;
    size_t to_do = n, count = 0;
    int must_flush = 0;
    if (n == 0) {
        return 0;
    }
    if ((f->_flags & GS_LINE_BUF) && (f->_flags & GS_CURRENTLY_PUTTING)) {
        count = (size_t)(f->_IO_buf_end - f->_IO_write_ptr);
        if (count >= n) {
            for (const char *p = s + n; p > s;) {
                if (*--p == '\n') {
                    count = (size_t)(p - s + 1);
                    must_flush = 1;
                    break;
                }
            }
        }
    } else if (f->_IO_write_end > f->_IO_write_ptr) {
        count = (size_t)(f->_IO_write_end - f->_IO_write_ptr);
    }
    if (count > 0) {
        if (count > to_do) {
            count = to_do;
        }
        memcpy(f->_IO_write_ptr, s, count);
        f->_IO_write_ptr += count;
        s += count;
        to_do -= count;
    }
    if (to_do + (size_t)must_flush > 0) {
        if (gs_overflow(c, EOF) == EOF) {
            return to_do == 0 ? (size_t)EOF : n - to_do;
        }
        size_t block_size = (size_t)(f->_IO_buf_end - f->_IO_buf_base);
        size_t do_write = to_do - (block_size >= 128 ? to_do % block_size : 0);
        if (do_write) {
            count = new_do_write(c, s, do_write);
            to_do -= count;
            if (count < do_write) {
                return n - to_do;
            }
        }
        if (to_do) {
            to_do -= default_xsputn(c, s + do_write, to_do);
        }
    }
    return n - to_do;
}

/* _IO_switch_to_main_get_area */
static void switch_to_main_get_area(FILE *f)
{
    f->_flags &= ~GS_IN_BACKUP;
    char *tmp = f->_IO_read_end;
    f->_IO_read_end = f->_IO_save_end;
    f->_IO_save_end = tmp;
    tmp = f->_IO_read_base;
    f->_IO_read_base = f->_IO_save_base;
    f->_IO_save_base = tmp;
    f->_IO_read_ptr = f->_IO_read_base;
}

/* _IO_switch_to_get_mode */
static int switch_to_get_mode(struct gs *c)
{
    FILE *f = c->f;
    if (f->_IO_write_ptr > f->_IO_write_base && gs_overflow(c, EOF) == EOF) {
        return EOF;
    }
    if (f->_flags & GS_IN_BACKUP) {
        f->_IO_read_base = f->_IO_backup_base;
    } else {
        f->_IO_read_base = f->_IO_buf_base;
        if (f->_IO_write_ptr > f->_IO_read_end) {
            f->_IO_read_end = f->_IO_write_ptr;
        }
    }
    f->_IO_read_ptr = f->_IO_write_ptr;
    f->_IO_write_base = f->_IO_write_ptr = f->_IO_write_end = f->_IO_read_ptr;
    f->_flags &= ~GS_CURRENTLY_PUTTING;
    return 0;
}

/* The stdout flush of _IO_new_file_underflow (and _IO_wfile_underflow):
 * before a line-buffered or unbuffered stream is read, a line-buffered
 * stdout is written out, under stdout's locks. */
void gs_flush_stdout_for_read(struct gs *c)
{
    (void)c;
    FILE *o = stdout;
    struct gs oc;
    gs_enter(&oc, o, true);
    if (oc.failed) {
        return;
    }
    if (oc.s == NULL) {
        GREEN_REAL(flockfile)(o);
    }
    if ((o->_flags & (GS_LINKED | GS_NO_WRITES | GS_LINE_BUF)) ==
            (GS_LINKED | GS_LINE_BUF) &&
        o->_mode != 0) { /* unoriented, it has nothing to write */
        if (oc.s != NULL && !gs_wrapped(&oc)) {
            gs_overflow(&oc, EOF);
        } else {
            if (oc.s != NULL) {
                gs_prepare(&oc, POLLOUT);
            }
            if (o->_mode < 0) {
                GREEN_REAL(__overflow)(o, EOF);
            } else {
                GREEN_REAL(__woverflow)(o, WEOF);
            }
        }
    }
    if (oc.s == NULL) {
        GREEN_REAL(funlockfile)(o);
    }
    gs_leave(&oc);
}

/* _IO_new_file_underflow, the read made green. */
static int file_underflow(struct gs *c)
{
    FILE *f = c->f;
    if (f->_flags & GS_EOF_SEEN) {
        return EOF;
    }
    if (f->_flags & GS_NO_READS) {
        f->_flags |= GS_ERR_SEEN;
        errno = EBADF;
        return EOF;
    }
    if (f->_IO_read_ptr < f->_IO_read_end) {
        return *(unsigned char *)f->_IO_read_ptr;
    }
    if (f->_IO_buf_base == NULL) {
        if (f->_IO_save_base != NULL) {
            free(f->_IO_save_base);
            f->_flags &= ~GS_IN_BACKUP;
        }
        _IO_doallocbuf(f);
    }
    if (f->_flags & (GS_LINE_BUF | GS_UNBUFFERED)) {
        gs_park_begin(c); /* stdout's lock may make the caller wait */
        gs_flush_stdout_for_read(c);
        gs_park_end(c);
    }
    switch_to_get_mode(c);
    f->_IO_read_base = f->_IO_read_ptr = f->_IO_buf_base;
    f->_IO_read_end = f->_IO_buf_base;
    f->_IO_write_base = f->_IO_write_ptr = f->_IO_write_end = f->_IO_buf_base;
    ssize_t count = sysread(c, f->_IO_buf_base,
                            (size_t)(f->_IO_buf_end - f->_IO_buf_base));
    if (count <= 0) {
        if (count == 0) {
            f->_flags |= GS_EOF_SEEN;
        } else {
            f->_flags |= GS_ERR_SEEN;
            count = 0;
        }
    }
    f->_IO_read_end += count;
    if (count == 0) {
        f->_offset = -1;
        return EOF;
    }
    if (f->_offset != -1) {
        f->_offset += count;
    }
    return *(unsigned char *)f->_IO_read_ptr;
}

/* __underflow */
int gs_underflow(struct gs *c)
{
    FILE *f = c->f;
    if (f->_mode > 0) {
        return EOF; /* a wide stream */
    }
    if (f->_mode == 0) {
        GREEN_REAL(fwide)(f, -1);
    }
    if ((f->_flags & GS_CURRENTLY_PUTTING) && switch_to_get_mode(c) == EOF) {
        return EOF;
    }
    if (f->_IO_read_ptr < f->_IO_read_end) {
        return *(unsigned char *)f->_IO_read_ptr;
    }
    if (f->_flags & GS_IN_BACKUP) {
        switch_to_main_get_area(f);
        if (f->_IO_read_ptr < f->_IO_read_end) {
            return *(unsigned char *)f->_IO_read_ptr;
        }
    }
    if (f->_markers != NULL) {
        /* glibc's save_for_backup is its own: the fd is waited for, and
         * glibc's __underflow makes the read. */
        if (gs_prepare(c, POLLIN) < 0) {
            return EOF;
        }
        return GREEN_REAL(__underflow)(f);
    }
    if (f->_IO_save_base != NULL) {
        _IO_free_backup_area(f);
    }
    return file_underflow(c);
}

/* __uflow, through _IO_default_uflow */
int gs_uflow(struct gs *c)
{
    int ch = gs_underflow(c);
    if (ch == EOF) {
        return EOF;
    }
    return *(unsigned char *)c->f->_IO_read_ptr++;
}

/* _IO_file_xsgetn, or _IO_default_xsgetn for popen's streams. */
size_t gs_xsgetn(struct gs *c, void *data, size_t n)
{
    FILE *f = c->f;
    char *s = data;
    size_t want = n;
    if (c->s->default_xsgetn) {
        for (;;) {
            if (f->_IO_read_ptr < f->_IO_read_end) {
                size_t count = (size_t)(f->_IO_read_end - f->_IO_read_ptr);
                if (count > want) {
                    count = want;
                }
                memcpy(s, f->_IO_read_ptr, count);
                s += count;
                f->_IO_read_ptr += count;
                want -= count;
            }
            if (want == 0 || gs_underflow(c) == EOF) {
                break;
            }
        }
        return n - want;
    }
    if (f->_IO_buf_base == NULL) {
        if (f->_IO_save_base != NULL) {
            free(f->_IO_save_base);
            f->_flags &= ~GS_IN_BACKUP;
        }
        _IO_doallocbuf(f);
    }
    while (want > 0) {
        size_t have = (size_t)(f->_IO_read_end - f->_IO_read_ptr);
        if (want <= have) {
            memcpy(s, f->_IO_read_ptr, want);
            f->_IO_read_ptr += want;
            want = 0;
            break;
        }
        if (have > 0) {
            memcpy(s, f->_IO_read_ptr, have);
            s += have;
            want -= have;
            f->_IO_read_ptr += have;
        }
        if (f->_flags & GS_IN_BACKUP) {
            switch_to_main_get_area(f);
            continue;
        }
        if (f->_IO_buf_base &&
            want < (size_t)(f->_IO_buf_end - f->_IO_buf_base)) {
            if (gs_underflow(c) == EOF) {
                break;
            }
            continue;
        }
        setg(f, f->_IO_buf_base, f->_IO_buf_base, f->_IO_buf_base);
        f->_IO_write_base = f->_IO_write_ptr = f->_IO_buf_base; /* _IO_setp */
        f->_IO_write_end = f->_IO_buf_base;
        size_t count = want;
        if (f->_IO_buf_base) {
            size_t block_size = (size_t)(f->_IO_buf_end - f->_IO_buf_base);
            if (block_size >= 128) {
                count -= want % block_size;
            }
        }
        ssize_t got = sysread(c, s, count);
        if (got <= 0) {
            f->_flags |= got == 0 ? GS_EOF_SEEN : GS_ERR_SEEN;
            break;
        }
        s += got;
        want -= (size_t)got;
        if (f->_offset != -1) {
            f->_offset += got;
        }
    }
    return n - want;
}

/* _IO_getline_info */
size_t gs_getline(struct gs *c, char *buf, size_t n, int delim, int extract,
                  int *eof)
{
    FILE *f = c->f;
    char *ptr = buf;
    if (eof != NULL) {
        *eof = 0;
    }
    if (f->_mode == 0) {
        GREEN_REAL(fwide)(f, -1);
    }
    while (n != 0) {
        ssize_t len = f->_IO_read_end - f->_IO_read_ptr;
        if (len <= 0) {
            int ch = gs_uflow(c);
            if (ch == EOF) {
                if (eof != NULL) {
                    *eof = ch;
                }
                break;
            }
            if (ch == delim) {
                if (extract > 0) {
                    *ptr++ = (char)ch;
                } else if (extract < 0) {
                    _IO_sputbackc(f, ch);
                }
                return (size_t)(ptr - buf);
            }
            *ptr++ = (char)ch;
            n--;
        } else {
            if ((size_t)len >= n) {
                len = (ssize_t)n;
            }
            char *t = memchr(f->_IO_read_ptr, delim, (size_t)len);
            if (t != NULL) {
                size_t old_len = (size_t)(ptr - buf);
                len = t - f->_IO_read_ptr;
                if (extract >= 0) {
                    ++t;
                    if (extract > 0) {
                        ++len;
                    }
                }
                memcpy(ptr, f->_IO_read_ptr, (size_t)len);
                f->_IO_read_ptr = t;
                return old_len + (size_t)len;
            }
            memcpy(ptr, f->_IO_read_ptr, (size_t)len);
            f->_IO_read_ptr += len;
            ptr += len;
            n -= (size_t)len;
        }
    }
    return (size_t)(ptr - buf);
}

/* _IO_fgets and __fgets_chk, from the lock in: a stream's old error
 * does not fail this call, and a partial line that met EAGAIN is
 * returned (the error comes with the next read). */
char *gs_fgets(struct gs *c, char *buf, int n, size_t limit, size_t *count)
{
    FILE *f = c->f;
    int old_error = f->_flags & GS_ERR_SEEN;
    f->_flags &= ~GS_ERR_SEEN;
    size_t want = (size_t)n - 1;
    *count = gs_getline(c, buf, MIN(want, limit), '\n', 1, NULL);
    char *result;
    if (*count == 0 || ((f->_flags & GS_ERR_SEEN) && errno != EAGAIN)) {
        result = NULL;
    } else {
        result = buf;
    }
    f->_flags |= old_error;
    return result;
}

/* --- glibc's own calls, made once the fd is ready ------------------------ */

int gs_prepare(struct gs *c, int events)
{
    FILE *f = c->f;
    if (events == POLLOUT || (f->_flags & GS_CURRENTLY_PUTTING)) {
        /* Pending bytes first: glibc would write them before anything. */
        if (f->_mode <= 0 && (f->_flags & GS_CURRENTLY_PUTTING) &&
            f->_IO_write_ptr > f->_IO_write_base &&
            gs_flush_pending(c) == EOF) {
            return -1;
        }
    }
    if (events == POLLIN) {
        if (f->_IO_read_ptr < f->_IO_read_end ||
            (f->_flags & (GS_EOF_SEEN | GS_NO_READS))) {
            return 0; /* glibc will not read */
        }
        if (f->_mode > 0) {
            struct gs_wide *w = gs_wide(f);
            if (w != NULL && w->read_ptr < w->read_end) {
                return 0;
            }
        }
        if (f->_flags & (GS_LINE_BUF | GS_UNBUFFERED)) {
            gs_park_begin(c);
            gs_flush_stdout_for_read(c);
            gs_park_end(c);
        }
    }
    int e = errno;
    gs_park_begin(c);
    int r = green__stdio_wait(f->_fileno, events);
    gs_park_end(c);
    errno = e;
    if (r < 0) {
        /* What the read or write would have met. */
        f->_flags |= GS_ERR_SEEN;
        errno = -r;
        return -1;
    }
    return 0;
}

/* --- fflush(NULL) -------------------------------------------------------- */

/* glibc's list of every open stream (libio/genops.c). */
extern FILE *_IO_list_all;

/* Whether f is still an open stream (the list's lock held). */
static bool listed(FILE *f)
{
    for (FILE *p = _IO_list_all; p != NULL; p = p->_chain) {
        if (p == f) {
            return true;
        }
    }
    return false;
}

static bool pending(FILE *f, bool lines_only)
{
    if (lines_only && !(f->_flags & GS_LINE_BUF)) {
        return false;
    }
    if (f->_mode <= 0) {
        return f->_IO_write_ptr > f->_IO_write_base;
    }
    struct gs_wide *w = gs_wide(f);
    return w != NULL && w->write_ptr > w->write_base;
}

int gs_flush_all(bool lines_only, bool at_exit)
{
    if (!green__go_green(GREEN_PATCH_SOCKET)) {
        return 0;
    }
    enum { BATCH = 64 };
    FILE *batch[BATCH];
    size_t n = 0;
    int result = 0;
    /* The green streams with something to write, a batch at a time
     * (each is looked for in the list again before it is used: another
     * thread may close it while this one writes another). */
    FILE *from = NULL;
    for (;;) {
        n = 0;
        _IO_list_lock();
        bool past = from == NULL;
        for (FILE *p = _IO_list_all; p != NULL && n < BATCH; p = p->_chain) {
            if (!past) {
                past = p == from;
                continue;
            }
            /* As glibc's fflush(NULL) takes every stream's lock in turn,
             * a stream another thread is inside of is waited for. */
            struct green__stdio *s = green__stdio_peek(p);
            if (s != NULL &&
                (pending(p, lines_only) ||
                 (!at_exit && green__stdio_locked(s)))) {
                batch[n++] = p;
            }
        }
        _IO_list_unlock();
        for (size_t i = 0; i < n; i++) {
            FILE *f = batch[i];
            _IO_list_lock();
            bool open = listed(f);
            _IO_list_unlock();
            if (!open) {
                continue;
            }
            struct gs c;
            if (at_exit) {
                /* exit's flush takes no lock (glibc's _IO_cleanup does
                 * not): a stream another thread holds is left to it. */
                if (!gs_enter_try(&c, f)) {
                    continue;
                }
            } else {
                gs_enter(&c, f, true);
            }
            if (c.failed || c.s == NULL) {
                gs_leave(&c);
                continue;
            }
            _IO_list_lock();
            open = listed(f);
            _IO_list_unlock();
            if (open && pending(f, lines_only)) {
                if (!gs_wrapped(&c)) {
                    if (gs_flush_pending(&c) == EOF) {
                        result = EOF;
                    }
                } else if (gs_prepare(&c, POLLOUT) < 0 ||
                           GREEN_REAL(fflush_unlocked)(f) == EOF) {
                    result = EOF;
                }
            }
            gs_leave(&c);
        }
        if (n < BATCH) {
            break;
        }
        from = batch[n - 1];
        _IO_list_lock();
        bool open = listed(from);
        _IO_list_unlock();
        if (!open) {
            break; /* the rest will be glibc's to flush */
        }
    }
    return result;
}
