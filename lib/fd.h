/* SPDX-License-Identifier: MIT */
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
#include <stddef.h>

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
    bool hidden;           /* the runtime's private dup of a description
                              the program closed under a waiting call
                              (green__fd_hide): not the program's fd */
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

/* close(2) as the program's (the preload's close): calls of this thread
 * blocked on fd in a read, write, accept or poll go on with its open file
 * description, as the kernel's do, on a private dup of it; the number is
 * free at once for the program's next open. Waits made with
 * green_wait_fd() and the like wake with -EBADF, as green_close() does.
 * A number green__fd_hide() holds is not the program's: -EBADF. */
int green__fd_close(int fd);

/* A private dup of fd's description for calls that go on after the
 * program closed fd: close-on-exec, placed high (at least half the
 * RLIMIT_NOFILE soft limit, or 32768) so that it takes no number the
 * program expects its next open to get; fd's entry copied, marked
 * hidden. -1 if there is no room up there (the caller then falls back
 * on -EBADF). */
int green__fd_hide(int fd);

/* Closes a dup green__fd_hide() made and forgets its entry. */
void green__fd_unhide(int d);

/* --- iowait.c: calls that go on after a close (green__fd_close) --- */

/* green__hub_io_wait_intr() on *fd for a call that goes on if the program
 * closes *fd meanwhile: the wait then moves to a private dup of the
 * description, whose number is left in *fd; the caller then works on it
 * and gives it back with green__hub_io_release(*fd) when the call ends. */
int green__hub_io_wait_follow(int *fd, int events, double timeout, int intr);

/* Moves this thread's waits on fd that follow it (the one above, and
 * green__hub_poll_wait's) to a private dup of its description, before fd
 * is closed. The other waiters are left for green__hub_io_forget(). */
void green__hub_io_move(int fd);

/* Gives back a call's hold on a private dup (green__hub_io_wait_follow):
 * the dup is closed when the last call on it lets go. */
void green__hub_io_release(int d);

/* For a call with a loop of its own (connect, io.c's green__coop has
 * its own): green__coop_wait() on *fd that follows a close of *fd to
 * the private dup, as green__hub_io_wait_follow() does; and, when the
 * call ends, green__coop_done(fd, *fd) lets go of that dup. */
int green__coop_wait_follow(int *fd, int events, double deadline);
void green__coop_done(int fd, int at);

/* The dups a poll's waits moved to: the poll holds them until it returns
 * (green__hub_poll_release), as the kernel's poll holds every file it
 * waited on, so that the peer of a socket closed under the poll sees no
 * hang-up before the poll's last look. */
struct pollfd;

struct green__poll_holds {
    int n;
    int fd[8];
};

/* green__hub_poll_wait(), the dups its waits moved to added to *h (one
 * beyond the eighth is let go at once). */
int green__hub_poll_wait_held(const struct pollfd *fds, size_t nfds,
                              double timeout, struct green__poll_holds *h);

/* Lets go of the dups in *h. */
void green__hub_poll_release(struct green__poll_holds *h);

/* Makes the description non-blocking for the runtime (for accept and
 * connect on an inherited blocking socket). 0 or a negative errno. */
int green__fd_set_sys_nonblock(int fd, struct green__fd *f);

#endif
