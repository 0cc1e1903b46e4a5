/* The per-fd table: what the program asked of each fd, apart from what
 * the runtime needs. Internal to lib/ (io.c is its user).
 *
 * fds are process-wide, so the table is too (one per process, shared by
 * every OS thread): a two-level array of chunks, allocated on first use
 * and never freed, so that a lookup is two loads and needs no lock. An
 * entry is filled the first time libgreen sees an fd (created through it,
 * or found open: then the kernel is asked what it is) and cleared when
 * the fd is closed through libgreen. */
#ifndef GREEN_FD_H
#define GREEN_FD_H

#include <stdbool.h>

enum green__fd_kind {
    GREEN__FD_UNSEEN = 0, /* not in the table yet */
    GREEN__FD_SOCKET,     /* waits; MSG_DONTWAIT if not O_NONBLOCK */
    GREEN__FD_STREAM,     /* pipe, FIFO, tty, eventfd...: waits */
    GREEN__FD_FILE        /* regular file, directory, block device:
                             never waits, passes through */
};

struct green__fd {
    unsigned char kind;    /* enum green__fd_kind */
    bool user_nonblock;    /* O_NONBLOCK as the program set it */
    bool sys_nonblock;     /* O_NONBLOCK as the open file description
                              really has it */
    unsigned char acc;     /* O_RDONLY, O_WRONLY or O_RDWR */
    bool bytes;            /* a byte stream (stream socket, pipe, FIFO):
                              a read that returns less than it asked for
                              left nothing behind */
    bool drained;          /* the last read here came back short: the next
                              one waits for the fd first (a hint only) */
    unsigned epoch;        /* green__fd_epoch when the flags were read */
    double rcvtimeo;       /* SO_RCVTIMEO in seconds, 0 for none */
    double sndtimeo;       /* SO_SNDTIMEO */
};

/* O_NONBLOCK belongs to the open file description, which dup(), fork()
 * and SCM_RIGHTS share among fd numbers: when the program changes it on
 * one fd, this counter moves, and every entry reads its flags back from
 * the kernel before its next use. */
extern unsigned green__fd_epoch;

/* Reads f's O_NONBLOCK back from the kernel (see green__fd_epoch). */
void green__fd_sync(int fd, struct green__fd *f);

/* fd's entry, filled from the kernel on first sight. NULL if fd is not
 * open (or beyond the table, or no memory): the caller then makes the
 * real call, which fails as libc's would. */
struct green__fd *green__fd_get(int fd);

/* fd's entry as it is, even unseen; NULL beyond the table or without
 * memory. */
struct green__fd *green__fd_slot(int fd);

/* Records an fd the runtime just made, of a known kind. */
void green__fd_made(int fd, enum green__fd_kind kind, int acc, bool bytes,
                    bool user_nonblock, bool sys_nonblock);

/* Gives fd2 fd's entry (dup: they share the open file description). */
void green__fd_copy(int fd, int fd2);

/* The program saw fd readable (poll, select): its next read tries at once,
 * whatever the short-read hint says. */
void green__fd_readable(int fd);

/* Forgets fd (it is being closed). */
void green__fd_forget(int fd);

/* Makes the description non-blocking for the runtime (for accept and
 * connect on an inherited blocking socket). 0 or a negative errno. */
int green__fd_set_sys_nonblock(int fd, struct green__fd *f);

#endif
