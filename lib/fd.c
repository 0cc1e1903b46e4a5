/* SPDX-License-Identifier: MIT */
/* The per-fd table (see fd.h). */
#include "fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "internal.h"
#include "real.h"

#define CHUNK_BITS 10
#define CHUNK ((size_t)1 << CHUNK_BITS)
#define NCHUNKS ((size_t)4096) /* 4M fds, beyond fs.nr_open's default */

static struct green__fd *chunks[NCHUNKS];

unsigned green__fd_epoch;

/* The chunk holding fd (NULL if not made yet) in *chunk; false for an fd
 * beyond the table. */
static bool chunk_of(int fd, struct green__fd **chunk)
{
    size_t c = (size_t)fd >> CHUNK_BITS;
    if (fd < 0 || c >= NCHUNKS) {
        return false;
    }
    *chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
    return true;
}

struct green__fd *green__fd_slot(int fd)
{
    struct green__fd *p;
    if (!chunk_of(fd, &p)) {
        return NULL;
    }
    size_t c = (size_t)fd >> CHUNK_BITS;
    if (GREEN__UNLIKELY(p == NULL)) {
        struct green__fd *n = calloc(CHUNK, sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        if (__atomic_compare_exchange_n(&chunks[c], &p, n, false,
                                        __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            p = n;
        } else {
            free(n); /* another thread won; p is its chunk */
        }
    }
    return &p[(size_t)fd & (CHUNK - 1)];
}

static double sock_timeout(int fd, int name)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (GREEN_REAL(getsockopt)(fd, SOL_SOCKET, name, &tv, &len) != 0) {
        return 0.0;
    }
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Fills f from what the kernel says of fd. false if fd is not open. */
static bool classify(int fd, struct green__fd *f)
{
    struct stat st;
    int fl = GREEN_REAL(fcntl)(fd, F_GETFL);
    if (fl == -1 || fstat(fd, &st) != 0) {
        return false;
    }
    f->user_nonblock = f->sys_nonblock = (fl & O_NONBLOCK) != 0;
    f->acc = (unsigned char)(fl & O_ACCMODE);
    f->epoch = green__fd_epoch;
    f->rcvtimeo = f->sndtimeo = 0.0;
    f->bytes = f->drained = false;
    switch (st.st_mode & S_IFMT) {
    case S_IFSOCK: {
        int type = 0;
        socklen_t len = sizeof(type);
        f->kind = GREEN__FD_SOCKET;
        f->bytes = GREEN_REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type,
                                          &len) == 0 &&
                   type == SOCK_STREAM;
        f->rcvtimeo = sock_timeout(fd, SO_RCVTIMEO);
        f->sndtimeo = sock_timeout(fd, SO_SNDTIMEO);
        break;
    }
    case S_IFIFO:
        f->kind = GREEN__FD_STREAM;
        f->bytes = true;
        break;
    case S_IFCHR: /* a tty hands out a line per read */
    case 0: /* anonymous inodes: eventfd, timerfd, signalfd, epoll */
        f->kind = GREEN__FD_STREAM;
        break;
    default:
        f->kind = GREEN__FD_FILE;
        break;
    }
    return true;
}

struct green__fd *green__fd_get(int fd)
{
    struct green__fd *f = green__fd_slot(fd);
    if (GREEN__UNLIKELY(f == NULL)) {
        return NULL;
    }
    if (GREEN__UNLIKELY(f->kind == GREEN__FD_UNSEEN) && !classify(fd, f)) {
        return NULL;
    }
    return f;
}

void green__fd_made(int fd, enum green__fd_kind kind, int acc, bool bytes,
                    bool user_nonblock, bool sys_nonblock)
{
    struct green__fd *f = green__fd_slot(fd);
    if (f != NULL) {
        *f = (struct green__fd){.kind = (unsigned char)kind,
                                .acc = (unsigned char)acc,
                                .bytes = bytes,
                                .epoch = green__fd_epoch,
                                .user_nonblock = user_nonblock,
                                .sys_nonblock = sys_nonblock};
    }
}

void green__fd_sync(int fd, struct green__fd *f)
{
    f->epoch = green__fd_epoch;
    int fl = GREEN_REAL(fcntl)(fd, F_GETFL);
    if (fl == -1) {
        return;
    }
    bool k = (fl & O_NONBLOCK) != 0;
    if (k && f->sys_nonblock && !f->user_nonblock) {
        return; /* the runtime's own */
    }
    f->user_nonblock = f->sys_nonblock = k;
}

void green__fd_copy(int fd, int fd2)
{
    struct green__fd *f = green__fd_slot(fd);
    struct green__fd *f2 = green__fd_slot(fd2);
    if (f2 != NULL) {
        if (f != NULL) {
            *f2 = *f;
            f2->hidden = false;
        } else {
            f2->kind = GREEN__FD_UNSEEN;
        }
    }
}

void green__fd_readable(int fd)
{
    struct green__fd *p; /* looked at, never made: no chunk, no hint */
    if (chunk_of(fd, &p) && p != NULL &&
        p[(size_t)fd & (CHUNK - 1)].drained) { /* no write if unset */
        p[(size_t)fd & (CHUNK - 1)].drained = false;
    }
}

void green__fd_forget(int fd)
{
    struct green__fd *f = green__fd_slot(fd);
    if (f != NULL) {
        f->kind = GREEN__FD_UNSEEN;
        f->hidden = false;
    }
}

int green__fd_hide(int fd)
{
    struct rlimit rl;
    int floor = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64) {
        floor = rl.rlim_cur > 65536 ? 32768 : (int)(rl.rlim_cur / 2);
    }
    if (fd >= floor) {
        return -1; /* the program's own fds are up there already */
    }
    int d = GREEN_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor);
    if (d < 0) {
        return -1;
    }
    green__fd_get(fd);
    green__fd_copy(fd, d);
    struct green__fd *f = green__fd_slot(d);
    if (f == NULL) {
        GREEN_REAL(close)(d);
        return -1;
    }
    f->hidden = true;
    return d;
}

void green__fd_unhide(int d)
{
    green__fd_forget(d);
    GREEN_REAL(close)(d);
}

int green__fd_set_sys_nonblock(int fd, struct green__fd *f)
{
    int fl = GREEN_REAL(fcntl)(fd, F_GETFL);
    if (fl == -1 ||
        (!(fl & O_NONBLOCK) &&
         GREEN_REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) == -1)) {
        return -errno;
    }
    f->sys_nonblock = true;
    return 0;
}
