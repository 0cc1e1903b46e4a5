/* SPDX-License-Identifier: MIT */
/* Green stdio, bad input: a stream's descriptor closed (close) or the
 * stream itself closed (fclose) by another thread while one waits in
 * fgets on it.
 *
 * Natively the waiter's read goes on (Linux lets a read in progress keep
 * its file) until data comes, and fclose waits for the stream's lock,
 * which the waiter holds; under the preload a close lets a waiter in
 * read() go on as natively (lib/iowait.c), but one in green stdio's own
 * wait wakes at once with EBADF, and so does the close inside fclose:
 * the waiter's fgets returns NULL with the stream's error flag and errno
 * EBADF, then fclose proceeds.
 * The outcomes therefore differ by design in what the waiter got; what
 * this prints is what both must show: the waiter's call ended, with the
 * line or with EBADF, nothing crashed, the closes returned what they
 * return. Each side's exact outcome is checked (LEGACY_CHECK) on its
 * own. A third group, under the preload only (natively it would be a
 * use after free): a thread waiting for a stream's lock when the holder
 * fcloses it gets an error, not a crash. */
#include "stdio_util.h"

#include <sys/socket.h>

static FILE *f;
static int sv[2];
static volatile int waiter_done;
static char *waiter_result;
static int waiter_errno, waiter_error_flag;
static char waiter_line[64];

static void *waiter(void *arg)
{
    int check_flag = (int)(long)arg;
    errno = 0;
    waiter_result = fgets(waiter_line, sizeof(waiter_line), f);
    waiter_errno = errno;
    if (check_flag) {
        waiter_error_flag = ferror(f);
    }
    waiter_done = 1;
    return NULL;
}

static void *late_writer(void *arg)
{
    su_nap((long)arg);
    ssize_t r = write(sv[1], "late\n", 5); /* EPIPE once gone */
    (void)r;
    return NULL;
}

static void group_close(void)
{
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    waiter_done = 0;
    su_ticker_start();
    int t0 = su_ticks;
    pthread_t w, l;
    LEGACY_CHECK(pthread_create(&w, NULL, waiter, (void *)1L) == 0);
    LEGACY_CHECK(pthread_create(&l, NULL, late_writer, (void *)150L) == 0);
    su_nap(50);
    int r = close(sv[0]);
    su_say("close of the waiter's fd: %d", r);
    LEGACY_CHECK(pthread_join(w, NULL) == 0);
    LEGACY_CHECK(pthread_join(l, NULL) == 0);
    su_ticked("the wait", t0, 5);
    su_ticker_end();
    if (legacy_native() || waiter_result != NULL) {
        /* The read in progress got the line (under the preload too when
         * it waited in read(), which goes on with the description since
         * issue 14); the next call fails. */
        LEGACY_CHECK(waiter_result != NULL &&
                     strcmp(waiter_line, "late\n") == 0);
        errno = 0;
        waiter_result = fgets(waiter_line, sizeof(waiter_line), f);
        waiter_errno = errno;
        waiter_error_flag = ferror(f);
    }
    su_say("the waiter's fgets ended: %s", su_yes(waiter_done));
    su_say("then a call failed: %s, errno %s, error flag %d",
           su_yes(waiter_result == NULL), su_errname(waiter_errno),
           waiter_error_flag != 0);
    errno = 0;
    r = fclose(f);
    int e = errno;
    su_say("fclose: %d, errno %s", r, su_errname(e));
    close(sv[1]);
}

static void group_fclose(void)
{
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    f = fdopen(sv[0], "r");
    LEGACY_CHECK(f != NULL);
    waiter_done = 0;
    su_ticker_start();
    int t0 = su_ticks;
    pthread_t w, l;
    /* The waiter must not look at f once fgets returned: f may be gone. */
    LEGACY_CHECK(pthread_create(&w, NULL, waiter, (void *)0L) == 0);
    LEGACY_CHECK(pthread_create(&l, NULL, late_writer, (void *)150L) == 0);
    su_nap(50);
    errno = 0;
    int r = fclose(f);
    int e = errno;
    LEGACY_CHECK(pthread_join(w, NULL) == 0);
    LEGACY_CHECK(pthread_join(l, NULL) == 0);
    su_ticked("the wait", t0, 5);
    su_ticker_end();
    if (legacy_native()) {
        LEGACY_CHECK(waiter_result != NULL &&
                     strcmp(waiter_line, "late\n") == 0);
    } else {
        LEGACY_CHECK(waiter_result == NULL && waiter_errno == EBADF);
    }
    su_say("fclose while another thread waits in fgets: %d, errno %s", r,
           su_errname(e));
    su_say("the waiter's fgets ended with the line or EBADF: %s",
           su_yes(waiter_done &&
                  (waiter_result != NULL ? strcmp(waiter_line, "late\n") == 0
                                         : waiter_errno == EBADF)));
    close(sv[1]);
}

/* Under the preload: fclose by the lock's holder while another thread
 * waits for the lock. */
static volatile int locked_out_result = 1, locked_out_errno;

static void *locked_out(void *arg)
{
    (void)arg;
    errno = 0;
    locked_out_result = fputs("never\n", f);
    locked_out_errno = errno;
    return NULL;
}

static void group_holder(void)
{
    if (legacy_native()) {
        return; /* natively the waiter would use a freed stream */
    }
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    f = fdopen(sv[0], "w");
    LEGACY_CHECK(f != NULL);
    flockfile(f);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, locked_out, NULL) == 0);
    su_nap(30); /* it waits for the lock now */
    LEGACY_CHECK(fclose(f) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(locked_out_result == EOF && locked_out_errno == EBADF);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {
        {"close", group_close, 0},
        {"fclose", group_fclose, 0},
        {"holder", group_holder, 0},
    };
    return su_main(argc, argv, groups, sizeof(groups) / sizeof(groups[0]));
}
