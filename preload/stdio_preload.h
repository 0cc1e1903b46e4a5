/* SPDX-License-Identifier: MIT */
/* What the stdio interposers (preload/stdio*.c) share: glibc's stream
 * flags, the context of one stream call, and glibc's own stream
 * internals (libio), redone with green reads and writes.
 *
 * Design. glibc's stdio reads and writes through its internal __read
 * and __write, which no interposer sees, and a stream's jump table
 * cannot be swapped (glibc validates it). So for a stream whose fd can
 * block and whose jump table is glibc's plain file one (fopen, fdopen,
 * popen, stdin/stdout/stderr: "exact" streams, lib/stdio_green.h), the
 * interposers do what glibc's own code does, step for step — the same
 * buffer pointers, flags, errno and return values, ported from glibc
 * 2.36's libio (fileops.c, genops.c, iogetline.c, iogetdelim.c...) —
 * but make each read and write through lib/'s green_read and
 * green_write, which park the calling green thread instead of the OS
 * thread. Everything the stream state is made of lives in the public
 * struct _IO_FILE (bits/types/struct_FILE.h), whose layout old binaries'
 * inline getc/putc fix for good; glibc's exported helpers
 * (_IO_doallocbuf, _IO_free_backup_area, __underflow for streams with
 * markers) do the rest. A stream of another kind on a blocking fd
 * ("wrap") and the wide-character calls are glibc's own calls, made once
 * the fd is ready (the limits are in README.md).
 *
 * Locking. A call takes the stream's green lock (recursive per green
 * thread, held across parks), then glibc's own lock, which it drops
 * around every park and takes back after: no green thread ever parks
 * holding a glibc lock. _unlocked calls take neither, as glibc's do;
 * a stream under FSETLOCKING_BYCALLER is locked only by flockfile. */
#ifndef GREEN_STDIO_PRELOAD_H
#define GREEN_STDIO_PRELOAD_H

#include "preload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* bits/stdio.h makes these macros when it inlines; here they are the
 * functions. */
#undef fread_unlocked
#undef fwrite_unlocked

#include "stdio_green.h"
#include "stdio_real.h"

/* libio's exported internals the ports use (glibc's own, never
 * interposed). */
extern void _IO_doallocbuf(FILE *);
extern void _IO_free_backup_area(FILE *);
extern int _IO_sputbackc(FILE *, int);
extern unsigned _IO_adjust_column(unsigned, const char *, int);
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);

/* glibc's stream flags (libio/libio.h), fixed by its ABI. */
#define GS_UNBUFFERED 0x0002
#define GS_NO_READS 0x0004
#define GS_NO_WRITES 0x0008
#define GS_EOF_SEEN 0x0010
#define GS_ERR_SEEN 0x0020
#define GS_LINKED 0x0080
#define GS_IN_BACKUP 0x0100
#define GS_LINE_BUF 0x0200
#define GS_CURRENTLY_PUTTING 0x0800
#define GS_IS_APPENDING 0x1000
#define GS_USER_LOCK 0x8000

/* The first fields of glibc's struct _IO_wide_data (libio/libio.h), the
 * wide buffer's pointers: fixed by the ABI too (old binaries' inline
 * getwc and putwc read them). */
struct gs_wide {
    wchar_t *read_ptr, *read_end, *read_base, *write_base, *write_ptr,
        *write_end, *buf_base, *buf_end;
};

static inline struct gs_wide *gs_wide(FILE *f)
{
    return (struct gs_wide *)(void *)f->_wide_data;
}

/* One stream call. */
struct gs {
    FILE *f;
    struct green__stdio *s; /* NULL: glibc's path, untouched */
    bool glock;             /* holds the green lock (to release) */
    bool rlock;             /* holds glibc's lock (dropped to park) */
    bool failed;            /* the green lock could not be had */
};

/* Starts a call on f: c->s is NULL when the stream takes glibc's path
 * (the caller then makes the real call); otherwise the green lock and
 * glibc's are held, as `locking` says (false for the _unlocked calls).
 * A stream that was closed while the caller waited for its lock, or a
 * lock nothing can ever release, leaves c->failed set with errno. */
static inline void gs_enter(struct gs *c, FILE *f, bool locking)
{
    c->f = f;
    c->s = NULL;
    c->glock = c->rlock = c->failed = false;
    if (!green__go_green(GREEN_PATCH_SOCKET) || f == NULL) {
        return;
    }
    struct green__stdio *s = green__stdio_get(f);
    if (s == NULL) {
        return;
    }
    c->s = s;
    if (!locking || (f->_flags & GS_USER_LOCK)) {
        return;
    }
    int r = green__stdio_lock(s);
    if (r < 0) {
        c->failed = true;
        errno = -r;
        return;
    }
    c->glock = true;
    GREEN_REAL(flockfile)(f);
    c->rlock = true;
}

/* gs_enter for a call that must not wait for the green lock: false
 * (nothing held) if another green thread holds it, or if f takes
 * glibc's path. */
static inline bool gs_enter_try(struct gs *c, FILE *f)
{
    c->f = f;
    c->s = NULL;
    c->glock = c->rlock = c->failed = false;
    if (!green__go_green(GREEN_PATCH_SOCKET) || f == NULL) {
        return false;
    }
    struct green__stdio *s = green__stdio_get(f);
    if (s == NULL || green__stdio_trylock(s) != 0) {
        return false;
    }
    c->s = s;
    c->glock = true;
    GREEN_REAL(flockfile)(f);
    c->rlock = true;
    return true;
}

/* Ends a call started by gs_enter. errno is left alone. */
static inline void gs_leave(struct gs *c)
{
    if (c->rlock) {
        GREEN_REAL(funlockfile)(c->f);
        c->rlock = false;
    }
    if (c->glock) {
        int e = errno;
        green__stdio_unlock(c->s);
        errno = e;
        c->glock = false;
    }
}

/* Around a park: glibc's lock is not held while the caller waits. */
static inline void gs_park_begin(struct gs *c)
{
    if (c->rlock) {
        GREEN_REAL(funlockfile)(c->f);
    }
}

static inline void gs_park_end(struct gs *c)
{
    if (c->rlock) {
        GREEN_REAL(flockfile)(c->f);
    }
}

/* Whether the call must go glibc's way but wait for the fd first: a
 * "wrap" stream, or a wide-oriented one. */
static inline bool gs_wrapped(const struct gs *c)
{
    return c->s->verdict == GREEN__STDIO_WRAP || c->f->_mode > 0;
}

/* --- glibc's libio, green (stdio_core.c) ------------------------------- */

/* __underflow and __uflow: the next byte, refilling the buffer with one
 * green read if it is empty; EOF with the stream's flags set as glibc
 * sets them. */
int gs_underflow(struct gs *c);
int gs_uflow(struct gs *c);

/* __overflow(f, ch) (and ch == EOF: write out the buffer). */
int gs_overflow(struct gs *c, int ch);

/* _IO_do_flush: writes out what the buffer holds; 0 or EOF. */
int gs_flush_pending(struct gs *c);

/* _IO_sputn and _IO_sgetn on the stream. */
size_t gs_xsputn(struct gs *c, const void *data, size_t n);
size_t gs_xsgetn(struct gs *c, void *data, size_t n);

/* _IO_getline_info: up to n bytes until delim (extract: 1 keep it,
 * 0 drop it, -1 leave it unread); *eof (may be NULL) says EOF ended it. */
size_t gs_getline(struct gs *c, char *buf, size_t n, int delim,
                  int extract, int *eof);

/* The body of fgets (glibc's error-flag rules included), of at most
 * `limit` bytes; *count gets what was read. */
char *gs_fgets(struct gs *c, char *buf, int n, size_t limit, size_t *count);

/* _IO_putc_unlocked / _IO_getc_unlocked. */
static inline int gs_putc(struct gs *c, int ch)
{
    FILE *f = c->f;
    if (f->_IO_write_ptr >= f->_IO_write_end) {
        return gs_overflow(c, (unsigned char)ch);
    }
    return (unsigned char)(*f->_IO_write_ptr++ = (char)ch);
}

static inline int gs_getc(struct gs *c)
{
    FILE *f = c->f;
    if (f->_IO_read_ptr >= f->_IO_read_end) {
        return gs_uflow(c);
    }
    return *(unsigned char *)f->_IO_read_ptr++;
}

/* For glibc's own calls on a "wrap" or wide stream: writes out what the
 * byte buffer holds (a green write) and waits until the fd is ready for
 * `events` (POLLIN only if the buffers are empty). 0, or -1 with errno
 * and the stream's error flag set as a failed read or write would. */
int gs_prepare(struct gs *c, int events);

/* The line-buffered read's courtesy: glibc flushes stdout before it
 * reads a line-buffered or unbuffered stream; this does it green. */
void gs_flush_stdout_for_read(struct gs *c);

/* fflush(NULL) for the green streams: each one's pending output,
 * written green; the real fflush(NULL) then finds nothing of theirs.
 * Returns 0 or EOF (some write failed). lines_only: only line-buffered
 * streams (_flushlbf). at_exit: exit's, which waits for no stream's
 * lock. */
int gs_flush_all(bool lines_only, bool at_exit);

#endif
