/* SPDX-License-Identifier: MIT */
/* Green stdio's core: the per-stream records and the green stream lock
 * (see stdio_green.h).
 *
 * The records are kept in a chained hash table keyed by the FILE
 * pointer, under a spinlock (its sections are a few loads long and never
 * park); each OS thread remembers the last record it used, which a
 * removal anywhere invalidates (a generation count). Records and bucket
 * arrays are mapped, never malloc'd: the first green stdio call may come
 * from anywhere, the allocator's own start included.
 *
 * The lock is recursive per greenlet and first come, first served: an
 * unlock hands the lock to the longest waiter, which the parking lot
 * wakes on its own record's address (any OS thread may be the waker). */
#include "stdio_green.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "coop.h"
#include "fd.h"
#include "parking.h"
#include "real.h"

/* glibc's plain file operations, which a stream's jump table must have
 * for the preload to do its I/O itself (libio/fileops.c, genops.c; all
 * exported). */
extern int _IO_file_overflow(FILE *, int);
extern int _IO_file_underflow(FILE *);
extern int _IO_default_uflow(FILE *);
extern int _IO_default_pbackfail(FILE *, int);
extern size_t _IO_file_xsputn(FILE *, const void *, size_t);
extern size_t _IO_default_xsgetn(FILE *, void *, size_t);
extern int _IO_file_sync(FILE *);
extern int _IO_file_doallocate(FILE *);
extern ssize_t _IO_file_read(FILE *, void *, ssize_t);
extern ssize_t _IO_file_write(FILE *, const void *, ssize_t);
extern off64_t _IO_file_seek(FILE *, off64_t, int);

/* glibc's struct _IO_jump_t (libio/libioP.h), which follows the FILE in
 * every stream glibc makes (struct _IO_FILE_plus). */
struct jumps {
    size_t dummy, dummy2;
    void *finish, *overflow, *underflow, *uflow, *pbackfail, *xsputn,
        *xsgetn, *seekoff, *seekpos, *setbuf, *sync, *doallocate, *read,
        *write, *seek, *close, *stat, *showmanyc, *imbue;
};

/* glibc's plain file jump table (exported), for what is not exported
 * on its own (_IO_file_xsgetn). */
extern const struct jumps _IO_file_jumps;
#define file_jumps _IO_file_jumps

/* --- the table --------------------------------------------------------- */

#define SLAB 256 /* records mapped at once */

static int table_lock;
static struct green__stdio **buckets;
static size_t nbuckets, nrecords;
static struct green__stdio *free_records;
static unsigned table_gen; /* moves on every removal (table_lock) */

/* The last record this OS thread used, valid while table_gen says so. */
static __thread struct {
    FILE *f;
    struct green__stdio *s;
    unsigned gen;
} last __attribute__((tls_model("initial-exec")));

static void spin_lock(int *l)
{
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(l, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
            return;
        }
        if (spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            GREEN_REAL(sched_yield)();
        }
    }
}

static void spin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static size_t hash(const FILE *f, size_t n)
{
    uint64_t h = (uint64_t)(uintptr_t)f * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (n - 1);
}

static void *map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Doubles the bucket array (table_lock held). false without memory. */
static bool grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 1024;
    struct green__stdio **b = map(n * sizeof(*b));
    if (b == NULL) {
        return false;
    }
    for (size_t i = 0; i < nbuckets; i++) {
        for (struct green__stdio *s = buckets[i], *next; s != NULL;
             s = next) {
            next = s->next;
            size_t h = hash(s->f, n);
            s->next = b[h];
            b[h] = s;
        }
    }
    if (buckets != NULL) {
        munmap(buckets, nbuckets * sizeof(*buckets));
    }
    buckets = b;
    nbuckets = n;
    return true;
}

static struct green__stdio *find(const FILE *f)
{
    if (nbuckets == 0) {
        return NULL;
    }
    for (struct green__stdio *s = buckets[hash(f, nbuckets)]; s != NULL;
         s = s->next) {
        if (s->f == f) {
            return s;
        }
    }
    return NULL;
}

/* A new record for f in the table (table_lock held), or NULL. */
static struct green__stdio *insert(FILE *f)
{
    if ((nrecords + 1 > nbuckets * 2 || nbuckets == 0) && !grow() &&
        nbuckets == 0) {
        return NULL;
    }
    if (free_records == NULL) {
        struct green__stdio *slab = map(SLAB * sizeof(*slab));
        if (slab == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < SLAB; i++) {
            slab[i].next = free_records;
            free_records = &slab[i];
        }
    }
    struct green__stdio *s = free_records;
    free_records = s->next;
    memset(s, 0, sizeof(*s));
    s->f = f;
    s->fd = -1;
    size_t h = hash(f, nbuckets);
    s->next = buckets[h];
    buckets[h] = s;
    nrecords++;
    return s;
}

/* Takes s out of the table (table_lock held); it is recycled once no
 * waiter pins it. */
static void unlink_record(struct green__stdio *s)
{
    struct green__stdio **pp = &buckets[hash(s->f, nbuckets)];
    while (*pp != NULL && *pp != s) {
        pp = &(*pp)->next;
    }
    if (*pp == s) {
        *pp = s->next;
        nrecords--;
    }
    table_gen++;
    s->closed = true;
    s->next = NULL;
}

static void recycle(struct green__stdio *s)
{
    s->f = NULL;
    s->next = free_records;
    free_records = s;
}

struct green__stdio *green__stdio_peek(FILE *f)
{
    spin_lock(&table_lock);
    struct green__stdio *s = find(f);
    spin_unlock(&table_lock);
    return s;
}

/* --- classification ------------------------------------------------------ */

/* Whether a stream's jump table is glibc's plain file one; *dflt says
 * that its xsgetn is the generic one (popen's streams). */
static bool plain_jumps(FILE *f, bool *dflt)
{
    /* (f->_vtable_offset is the old libstdc++'s, which glibc reads on
     * i386 alone; elsewhere it is never even set.) */
    const struct jumps *j = *(const struct jumps *const *)(f + 1);
    if (j == NULL || j->overflow != (void *)_IO_file_overflow ||
        j->underflow != (void *)_IO_file_underflow ||
        j->uflow != (void *)_IO_default_uflow ||
        j->pbackfail != (void *)_IO_default_pbackfail ||
        j->xsputn != (void *)_IO_file_xsputn ||
        j->sync != (void *)_IO_file_sync ||
        j->doallocate != (void *)_IO_file_doallocate ||
        j->read != (void *)_IO_file_read ||
        j->write != (void *)_IO_file_write ||
        j->seek != (void *)_IO_file_seek) {
        return false;
    }
    if (j->xsgetn == file_jumps.xsgetn) { /* _IO_file_xsgetn */
        *dflt = false;
        return true;
    }
    if (j->xsgetn == (void *)_IO_default_xsgetn) {
        *dflt = true;
        return true;
    }
    return false;
}

/* Whether an fd of the table's kind can block a stream's read or write:
 * sockets, pipes, FIFOs and ttys can; regular files, /dev/null and the
 * other character devices that are not ttys cannot. */
static bool entry_blocks(int fd, const struct green__fd *e)
{
    switch (e->kind) {
    case GREEN__FD_SOCKET:
        return true;
    case GREEN__FD_STREAM: {
        if (e->bytes) {
            return true; /* a pipe or FIFO */
        }
        struct stat st;
        if (fstat(fd, &st) != 0) {
            return false;
        }
        if (!S_ISCHR(st.st_mode)) {
            return true; /* eventfd and the like */
        }
        struct termios tio;
        return tcgetattr(fd, &tio) == 0; /* a tty */
    }
    default:
        return false;
    }
}

bool green__stdio_fd_blocks(int fd)
{
    struct green__fd *e = green__fd_get(fd);
    return e != NULL && entry_blocks(fd, e);
}

/* Classifies s again if its fd is not the one it was classified with. */
static void classify(struct green__stdio *s, FILE *f)
{
    int fd = f->_fileno;
    struct green__fd *e = fd >= 0 ? green__fd_slot(fd) : NULL;
    if (e != NULL && e->kind != GREEN__FD_UNSEEN &&
        s->verdict != GREEN__STDIO_UNKNOWN && s->fd == fd &&
        e->kind == s->snap_kind && e->bytes == s->snap_bytes &&
        e->acc == s->snap_acc) {
        /* The same file as last time. A "wrap" stream may have become a
         * plain file one since (fdopen's "m" streams decide on their
         * first read). */
        bool dflt = false;
        if (GREEN__UNLIKELY(s->verdict == GREEN__STDIO_WRAP) &&
            plain_jumps(f, &dflt)) {
            s->verdict = GREEN__STDIO_EXACT;
            s->default_xsgetn = dflt;
        }
        return;
    }
    s->fd = fd;
    s->verdict = GREEN__STDIO_PLAIN;
    if (fd < 0 || (e = green__fd_get(fd)) == NULL) {
        return; /* not open: glibc's call fails as it would */
    }
    s->snap_kind = e->kind;
    s->snap_bytes = e->bytes;
    s->snap_acc = e->acc;
    if (entry_blocks(fd, e)) {
        bool dflt = false;
        s->verdict = plain_jumps(f, &dflt) ? GREEN__STDIO_EXACT
                                           : GREEN__STDIO_WRAP;
        s->default_xsgetn = dflt;
    }
}

int green__stdio_wait(int fd, int events)
{
    struct green__fd *e = green__fd_get(fd);
    if (e == NULL || e->kind == GREEN__FD_FILE) {
        return 0;
    }
    if (GREEN__UNLIKELY(e->epoch != green__fd_epoch)) {
        green__fd_sync(fd, e);
    }
    if (e->user_nonblock ||
        (e->acc != O_RDWR && (e->acc == O_RDONLY) != (events == POLLIN))) {
        return 0; /* EAGAIN or EBADF, from the call itself */
    }
    double deadline = green__coop_deadline(e, events);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = (short)events};
        if (GREEN_REAL(poll)(&p, 1, 0) != 0) {
            return 0; /* ready, or an error the call will report */
        }
        int r = green__coop_wait(fd, events, deadline);
        if (r < 0) {
            return r;
        }
    }
}

struct green__stdio *green__stdio_get(FILE *f)
{
    struct green__stdio *s;
    if (GREEN__LIKELY(last.f == f &&
                      last.gen == __atomic_load_n(&table_gen,
                                                  __ATOMIC_ACQUIRE))) {
        s = last.s;
    } else {
        spin_lock(&table_lock);
        s = find(f);
        if (s == NULL) {
            s = insert(f);
        }
        unsigned gen = table_gen;
        spin_unlock(&table_lock);
        if (s == NULL) {
            return NULL;
        }
        last.f = f;
        last.s = s;
        last.gen = gen;
    }
    classify(s, f);
    return s->verdict == GREEN__STDIO_PLAIN ? NULL : s;
}

/* --- the lock ------------------------------------------------------------ */

struct green__stdio_waiter {
    struct green__stdio_waiter *next;
    struct greenlet *g;
    int granted; /* set (release) by the unlocker that handed it over */
};

static bool not_granted(const void *addr, void *arg)
{
    (void)arg;
    return !__atomic_load_n(&((const struct green__stdio_waiter *)addr)
                                 ->granted,
                            __ATOMIC_ACQUIRE);
}

bool green__stdio_owned(const struct green__stdio *s)
{
    struct green__thread *t = green__thread_peek();
    return t != NULL && __atomic_load_n(&s->owner, __ATOMIC_RELAXED) ==
                            t->current;
}

bool green__stdio_locked(const struct green__stdio *s)
{
    return __atomic_load_n(&s->owner, __ATOMIC_RELAXED) != NULL;
}

int green__stdio_trylock(struct green__stdio *s)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL) {
        return -EPERM;
    }
    struct greenlet *me = t->current;
    spin_lock(&s->lock);
    int r = 0;
    if (s->owner == me) {
        s->depth++;
    } else if (s->owner == NULL) {
        s->owner = me;
        s->depth = 1;
    } else {
        r = -EBUSY;
    }
    spin_unlock(&s->lock);
    return r;
}

/* Drops a pin; recycles a removed record nobody pins any more. */
static void unpin(struct green__stdio *s)
{
    spin_lock(&table_lock);
    if (--s->pins == 0 && s->closed) {
        recycle(s);
    }
    spin_unlock(&table_lock);
}

int green__stdio_lock(struct green__stdio *s)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL) {
        return -EPERM;
    }
    struct greenlet *me = t->current;
    spin_lock(&s->lock);
    if (s->owner == me) {
        s->depth++;
        spin_unlock(&s->lock);
        return 0;
    }
    if (s->owner == NULL) {
        s->owner = me;
        s->depth = 1;
        spin_unlock(&s->lock);
        return 0;
    }
    /* Contended: queue, keep the record alive, and park until an unlock
     * hands the lock over. */
    struct green__stdio_waiter w = {.g = me};
    bool remote = s->owner->thread != t;
    if (s->wait_tail != NULL) {
        s->wait_tail->next = &w;
    } else {
        s->wait_head = &w;
    }
    s->wait_tail = &w;
    spin_unlock(&s->lock);
    spin_lock(&table_lock);
    s->pins++;
    spin_unlock(&table_lock);

    /* Shielded from green_kill: no stream call fails with ECANCELED. */
    unsigned char shield = me->flags & GREEN__SHIELD;
    me->flags |= GREEN__SHIELD;
    int r;
    for (;;) {
        r = green__park(&w, not_granted, NULL, ~0u, GREEN_FOREVER,
                        GREEN__INTR_NEVER, remote, "flockfile");
        if (__atomic_load_n(&w.granted, __ATOMIC_ACQUIRE)) {
            r = 0;
            break;
        }
        if (r != 0 && r != -EAGAIN) {
            break; /* -EDEADLK, -ENOMEM, -EPERM */
        }
        /* A spurious return: wait on. */
    }
    me->flags = (unsigned char)((me->flags & ~GREEN__SHIELD) | shield);
    if (r != 0) {
        /* Leave the queue, unless an unlocker handed it over meanwhile. */
        spin_lock(&s->lock);
        if (__atomic_load_n(&w.granted, __ATOMIC_ACQUIRE)) {
            r = 0;
        } else {
            struct green__stdio_waiter **pp = &s->wait_head, *prev = NULL;
            while (*pp != NULL && *pp != &w) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            if (*pp == &w) {
                *pp = w.next;
                if (s->wait_tail == &w) {
                    s->wait_tail = prev;
                }
            }
        }
        spin_unlock(&s->lock);
    }
    bool closed = __atomic_load_n(&s->closed, __ATOMIC_ACQUIRE);
    if (r == 0 && closed) {
        green__stdio_unlock(s); /* to whoever waits behind us */
        r = -EBADF;
    }
    unpin(s);
    return r;
}

bool green__stdio_unlock(struct green__stdio *s)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL) {
        return false;
    }
    spin_lock(&s->lock);
    if (s->owner != t->current) {
        spin_unlock(&s->lock);
        return false;
    }
    if (--s->depth > 0) {
        spin_unlock(&s->lock);
        return true;
    }
    struct green__stdio_waiter *w = s->wait_head;
    if (w == NULL) {
        s->owner = NULL;
        spin_unlock(&s->lock);
        return true;
    }
    s->wait_head = w->next;
    if (s->wait_head == NULL) {
        s->wait_tail = NULL;
    }
    s->owner = w->g;
    s->depth = 1;
    __atomic_store_n(&w->granted, 1, __ATOMIC_RELEASE);
    spin_unlock(&s->lock);
    /* w is the waiter's, in its frame: it stays valid until the waiter
     * sees granted, which the parking lot's lock orders after this. */
    green__unpark(w, 1, ~0u);
    return true;
}

void green__stdio_closed(struct green__stdio *s)
{
    spin_lock(&table_lock);
    if (!s->closed) {
        unlink_record(s);
    }
    bool free_now = s->pins == 0;
    spin_unlock(&table_lock);
    /* Hand the lock on: the next waiter learns the stream is gone. */
    spin_lock(&s->lock);
    s->depth = 1;
    spin_unlock(&s->lock);
    green__stdio_unlock(s);
    if (free_now) {
        spin_lock(&table_lock);
        if (s->pins == 0 && s->owner == NULL && s->f != NULL) {
            recycle(s);
        }
        spin_unlock(&table_lock);
    }
}

void green__stdio_forget(FILE *f)
{
    spin_lock(&table_lock);
    struct green__stdio *s = find(f);
    if (s != NULL && s->pins == 0 &&
        __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == NULL) {
        unlink_record(s);
        recycle(s);
    }
    spin_unlock(&table_lock);
}
