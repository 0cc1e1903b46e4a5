/* SPDX-License-Identifier: MIT */
/* Regular files: reads that miss the page cache, fsync and fdatasync.
 * One line of outcome per case; differential.sh requires the same bytes
 * natively and under the preload. A ticker thread runs throughout; a read
 * of 64 MiB that the cache was told to drop takes long enough on a disk
 * that the ticker, running on, proves the read stopped only its caller
 * (on a file system whose pages cannot be dropped, tmpfs, the reads are
 * quick and prove nothing; they must still be right).
 *
 *   read     a cold read() of 64 MiB (the data, the count, the file
 *            position), a hot pread, a read that starts in cached pages
 *            and runs on into dropped ones (whole, not short), readv,
 *            preadv, the end of the file, EISDIR, EBADF, EINVAL
 *   sync     fsync and fdatasync of a dirty file, EBADF, EINVAL
 */
#include "legacy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BIG ((size_t)64 << 20)

static void out(const char *name, const char *v)
{
    printf("%-48s %s\n", name, v);
    fflush(stdout);
}

static void num(const char *name, long r)
{
    char v[64];
    if (r == -1) {
        snprintf(v, sizeof(v), "-1 %s", strerrorname_np(errno));
    } else {
        snprintf(v, sizeof(v), "%ld", r);
    }
    out(name, v);
}

static const char *yes(bool b)
{
    return b ? "yes" : "no";
}

static atomic_long ticks;
static atomic_int stop;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Around a call that may block: the ticker went on (it ticks at most
 * once a millisecond; the check wants one tick: a call that blocked the
 * one OS thread gets none, and natively a loaded machine may give the
 * ticker few — a fifth of the time failed there). Quick calls say
 * nothing either way. */
struct span {
    double t0;
    long k0;
};

static struct span begin(void)
{
    struct span s = {now_ms(), atomic_load(&ticks)};
    return s;
}

static void ticked(const char *name, struct span s)
{
    double ms = now_ms() - s.t0;
    long k = atomic_load(&ticks) - s.k0;
    char line[96];
    snprintf(line, sizeof(line), "  %s: ticker ran meanwhile", name);
    out(line, yes(ms < 20 || k >= 1));
}

static char path[64];
static unsigned char *buf;

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 4096) % 251);
}

static bool matches(const unsigned char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(from + i)) {
            return false;
        }
    }
    return true;
}

static void drop_cache(int fd)
{
    LEGACY_CHECK(fdatasync(fd) == 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static int make_file(void)
{
    snprintf(path, sizeof(path), "legacy-fileio-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(path, sizeof(path), "/tmp/legacy-fileio-XXXXXX");
        fd = mkstemp(path);
    }
    LEGACY_CHECK(fd >= 0);
    for (size_t i = 0; i < BIG; i++) {
        buf[i] = pattern(i);
    }
    LEGACY_CHECK(write(fd, buf, BIG) == (ssize_t)BIG);
    drop_cache(fd);
    return fd;
}

static void reads(void)
{
    int fd = make_file();
    memset(buf, 0, BIG);
    LEGACY_CHECK(lseek(fd, 0, SEEK_SET) == 0);
    struct span s = begin();
    num("read() of 64 MiB dropped from the cache", read(fd, buf, BIG));
    ticked("cold read", s);
    out("  the data", yes(matches(buf, 0, BIG)));
    num("  the file position", lseek(fd, 0, SEEK_CUR));
    memset(buf, 0, BIG);
    num("pread() of the same, now cached", pread(fd, buf, BIG, 0));
    out("  the data", yes(matches(buf, 0, BIG)));

    /* Cached at its start, dropped after: read whole, not short. */
    drop_cache(fd);
    LEGACY_CHECK(pread(fd, buf, 4096, 1 << 20) == 4096);
    LEGACY_CHECK(lseek(fd, 1 << 20, SEEK_SET) == 1 << 20);
    memset(buf, 0, BIG);
    s = begin();
    num("read() of 32 MiB, its first page cached", read(fd, buf, BIG / 2));
    ticked("partly cached read", s);
    out("  the data", yes(matches(buf, 1 << 20, BIG / 2)));
    num("  the file position", lseek(fd, 0, SEEK_CUR));

    drop_cache(fd);
    struct iovec iov[3] = {{buf, 1000}, {buf + 1000, 3 << 20},
                           {buf + 1000 + (3 << 20), 5 << 20}};
    LEGACY_CHECK(lseek(fd, 100, SEEK_SET) == 100);
    num("readv() of three buffers, dropped", readv(fd, iov, 3));
    out("  the data", yes(matches(buf, 100, 1000 + (8 << 20))));
    num("  the file position", lseek(fd, 0, SEEK_CUR));
    drop_cache(fd);
    num("preadv() at 20 MiB", preadv(fd, iov, 3, 20 << 20));
    out("  the data", yes(matches(buf, 20 << 20, 1000 + (8 << 20))));

    num("pread() across the end", pread(fd, buf, 100, (off_t)BIG - 10));
    LEGACY_CHECK(lseek(fd, 0, SEEK_END) == (off_t)BIG);
    num("read() at the end", read(fd, buf, 100));
    num("pread() at offset -1", pread(fd, buf, 100, -1));
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    LEGACY_CHECK(dfd >= 0);
    num("read() of a directory", read(dfd, buf, 100));
    close(dfd);
    int wfd = open(path, O_WRONLY);
    LEGACY_CHECK(wfd >= 0);
    num("read() of a file opened O_WRONLY", read(wfd, buf, 100));
    close(wfd);
    close(fd);
    unlink(path);
}

static void syncs(void)
{
    int fd = make_file();
    for (size_t i = 0; i < BIG; i += 4096) {
        buf[i] ^= 1;
    }
    LEGACY_CHECK(pwrite(fd, buf, BIG, 0) == (ssize_t)BIG);
    struct span s = begin();
    num("fsync() of 64 MiB just written", fsync(fd));
    ticked("fsync", s);
    LEGACY_CHECK(pwrite(fd, buf, BIG / 2, 0) == (ssize_t)(BIG / 2));
    s = begin();
    num("fdatasync() of 32 MiB just written", fdatasync(fd));
    ticked("fdatasync", s);
    num("fsync(-1)", fsync(-1));
    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    num("fsync() of a pipe", fsync(p[0]));
    num("fdatasync() of a pipe", fdatasync(p[1]));
    close(p[0]);
    close(p[1]);
    close(fd);
    unlink(path);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"read", reads},
    {"sync", syncs},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    buf = malloc(BIG);
    LEGACY_CHECK(buf != NULL);
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            groups[i].run();
        }
    }
    atomic_store(&stop, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    LEGACY_CHECK_ONE_THREAD(); /* the pool's workers do not count */
    free(buf);
    return 0;
}
