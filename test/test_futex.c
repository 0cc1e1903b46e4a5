/* SPDX-License-Identifier: MIT */
/* The futex suite: lib/futex.c, what syscall(SYS_futex, ...) does under
 * the preload. The kernel's answers for bad input (EAGAIN, EINVAL,
 * EFAULT), timeouts relative and absolute, wakes and their counts,
 * bitsets, CMP_REQUEUE and REQUEUE (also onto the same word), WAKE_OP,
 * and the meeting with the kernel's own waiters and wakers: a native
 * thread's raw FUTEX_WAKE reaches a green waiter (through the poller),
 * and a green wake reaches a native thread's raw FUTEX_WAIT.
 *
 * This program is linked, not preloaded: syscall() is libc's, and its
 * pthreads are native. Task bodies record, the root checks. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "futex.h"
#include "internal.h"
#include "green/task.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static long gfx(uint32_t *w, int op, long val, const void *ts, uint32_t *w2,
                long val3)
{
    return green__futex(w, op, val, ts, w2, val3, true);
}

/* The kernel's own futex (this program is not preloaded). */
static long kfx(uint32_t *w, int op, long val, const void *ts)
{
    long r = syscall(SYS_futex, w, op, val, ts, NULL, 0);
    return r == -1 ? -errno : r;
}

struct waiter {
    uint32_t *w;
    int op;
    uint32_t val;
    unsigned bitset;
    long ret;
    bool done;
};

static void *wait_body(void *arg)
{
    struct waiter *x = arg;
    x->ret = gfx(x->w, x->op, x->val, NULL, NULL, x->bitset);
    x->done = true;
    return NULL;
}

static green_task_t *spawn_waiter(struct waiter *x, uint32_t *w, int op,
                                  unsigned bitset)
{
    *x = (struct waiter){.w = w, .op = op, .val = *w, .bitset = bitset};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_body, x), 0);
    ck_assert_int_eq(green_sleep(0.002), 0); /* it parks */
    ck_assert(!x->done);
    return t;
}

static void join(green_task_t *t)
{
    ck_assert_int_eq(green_join(t, slow(5.0), NULL), 0);
    green_task_release(t);
}

START_TEST(bad_input)
{
    static uint32_t w = 1;
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), -EAGAIN);
    struct timespec bad = {0, 1000000000L};
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE, 1, &bad, NULL, 0), -EINVAL);
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(gfx((uint32_t *)((char *)&w + 1), FUTEX_WAIT_PRIVATE, 1,
                         NULL, NULL, 0),
                     -EINVAL);
    /* Unmapped addresses: EFAULT (valgrind reports such a system call
     * argument as an error of the program, so there they are left out). */
    if (!green_test_valgrind()) {
        /* Reserved with no access, so that no other thread's mapping
         * can take the place meanwhile (an munmapped hole could). */
        void *gone = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
        ck_assert(gone != MAP_FAILED);
        ck_assert_int_eq(gfx(gone, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0),
                         -EFAULT);
        ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE, 1, gone, NULL, 0),
                         -EFAULT);
        munmap(gone, 4096);
    }
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 1,
                         NULL, NULL, 0),
                     -ENOSYS);
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 0);
}
END_TEST

START_TEST(timeouts)
{
    static uint32_t w = 1;
    struct timespec rel = {0, 30000000L};
    double t0 = green_test_now();
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE, 1, &rel, NULL, 0),
                     -ETIMEDOUT);
    check_elapsed(t0, 0.029, slow(1.0));
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 30000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    t0 = green_test_now();
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME,
                         1, &abs, NULL, FUTEX_BITSET_MATCH_ANY),
                     -ETIMEDOUT);
    check_elapsed(t0, 0.025, slow(1.0));
    struct timespec past = {0, 0};
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_BITSET_PRIVATE, 1, &past, NULL, ~0u),
                     -ETIMEDOUT);
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_BITSET_PRIVATE, 2, &past, NULL, ~0u),
                     -EAGAIN);
}
END_TEST

START_TEST(wake_counts_and_bitsets)
{
    static uint32_t w;
    struct waiter x[3];
    green_task_t *t[3];
    for (int i = 0; i < 2; i++) {
        t[i] = spawn_waiter(&x[i], &w, FUTEX_WAIT_PRIVATE, 0);
    }
    t[2] = spawn_waiter(&x[2], &w, FUTEX_WAIT_BITSET_PRIVATE, 0x4);
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 1);
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL,
                         0x3),
                     1);
    ck_assert_int_eq(green_sleep(0.002), 0);
    ck_assert(x[0].done && x[1].done && !x[2].done);
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0), 1);
    for (int i = 0; i < 3; i++) {
        join(t[i]);
        ck_assert_int_eq(x[i].ret, 0);
    }
}
END_TEST

START_TEST(requeues)
{
    static uint32_t a, b;
    struct waiter x[3];
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = spawn_waiter(&x[i], &a, FUTEX_WAIT_PRIVATE, 0);
    }
    ck_assert_int_eq(gfx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &b, 9),
                     -EAGAIN);
    ck_assert_int_eq(gfx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &b, 0),
                     3);
    /* Onto the same word: counted, still queued. */
    ck_assert_int_eq(gfx(&b, FUTEX_CMP_REQUEUE_PRIVATE, 0,
                         (void *)(long)INT_MAX, &b, 0),
                     2);
    ck_assert_int_eq(gfx(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 0);
    ck_assert_int_eq(gfx(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 2);
    for (int i = 0; i < 3; i++) {
        join(t[i]);
        ck_assert_int_eq(x[i].ret, 0);
    }
}
END_TEST

START_TEST(wake_op)
{
    if (green_test_emulated()) {
        return; /* under qemu the poller's look (1 ms) may come first and
                   wake b's waiter, as FUTEX_WAIT may: the check below
                   cannot tell */
    }
    static uint32_t a, b;
    struct waiter x[2];
    green_task_t *t[2];
    t[0] = spawn_waiter(&x[0], &a, FUTEX_WAIT_PRIVATE, 0);
    t[1] = spawn_waiter(&x[1], &b, FUTEX_WAIT_PRIVATE, 0);
    /* b = 5; the old value, 0, is not 1: b's waiter stays. */
    ck_assert_int_eq(gfx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
                         FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 1)),
                     1);
    ck_assert_uint_eq(b, 5);
    join(t[0]);
    ck_assert(!x[1].done);
    /* b += 1; the old value, 5, is 5: woken. */
    ck_assert_int_eq(gfx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
                         FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 5)),
                     1);
    ck_assert_uint_eq(b, 6);
    join(t[1]);
}
END_TEST

static uint32_t native_word;

static void *native_raw_wake(void *arg)
{
    (void)arg;
    usleep(20000);
    __atomic_store_n(&native_word, 1, __ATOMIC_SEQ_CST);
    kfx(&native_word, FUTEX_WAKE_PRIVATE, 1, NULL); /* no green waiter here */
    return NULL;
}

START_TEST(native_wakes_green)
{
    native_word = 0;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, native_raw_wake, NULL), 0);
    double t0 = green_test_now();
    /* The poller sees the word change (this process has another thread:
     * it looks every few ms). */
    ck_assert_int_eq(gfx(&native_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0),
                     0);
    check_elapsed(t0, 0.015, slow(1.0));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

static uint32_t kernel_word;
static long kernel_ret = 1;

static void *native_waits(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&kernel_word, __ATOMIC_SEQ_CST) == 0) {
        kernel_ret = kfx(&kernel_word, FUTEX_WAIT_PRIVATE, 0, NULL);
    }
    return NULL;
}

START_TEST(green_wakes_native)
{
    /* A green waiter has waited: wakes go through the parking lot. */
    static uint32_t w = 1;
    ck_assert_int_eq(gfx(&w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), -EAGAIN);
    struct waiter x;
    green_task_t *t = spawn_waiter(&x, &w, FUTEX_WAIT_PRIVATE, 0);
    ck_assert_int_eq(gfx(&w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 1);
    join(t);

    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, native_waits, NULL), 0);
    long n = 0;
    for (int i = 0; i < 1000 && n == 0; i++) {
        n = gfx(&kernel_word, FUTEX_CMP_REQUEUE_PRIVATE, 0,
                (void *)(long)INT_MAX, &kernel_word, 0);
        usleep(1000);
    }
    ck_assert_int_eq(n, 1); /* it waits in the kernel */
    __atomic_store_n(&kernel_word, 1, __ATOMIC_SEQ_CST);
    ck_assert_int_eq(gfx(&kernel_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0),
                     1);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(kernel_ret, 0);
}
END_TEST

START_TEST(not_green)
{
    /* green_wait false: the kernel's own wait (here it times out). */
    static uint32_t w = 1;
    struct timespec rel = {0, 10000000L};
    ck_assert_int_eq(green__futex(&w, FUTEX_WAIT_PRIVATE, 1, &rel, NULL, 0,
                                  false),
                     -ETIMEDOUT);
}
END_TEST

Suite *green_test_futex_suite(void)
{
    Suite *s = suite_create("futex");
    TCase *tc = tcase_create("green");
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, timeouts);
    tcase_add_test(tc, wake_counts_and_bitsets);
    tcase_add_test(tc, requeues);
    tcase_add_test(tc, wake_op);
    tcase_add_test(tc, not_green);
    suite_add_tcase(s, tc);
    tc = tcase_create("native");
    tcase_add_test(tc, native_wakes_green);
    tcase_add_test(tc, green_wakes_native);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
