/* SPDX-License-Identifier: MIT */
/* Green stdio's core (lib/stdio_green.c): what libgreen knows of each
 * stdio stream, and each stream's green lock. The preload's stdio
 * interposers (preload/stdio*.c) are built on it.
 *
 * A stream's record says whether its fd can block (a socket, pipe, FIFO,
 * tty or other non-file: "green") or not (a regular file, /dev/null,
 * a stream without an fd: "plain", glibc's own path), and whether its
 * jump table is glibc's plain file one (so that the preload may do the
 * stream's reads and writes itself, exactly as glibc would). The verdict
 * is cached and checked again, at the cost of a few loads, against the
 * fd table (lib/fd.h) on every use: a stream whose fd was closed, dup2'd
 * over or freopen'd is classified again.
 *
 * The green lock. glibc's stream lock is recursive per OS thread, and
 * every green thread of an OS thread is the same OS thread to it: two
 * green threads could both be inside one stream. So each green stream
 * has a lock of its own, recursive per greenlet, taken before glibc's and
 * held across the parks a stream call makes (glibc's is never held
 * across a park). Waiters park in the parking lot (lib/parking.h) and
 * are served first come, first served: an unlock hands the lock to the
 * longest waiter.
 *
 * Records live until the stream is closed through green__stdio_closed();
 * a waiter keeps the record it waits on alive, and learns when it gets
 * the lock that the stream was closed meanwhile (-EBADF). Nothing here
 * allocates through malloc (records come from mapped slabs). */
#ifndef GREEN_STDIO_GREEN_H
#define GREEN_STDIO_GREEN_H

#include <stdbool.h>
#include <stdio.h>

#include "internal.h"

enum green__stdio_verdict {
    GREEN__STDIO_UNKNOWN = 0,
    GREEN__STDIO_PLAIN,  /* glibc's path, untouched */
    GREEN__STDIO_EXACT,  /* blocking fd, glibc's plain file jump table:
                            the preload does the stream's I/O itself */
    GREEN__STDIO_WRAP    /* blocking fd, another jump table: the preload
                            waits for the fd before glibc's own call */
};

struct green__stdio_waiter;

struct green__stdio {
    FILE *f;                    /* the stream (the key) */
    struct green__stdio *next;  /* in its hash chain, or the free list */
    int fd;                     /* f's fd when it was classified */
    unsigned char verdict;      /* enum green__stdio_verdict */
    unsigned char snap_kind;    /* the fd table's kind, bytes and access */
    unsigned char snap_bytes;   /*  mode then: a change means another */
    unsigned char snap_acc;     /*  file behind the number */
    bool default_xsgetn;        /* EXACT with glibc's generic xsgetn
                                   (popen's streams): reads go through
                                   the buffer, never straight to the
                                   caller's memory */
    bool closed;                /* closed while someone waited for it */
    unsigned pins;              /* waiters keeping it alive (table lock) */
    /* The green lock. */
    struct greenlet *owner;     /* NULL when free */
    unsigned depth;             /* recursion of the owner */
    struct green__stdio_waiter *wait_head, *wait_tail; /* FIFO */
    int lock;                   /* spinlock over the four fields above */
};

/* f's record, classified, or NULL for a stream glibc's path serves as
 * it is (a plain one, or no memory). Called only on a thread where
 * green__go_green() said yes. Never switches. */
struct green__stdio *green__stdio_get(FILE *f);

/* The record of f if it has one (any verdict), else NULL. Never
 * switches, never makes one. */
struct green__stdio *green__stdio_peek(FILE *f);

/* Classifies fd as stdio sees it: whether a stream on it can block.
 * For calls that take an fd (dprintf). */
bool green__stdio_fd_blocks(int fd);

/* Waits, green, until fd is ready for events (POLLIN or POLLOUT), as a
 * blocking read or write of it would: at once for an fd that does not
 * block, that the program made non-blocking or that is the wrong end of
 * a pipe; honouring SO_RCVTIMEO/SO_SNDTIMEO (-EAGAIN) and signals as
 * read and write do. 0 (the call will not block), or the negative errno
 * the call would have failed with: -EBADF (closed meanwhile), -EAGAIN,
 * -EINTR, -EDEADLK... May switch. */
int green__stdio_wait(int fd, int events);

/* Takes s's green lock (recursive per greenlet); may switch. 0, or
 * -EBADF (the stream was closed while the caller waited), -EDEADLK
 * (nothing could ever release it), -ENOMEM, -EPERM (the hub). */
int green__stdio_lock(struct green__stdio *s);

/* 0 if s's lock was free or the caller's (taken, recursively), else
 * -EBUSY. Never switches. */
int green__stdio_trylock(struct green__stdio *s);

/* Releases one level of s's lock; the last one hands it to the longest
 * waiter. Returns false if the caller did not hold it. Never switches. */
bool green__stdio_unlock(struct green__stdio *s);

/* Whether the running greenlet holds s's lock. */
bool green__stdio_owned(const struct green__stdio *s);

/* Whether s's lock is held by anyone now. */
bool green__stdio_locked(const struct green__stdio *s);

/* f is being closed (fclose, freopen): its record leaves the table; a
 * waiter on its lock gets -EBADF. Call it holding the lock, just before
 * the stream goes; the lock is released by this call. */
void green__stdio_closed(struct green__stdio *s);

/* f (a stream glibc closed on its own: pclose) is gone: forgets its
 * record, if it has one and nobody holds or waits for its lock. */
void green__stdio_forget(FILE *f);

#endif
