/* SPDX-License-Identifier: MIT */
/* Files and exec: the calls on files that can wait for another party, and
 * the exec family.
 *
 *  - flock, fcntl(F_SETLKW / F_OFD_SETLKW) (from preload/socket.c's fcntl)
 *    and lockf(F_LOCK) first try the lock without waiting (LOCK_NB,
 *    F_SETLK, F_OFD_SETLK); only a lock another holds makes the caller
 *    wait, and then the waiting call itself runs on a worker thread
 *    (lib/workers.h: a wait for another party, so a thread of its own)
 *    while only the caller parks. The results and errors are the
 *    kernel's: EDEADLK, EBADF, EINVAL, EINTR;
 *  - open, openat, creat (and their 64 and fortified forms) of a FIFO
 *    for reading only or writing only, without O_NONBLOCK, wait for the
 *    other end: a FIFO (one fstatat first, for a green caller whose open
 *    could block) is opened on a worker. Every other open is made at
 *    once, as before;
 *  - fsync and fdatasync run on a worker (a regular file's reads go there
 *    from lib/io.c when they miss the page cache).
 * A signal that ends such a wait (EINTR where the handler lacks
 * SA_RESTART; only the main green thread is interrupted, as elsewhere)
 * leaves the worker in the call; when the call then succeeds, the worker
 * undoes it, since the program was told it failed: it closes the FIFO it
 * opened, releases the lock it took (for flock and OFD locks through a
 * dup of the fd, the same open file description; a POSIX record lock by
 * the fd itself, which also drops what the process held on that range
 * before, where a native EINTR would have left it).
 *
 * exec: before execve and the rest of the exec family, and before
 * posix_spawn and posix_spawnp, every open file description whose
 * O_NONBLOCK the runtime set for itself (a listening socket for accept, a
 * socket while its connect lasts) gets the program's own flags back, so
 * that the new program sees what it would natively; the fd table then
 * says they are blocking, and the runtime sets the flag again only when
 * it next needs it (after posix_spawn, the parent's next accept on a
 * listening socket the child shares makes it non-blocking again for both,
 * and a forked child that execs clears it for the parent too, which the
 * parent does not see: known limits). */
#include "preload.h"

#include "cancel.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd.h"
#include "workers.h"

int green__fcntl_setlkw(int fd, int cmd, void *arg);

static bool green_os(void)
{
    return green__go_green(GREEN_PATCH_OS);
}

/* --- waits on a worker ----------------------------------------------------- */

struct req {
    int fd;                /* the program's fd, or our dup of it */
    bool dup;              /* fd is our dup: closed when done */
    int op;                /* flock's, or fcntl's command */
    struct flock fl;
    int dirfd, flags;      /* openat's */
    mode_t mode;
    char path[];           /* openat's, copied */
};

/* A dup of fd placed high, so that the program's own next fd numbers do
 * not move; -1 if none can be made. */
static int high_dup(int fd)
{
    struct rlimit rl;
    int floor = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64) {
        floor = rl.rlim_cur > 65536 ? 32768 : (int)(rl.rlim_cur / 2);
    }
    int d = GREEN_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, floor);
    return d >= 0 ? d : GREEN_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
}

static void done_with(struct req *q)
{
    if (q->dup) {
        GREEN_REAL(close)(q->fd);
    }
}

/* Runs run(j) on a worker for the caller (a wait for another party, that
 * a signal may end) and returns its result as libc would. */
static long on_worker(void (*run)(struct green__job *),
                      void (*undo)(struct green__job *), struct req *q,
                      size_t qsize)
{
    struct green__job *j = calloc(1, sizeof(*j) + qsize);
    if (j == NULL) {
        errno = ENOMEM;
        done_with(q);
        return -1;
    }
    memcpy(j + 1, q, qsize);
    j->run = run;
    j->undo = undo;
    j->arg = j + 1;
    int r = green__work_intr(j, GREEN__JOB_WAITS, GREEN__INTR_RESTART);
    if (r == -EINTR) {
        errno = EINTR; /* the pool has the job now, and undoes it */
        return -1;
    }
    if (r != 0) {
        run(j); /* no worker: wait here, as without the pool */
    }
    long ret = j->ret;
    int err = j->err;
    done_with(j->arg);
    free(j);
    if (ret < 0) {
        errno = err;
        return -1;
    }
    return ret;
}

/* --- flock ------------------------------------------------------------------ */

static void run_flock(struct green__job *j)
{
    struct req *q = j->arg;
    j->ret = GREEN_REAL(flock)(q->fd, q->op);
    j->err = j->ret < 0 ? errno : 0;
}

static void undo_flock(struct green__job *j)
{
    struct req *q = j->arg;
    if (j->ret == 0) {
        GREEN_REAL(flock)(q->fd, LOCK_UN);
    }
    done_with(q);
}

GREEN_INTERPOSE int flock(int fd, int op)
{
    if ((op & LOCK_NB) || !green_os()) {
        return GREEN_REAL(flock)(fd, op);
    }
    int r = GREEN_REAL(flock)(fd, op | LOCK_NB);
    if (r == 0 || errno != EWOULDBLOCK) {
        return r; /* taken, LOCK_UN, or an error, at once */
    }
    struct req q = {.op = op, .fd = high_dup(fd), .dup = true};
    if (q.fd < 0) {
        return GREEN_REAL(flock)(fd, op);
    }
    return (int)on_worker(run_flock, undo_flock, &q, sizeof(q));
}

/* --- fcntl record locks and lockf ---------------------------------------------- */

static void run_setlkw(struct green__job *j)
{
    struct req *q = j->arg;
    j->ret = GREEN_REAL(fcntl)(q->fd, q->op, &q->fl);
    j->err = j->ret < 0 ? errno : 0;
}

static void undo_setlkw(struct green__job *j)
{
    struct req *q = j->arg;
    if (j->ret == 0) {
        q->fl.l_type = F_UNLCK;
        GREEN_REAL(fcntl)(q->fd, q->op == F_OFD_SETLKW ? F_OFD_SETLK : F_SETLK,
                          &q->fl);
    }
    done_with(q);
}

/* F_SETLKW or F_OFD_SETLKW for a green caller (preload/socket.c). */
int green__fcntl_setlkw(int fd, int cmd, void *arg)
{
    int r = GREEN_REAL(fcntl)(fd, cmd == F_SETLKW ? F_SETLK : F_OFD_SETLK,
                              arg);
    if (r == 0 || (errno != EAGAIN && errno != EACCES)) {
        return r; /* taken, F_UNLCK, or an error (EFAULT...), at once */
    }
    struct req q = {.op = cmd, .fl = *(struct flock *)arg, .fd = fd};
    if (cmd == F_OFD_SETLKW) {
        /* An OFD lock is the description's: a dup is the same. */
        q.fd = high_dup(fd);
        q.dup = q.fd >= 0;
        if (!q.dup) {
            q.fd = fd;
        }
    }
    return (int)on_worker(run_setlkw, undo_setlkw, &q, sizeof(q));
}

static int green_lockf(int fd, int cmd, off_t len)
{
    if (cmd != F_LOCK || !green_os()) {
        return GREEN_REAL(lockf)(fd, cmd, len);
    }
    /* glibc's lockf(F_LOCK): F_SETLKW of a write lock from the file's
     * position, for len bytes (before it if negative, to the end if 0). */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_CUR,
                       .l_start = 0, .l_len = len};
    int r = GREEN_REAL(fcntl)(fd, F_SETLK, &fl);
    if (r == 0 || (errno != EAGAIN && errno != EACCES)) {
        return r;
    }
    /* The worker takes the same range, from where the position is now. */
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (pos < 0) {
        return GREEN_REAL(lockf)(fd, cmd, len);
    }
    struct req q = {.op = F_SETLKW, .fd = fd, .fl = fl};
    q.fl.l_whence = SEEK_SET;
    q.fl.l_start = pos;
    return (int)on_worker(run_setlkw, undo_setlkw, &q, sizeof(q));
}

GREEN_INTERPOSE int lockf(int fd, int cmd, off_t len)
{
    return green_lockf(fd, cmd, len);
}

GREEN_INTERPOSE int lockf64(int fd, int cmd, off_t len)
{
    return green_lockf(fd, cmd, len);
}

/* --- opening a FIFO ------------------------------------------------------------ */

/* Whether open(flags) of (dirfd, path) may wait for a FIFO's other end,
 * for a green caller. */
static bool fifo_wait(int dirfd, const char *path, int flags)
{
    int acc = flags & O_ACCMODE;
    if ((flags & (O_NONBLOCK | O_PATH)) || (acc != O_RDONLY && acc != O_WRONLY) ||
        path == NULL || !green_os()) {
        return false;
    }
    struct stat st;
    int at = (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
    return fstatat(dirfd, path, &st, at) == 0 && S_ISFIFO(st.st_mode);
}

static void run_open(struct green__job *j)
{
    struct req *q = j->arg;
    j->ret = GREEN_REAL(openat)(q->dirfd, q->path, q->flags, q->mode);
    j->err = j->ret < 0 ? errno : 0;
}

static void undo_open(struct green__job *j)
{
    if (j->ret >= 0) {
        GREEN_REAL(close)((int)j->ret);
    }
}

static int open_fifo(int dirfd, const char *path, int flags, mode_t mode)
{
    size_t n = strlen(path) + 1;
    struct req *q = calloc(1, sizeof(*q) + n);
    if (q == NULL) {
        return GREEN_REAL(openat)(dirfd, path, flags, mode);
    }
    *q = (struct req){.fd = -1, .dirfd = dirfd, .flags = flags,
                      .mode = mode};
    memcpy(q->path, path, n);
    int r = (int)on_worker(run_open, undo_open, q, sizeof(*q) + n);
    int e = errno;
    free(q);
    errno = e;
    return r;
}

/* The mode argument open and openat take when O_CREAT or O_TMPFILE asks. */
#define MODE_ARG(flags, last)                                             \
    mode_t mode = 0;                                                      \
    if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {        \
        va_list ap;                                                       \
        va_start(ap, last);                                               \
        mode = (mode_t)va_arg(ap, int);                                   \
        va_end(ap);                                                       \
    }

GREEN_INTERPOSE int open(const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    if (fifo_wait(AT_FDCWD, path, flags)) {
        return open_fifo(AT_FDCWD, path, flags, mode);
    }
    return GREEN_REAL(open)(path, flags, mode);
}

GREEN_INTERPOSE int open64(const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    if (fifo_wait(AT_FDCWD, path, flags)) {
        return open_fifo(AT_FDCWD, path, flags, mode);
    }
    return GREEN_REAL(open)(path, flags | O_LARGEFILE, mode);
}

GREEN_INTERPOSE int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    if (fifo_wait(dirfd, path, flags)) {
        return open_fifo(dirfd, path, flags, mode);
    }
    return GREEN_REAL(openat)(dirfd, path, flags, mode);
}

GREEN_INTERPOSE int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    if (fifo_wait(dirfd, path, flags)) {
        return open_fifo(dirfd, path, flags, mode);
    }
    return GREEN_REAL(openat)(dirfd, path, flags | O_LARGEFILE, mode);
}

GREEN_INTERPOSE int creat(const char *path, mode_t mode)
{
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

GREEN_INTERPOSE int creat64(const char *path, mode_t mode)
{
    return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* _FORTIFY_SOURCE's forms, for flags the compiler could not see: glibc's
 * own check (O_CREAT without a mode) stays glibc's. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

GREEN_INTERPOSE int __open_2(const char *path, int flags)
{
    if (!(flags & O_CREAT) && fifo_wait(AT_FDCWD, path, flags)) {
        return open_fifo(AT_FDCWD, path, flags, 0);
    }
    return GREEN_REAL(__open_2)(path, flags);
}

GREEN_INTERPOSE int __open64_2(const char *path, int flags)
{
    if (!(flags & O_CREAT) && fifo_wait(AT_FDCWD, path, flags)) {
        return open_fifo(AT_FDCWD, path, flags, 0);
    }
    return GREEN_REAL(__open64_2)(path, flags);
}

GREEN_INTERPOSE int __openat_2(int dirfd, const char *path, int flags)
{
    if (!(flags & O_CREAT) && fifo_wait(dirfd, path, flags)) {
        return open_fifo(dirfd, path, flags, 0);
    }
    return GREEN_REAL(__openat_2)(dirfd, path, flags);
}

GREEN_INTERPOSE int __openat64_2(int dirfd, const char *path, int flags)
{
    if (!(flags & O_CREAT) && fifo_wait(dirfd, path, flags)) {
        return open_fifo(dirfd, path, flags, 0);
    }
    return GREEN_REAL(__openat64_2)(dirfd, path, flags);
}

/* --- fsync and fdatasync ----------------------------------------------------- */

GREEN_INTERPOSE int fsync(int fd)
{
    if (!green__go_green(GREEN_PATCH_SOCKET)) {
        return GREEN_REAL(fsync)(fd);
    }
    return (int)green__ret(
        GREEN__CANCELLABLE(int, green__file_sync(fd, false)));
}

GREEN_INTERPOSE int fdatasync(int fd)
{
    if (!green__go_green(GREEN_PATCH_SOCKET)) {
        return GREEN_REAL(fdatasync)(fd);
    }
    return (int)green__ret(
        GREEN__CANCELLABLE(int, green__file_sync(fd, true)));
}

/* --- exec and spawn ------------------------------------------------------------ */

/* Gives back the program's own O_NONBLOCK to every open file description
 * the runtime made non-blocking for itself (see the opening comment).
 * Raw system calls and no allocation but the fd table's: this runs in
 * vfork-like children too. */
static void restore_flags(void)
{
    if (!green__patch_on(GREEN_PATCH_SOCKET)) {
        return; /* the table is kept only when the socket family is on */
    }
    int e = errno;
    long dfd = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd",
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        errno = e;
        return;
    }
    char buf[4096];
    long got;
    while ((got = syscall(SYS_getdents64, (int)dfd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            char *end;
            long fd = strtol(d->d_name, &end, 10);
            if (*end != '\0' || end == d->d_name || fd == dfd) {
                continue;
            }
            struct green__fd *f = green__fd_slot((int)fd);
            if (f == NULL || f->kind == GREEN__FD_UNSEEN || !f->sys_nonblock ||
                f->user_nonblock) {
                continue;
            }
            int fl = GREEN_REAL(fcntl)((int)fd, F_GETFL);
            if (fl >= 0 && (fl & O_NONBLOCK)) {
                GREEN_REAL(fcntl)((int)fd, F_SETFL, fl & ~O_NONBLOCK);
            }
            f->sys_nonblock = false;
        }
    }
    syscall(SYS_close, (int)dfd);
    errno = e;
}

extern char **environ;

GREEN_INTERPOSE int execve(const char *path, char *const argv[],
                           char *const envp[])
{
    restore_flags();
    return GREEN_REAL(execve)(path, argv, envp);
}

GREEN_INTERPOSE int execv(const char *path, char *const argv[])
{
    restore_flags();
    return GREEN_REAL(execve)(path, argv, environ);
}

GREEN_INTERPOSE int execvp(const char *file, char *const argv[])
{
    restore_flags();
    return GREEN_REAL(execvp)(file, argv);
}

GREEN_INTERPOSE int execvpe(const char *file, char *const argv[],
                            char *const envp[])
{
    restore_flags();
    return GREEN_REAL(execvpe)(file, argv, envp);
}

GREEN_INTERPOSE int fexecve(int fd, char *const argv[], char *const envp[])
{
    restore_flags();
    return GREEN_REAL(fexecve)(fd, argv, envp);
}

/* The list forms: their arguments as an array on the stack. */
#define LIST_ARGV(first, tail)                                            \
    size_t n_ = 1; /* glibc declares the first argument nonnull */       \
    va_list ap_;                                                          \
    va_start(ap_, first);                                                 \
    while (va_arg(ap_, char *) != NULL) {                                 \
        n_++;                                                             \
    }                                                                     \
    va_end(ap_);                                                          \
    char *argv_[n_ + 1];                                                  \
    argv_[0] = (char *)(first);                                           \
    va_start(ap_, first);                                                 \
    for (size_t i_ = 1; i_ <= n_; i_++) {                                 \
        argv_[i_] = va_arg(ap_, char *);                                  \
    }                                                                     \
    tail;                                                                 \
    va_end(ap_)

GREEN_INTERPOSE int execl(const char *path, const char *arg, ...)
{
    LIST_ARGV(arg, (void)0);
    return execv(path, argv_);
}

GREEN_INTERPOSE int execlp(const char *file, const char *arg, ...)
{
    LIST_ARGV(arg, (void)0);
    return execvp(file, argv_);
}

GREEN_INTERPOSE int execle(const char *path, const char *arg, ...)
{
    char *const *envp_ = NULL;
    LIST_ARGV(arg, envp_ = va_arg(ap_, char *const *));
    return execve(path, argv_, envp_);
}

GREEN_INTERPOSE int posix_spawn(pid_t *pid, const char *path,
                                const posix_spawn_file_actions_t *fa,
                                const posix_spawnattr_t *attr,
                                char *const argv[], char *const envp[])
{
    restore_flags();
    return GREEN_REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}

GREEN_INTERPOSE int posix_spawnp(pid_t *pid, const char *file,
                                 const posix_spawn_file_actions_t *fa,
                                 const posix_spawnattr_t *attr,
                                 char *const argv[], char *const envp[])
{
    restore_flags();
    return GREEN_REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}
