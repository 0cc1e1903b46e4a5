/* SPDX-License-Identifier: MIT */
/* The event suite (include/green/event.h): set, clear and wait; every
 * waiter woken in the order it began waiting; timeouts; waiters killed
 * while waiting; free with waiters; deadlock reports; bad input and
 * events used from another OS thread.
 *
 * Task bodies never call ck_assert: under CK_FORK=no (the valgrind setup)
 * a failed assert longjmps, and a longjmp from a greenlet stack to the
 * root stack would wreck the run. Bodies record what they saw; the root
 * checks. Every test ends with no task left and every object freed. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <green.h>

#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* --- waiters ---------------------------------------------------------- */

enum { NW = 5 };

/* The order waiters are made to queue in, deliberately not spawn order. */
static const int perm[NW] = {3, 0, 4, 1, 2};

static green_event_t *ev;
static int rcs[NW];          /* each waiter's green_event_wait result */
static double woke_at[NW];   /* when its wait returned */
static int order[NW];        /* waiter ids in the order their waits returned */
static int norder;

struct waiter {
    int id;
    double timeout;
};

static struct waiter ws[NW];

static void reset(void)
{
    for (int i = 0; i < NW; i++) {
        rcs[i] = 1;
        woke_at[i] = 0.0;
        order[i] = -1;
        ws[i].id = i;
        ws[i].timeout = GREEN_FOREVER;
    }
    norder = 0;
}

static void *wait_body(void *arg)
{
    struct waiter *w = arg;
    rcs[w->id] = green_event_wait(ev, w->timeout);
    woke_at[w->id] = green_test_now();
    order[norder++] = w->id;
    return NULL;
}

/* Spawns waiter `id` and lets it run until it parks on ev. */
static green_task_t *start_waiter(int id, double timeout)
{
    green_task_t *t;
    ws[id].id = id;
    ws[id].timeout = timeout;
    ck_assert_int_eq(green_spawn(&t, wait_body, &ws[id]), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert(!green_task_done(t));
    return t;
}

/* --- happy path ------------------------------------------------------- */

START_TEST(set_wakes_waiter)
{
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    ck_assert(!green_event_is_set(ev));
    green_task_t *t = start_waiter(0, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert_msg(!green_task_done(t), "wait returned on a clear event");
    ck_assert_int_eq(rcs[0], 1);

    double t0 = green_test_now();
    ck_assert_int_eq(green_event_set(ev), 0);
    ck_assert(green_event_is_set(ev));
    join_release(t);
    ck_assert_int_eq(rcs[0], 0);
    ck_assert_double_lt(woke_at[0] - t0, slow(0.5));

    /* It stays set: waits return at once, even with no time to wait. */
    ck_assert_int_eq(green_event_wait(ev, 0.0), 0);
    ck_assert_int_eq(green_event_wait(ev, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_event_set(ev), 0); /* setting again is fine */
    ck_assert(green_event_is_set(ev));

    /* Cleared, it blocks again. */
    ck_assert_int_eq(green_event_clear(ev), 0);
    ck_assert(!green_event_is_set(ev));
    ck_assert_int_eq(green_event_wait(ev, 0.0), -ETIMEDOUT);
    ck_assert_int_eq(green_event_clear(ev), 0); /* clearing again is fine */
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

static void *set_later_body(void *arg)
{
    green_sleep(0.03);
    green_event_set(arg);
    return NULL;
}

START_TEST(root_wait_woken_by_task)
{
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, set_later_body, e), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_event_wait(e, slow(5.0)), 0);
    check_elapsed(t0, 0.02, slow(1.0));
    ck_assert(green_event_is_set(e));
    join_release(t);
    ck_assert_int_eq(green_event_free(e), 0);
}
END_TEST

START_TEST(set_wakes_all_in_queue_order)
{
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_waiter(perm[k], GREEN_FOREVER);
    }
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(norder, 0);
    ck_assert_int_eq(green_event_set(ev), 0);
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    ck_assert_int_eq(norder, NW);
    for (int k = 0; k < NW; k++) {
        ck_assert_msg(order[k] == perm[k],
                      "wake-up %d went to waiter %d, wanted %d", k,
                      order[k], perm[k]);
        ck_assert_int_eq(rcs[k], 0);
    }
    for (int i = 0; i < NW; i++) {
        join_release(t[i]);
    }
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

START_TEST(set_then_clear_still_wakes)
{
    /* The waiter was woken by the set: a clear before it runs must not
     * put it back to sleep. A waiter arriving after the clear waits. */
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *a = start_waiter(0, GREEN_FOREVER);
    ck_assert_int_eq(green_event_set(ev), 0);
    ck_assert_int_eq(green_event_clear(ev), 0);
    green_task_t *b = start_waiter(1, 0.05);
    join_release(a);
    ck_assert_int_eq(rcs[0], 0);
    join_release(b);
    ck_assert_int_eq(rcs[1], -ETIMEDOUT);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

static int many_rc[200];

static void *many_body(void *arg)
{
    many_rc[(intptr_t)arg] = green_event_wait(ev, GREEN_FOREVER);
    return NULL;
}

START_TEST(many_waiters_one_set)
{
    enum { N = 200 };
    green_task_t **t = calloc(N, sizeof *t);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(green_event_new(&ev), 0);
    for (intptr_t i = 0; i < N; i++) {
        many_rc[i] = 1;
        ck_assert_int_eq(green_spawn(&t[i], many_body, (void *)i), 0);
    }
    ck_assert_int_eq(green_sleep(0.01), 0);
    for (int i = 0; i < N; i++) {
        ck_assert(!green_task_done(t[i]));
    }
    ck_assert_int_eq(green_event_set(ev), 0);
    ck_assert_int_eq(green_joinall(t, N, slow(2.0)), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(many_rc[i], 0);
        join_release(t[i]);
    }
    free(t);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

/* --- timeouts --------------------------------------------------------- */

START_TEST(wait_times_out)
{
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_event_wait(e, 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert(!green_event_is_set(e));
    /* The timed-out root left no trace: the event can be freed. */
    ck_assert_int_eq(green_event_free(e), 0);
}
END_TEST

START_TEST(task_wait_times_out_alone)
{
    /* One waiter times out, the other stays until the set. */
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    double t0 = green_test_now();
    green_task_t *a = start_waiter(0, 0.05);
    green_task_t *b = start_waiter(1, GREEN_FOREVER);
    join_release(a);
    ck_assert_int_eq(rcs[0], -ETIMEDOUT);
    ck_assert_double_ge(woke_at[0] - t0, 0.04);
    ck_assert_double_lt(woke_at[0] - t0, slow(1.0));
    ck_assert(!green_task_done(b));
    ck_assert_int_eq(green_event_set(ev), 0);
    join_release(b);
    ck_assert_int_eq(rcs[1], 0);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

START_TEST(set_before_timeout)
{
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *a = start_waiter(0, 5.0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_event_set(ev), 0);
    join_release(a);
    ck_assert_int_eq(rcs[0], 0);
    ck_assert_double_lt(woke_at[0] - t0, slow(0.5));
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

/* --- cancellation ----------------------------------------------------- */

START_TEST(kill_waiter)
{
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *a = start_waiter(0, GREEN_FOREVER);
    green_task_t *b = start_waiter(1, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    ck_assert_int_eq(rcs[0], -ECANCELED);
    ck_assert_int_eq(green_task_status(a), GREEN_TASK_CANCELLED);
    green_task_release(a);
    /* The other waiter is untouched and the event still works. */
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert(!green_task_done(b));
    ck_assert(!green_event_is_set(ev));
    ck_assert_int_eq(green_event_set(ev), 0);
    join_release(b);
    ck_assert_int_eq(rcs[1], 0);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

START_TEST(kill_then_set_at_once)
{
    /* Killed first, set before it ran: its wait still fails. */
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *a = start_waiter(0, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_event_set(ev), 0);
    join_release(a);
    ck_assert_int_eq(rcs[0], -ECANCELED);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

static void *killed_then_wait_body(void *arg)
{
    int *rc = arg;
    /* Killed before its first wait: that wait (and every later one) fails
     * at once instead of blocking. */
    green_sleep(GREEN_FOREVER);
    rc[0] = green_event_wait(ev, GREEN_FOREVER);
    rc[1] = green_event_wait(ev, 0.05);
    return NULL;
}

START_TEST(killed_task_cannot_wait)
{
    static int rc[2] = {1, 1};
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, killed_then_wait_body, rc), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_kill(t), 0);
    double t0 = green_test_now();
    join_release(t);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(rc[0], -ECANCELED);
    ck_assert_int_eq(rc[1], -ECANCELED);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

/* --- free ------------------------------------------------------------- */

START_TEST(free_with_waiters_is_busy)
{
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *a = start_waiter(0, GREEN_FOREVER);
    ck_assert_int_eq(green_event_free(ev), -EBUSY);
    /* Refused: the event is intact and still wakes its waiter. */
    ck_assert(!green_event_is_set(ev));
    ck_assert_int_eq(green_event_set(ev), 0);
    join_release(a);
    ck_assert_int_eq(rcs[0], 0);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

START_TEST(free_right_after_set)
{
    /* Set wakes the waiters; the event can then be freed before they get
     * to run (free says 0), so they must not touch it again (ASan and
     * valgrind would see it). */
    reset();
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = start_waiter(i, GREEN_FOREVER);
    }
    ck_assert_int_eq(green_event_set(ev), 0);
    int r = green_event_free(ev);
    ck_assert_int_eq(green_joinall(t, 3, slow(2.0)), 0);
    for (int i = 0; i < 3; i++) {
        join_release(t[i]);
        ck_assert_int_eq(rcs[i], 0);
    }
    if (r == -EBUSY) {
        ck_assert_int_eq(green_event_free(ev), 0);
    } else {
        ck_assert_int_eq(r, 0);
    }
}
END_TEST

/* --- deadlock --------------------------------------------------------- */

static void deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    green_event_t *e;
    if (green_event_new(&e) != 0) {
        _exit(90);
    }
    ev = e;
    static struct waiter w[2] = {{0, GREEN_FOREVER}, {1, GREEN_FOREVER}};
    static const char *names[2] = {"event-waiter-one", "event-waiter-two"};
    for (int i = 0; i < 2; i++) {
        green_spawn_opts_t o = {.name = names[i]};
        if (green_spawn_ex(NULL, wait_body, &w[i], &o) != 0) {
            _exit(91);
        }
    }
    /* A wait with a deadline is not a deadlock: the timer can wake it. */
    if (green_event_wait(e, 0.05) != -ETIMEDOUT) {
        _exit(92);
    }
    int r = green_event_wait(e, GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    static char report[8192];
    int st = green_test_fork_capture(deadlock_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "event-waiter-one") != NULL &&
                  strstr(report, "event-waiter-two") != NULL,
                  "report does not name the waiters: %s", report);
    ck_assert_msg(strstr(report, "green_event_wait") != NULL,
                  "report does not say what they wait on: %s", report);
}
END_TEST

static void lone_root_child(void *arg)
{
    green_test_child_deadline(5);
    green_event_t *e;
    if (green_event_new(&e) != 0) {
        _exit(90);
    }
    int r = green_event_wait(e, GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(deadlock_lone_root)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    static char report[8192];
    int st = green_test_fork_capture(lone_root_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "deadlock") != NULL, "no report: %s",
                  report);
}
END_TEST

/* --- bad input -------------------------------------------------------- */

START_TEST(bad_input)
{
    ck_assert_int_eq(green_event_new(NULL), -EINVAL);
    ck_assert_int_eq(green_event_free(NULL), -EINVAL);
    ck_assert_int_eq(green_event_set(NULL), -EINVAL);
    ck_assert_int_eq(green_event_clear(NULL), -EINVAL);
    ck_assert_int_eq(green_event_wait(NULL, 1.0), -EINVAL);
    ck_assert_int_eq(green_event_wait(NULL, GREEN_FOREVER), -EINVAL);
    ck_assert(!green_event_is_set(NULL));

    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_event_wait(e, -1.0), -EINVAL);
    ck_assert_int_eq(green_event_wait(e, -1e-9), -EINVAL);
    ck_assert_int_eq(green_event_wait(e, NAN), -EINVAL);
    ck_assert_int_eq(green_event_wait(e, -INFINITY), -EINVAL);
    check_elapsed(t0, 0.0, slow(0.5));
    /* A bad timeout is rejected whatever the state (common.h). */
    ck_assert_int_eq(green_event_set(e), 0);
    ck_assert_int_eq(green_event_wait(e, -1.0), -EINVAL);
    ck_assert_int_eq(green_event_wait(e, NAN), -EINVAL);
    ck_assert_int_eq(green_event_free(e), 0);
}
END_TEST

/* --- across OS threads ------------------------------------------------ */

/* An event made on another OS thread, waited for there and set here, and
 * the other way round: each set wakes the waiter parked on the other
 * thread's hub. */
struct foreign {
    sem_t made, parked, done;
    green_event_t *e;    /* the other thread's: it waits, we set */
    green_event_t *back; /* ours: we wait, it sets */
    int new_rc, woke, timed, set_back;
};

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->new_rc = green_event_new(&f->e);
    sem_post(&f->made);
    if (f->new_rc != 0) {
        return NULL;
    }
    sem_post(&f->parked); /* about to wait: the root sets after a while */
    f->woke = green_event_wait(f->e, 10.0);
    green_event_clear(f->e);
    f->timed = green_event_wait(f->e, 0.02);
    f->set_back = green_event_set(f->back);
    sem_wait(&f->done);
    return NULL;
}

START_TEST(other_thread_event)
{
    struct foreign f = {.woke = 1, .timed = 1, .set_back = 1};
    sem_init(&f.made, 0, 0);
    sem_init(&f.parked, 0, 0);
    sem_init(&f.done, 0, 0);
    ck_assert_int_eq(green_event_new(&f.back), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    sem_wait(&f.made);
    ck_assert_int_eq(f.new_rc, 0);
    sem_wait(&f.parked);
    ck_assert_int_eq(green_sleep(0.02), 0); /* it is parked by now */
    ck_assert_int_eq(green_event_set(f.e), 0);
    /* This wait ends with the other thread's set. */
    int rw = green_event_wait(f.back, 10.0);
    sem_post(&f.done);
    pthread_join(th, NULL);
    ck_assert_int_eq(rw, 0);
    ck_assert_int_eq(f.woke, 0);
    ck_assert_int_eq(f.timed, -ETIMEDOUT);
    ck_assert_int_eq(f.set_back, 0);
    ck_assert_int_eq(green_event_free(f.e), 0);
    ck_assert_int_eq(green_event_free(f.back), 0);
    sem_destroy(&f.made);
    sem_destroy(&f.parked);
    sem_destroy(&f.done);
}
END_TEST

/* A plain thread that never made green state sets an event greenlets of
 * this thread wait for. */
static void *plain_setter(void *arg)
{
    usleep(20000);
    return (void *)(intptr_t)green_event_set(arg);
}

static void *event_waiter(void *arg)
{
    return (void *)(intptr_t)green_event_wait(arg, 10.0);
}

START_TEST(plain_thread_sets)
{
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], event_waiter, e), 0);
    }
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, plain_setter, e), 0);
    for (int i = 0; i < 3; i++) {
        void *r = (void *)1;
        ck_assert_int_eq(green_join(t[i], GREEN_FOREVER, &r), 0);
        ck_assert_ptr_null(r);
        green_task_release(t[i]);
    }
    void *r = (void *)1;
    ck_assert_int_eq(pthread_join(th, &r), 0);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(green_event_free(e), 0);
}
END_TEST

/* The waiter frees the event the moment its wait returns, while the
 * setter on another OS thread may still be inside green_event_set: the
 * setter must not touch the event once its inbox wake-up went out
 * (AddressSanitizer catches it; test/helpers.h). */
static void *event_make(void)
{
    green_event_t *e;
    return green_event_new(&e) == 0 ? e : NULL;
}

static int event_set(void *e)
{
    return green_event_set(e);
}

static int event_wait_free(void *e)
{
    int r = green_event_wait(e, 10.0);
    return r != 0 ? r : green_event_free(e);
}

START_TEST(waiter_frees_at_once)
{
    int rounds = green_test_emulated() ? 400 : 4000;
    ck_assert_int_eq(green_test_free_race(rounds, event_make, event_set,
                                          event_wait_free), 0);
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_event_suite(void)
{
    Suite *s = suite_create("event");

    /* First: a forked child inherits valgrind's error count, so under
     * valgrind (CK_FORK=no) an error in an earlier test would fail it. */
    TCase *tc = tcase("deadlock", 15);
    tcase_add_test(tc, deadlock_reported);
    tcase_add_test(tc, deadlock_lone_root);
    suite_add_tcase(s, tc);

    tc = tcase("basic", 10);
    tcase_add_test(tc, set_wakes_waiter);
    tcase_add_test(tc, root_wait_woken_by_task);
    tcase_add_test(tc, set_wakes_all_in_queue_order);
    tcase_add_test(tc, set_then_clear_still_wakes);
    tcase_add_test(tc, many_waiters_one_set);
    suite_add_tcase(s, tc);

    tc = tcase("timeout", 10);
    tcase_add_test(tc, wait_times_out);
    tcase_add_test(tc, task_wait_times_out_alone);
    tcase_add_test(tc, set_before_timeout);
    suite_add_tcase(s, tc);

    tc = tcase("cancel", 10);
    tcase_add_test(tc, kill_waiter);
    tcase_add_test(tc, kill_then_set_at_once);
    tcase_add_test(tc, killed_task_cannot_wait);
    tcase_add_test(tc, free_with_waiters_is_busy);
    tcase_add_test(tc, free_right_after_set);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 10);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, other_thread_event);
    tcase_add_test(tc, plain_thread_sets);
    tcase_add_test(tc, waiter_frees_at_once);
    suite_add_tcase(s, tc);
    return s;
}
