/* SPDX-License-Identifier: MIT */
/* The cycle suite (lib/cycle.c): a wait that closes a deadlock cycle in
 * the API returns -EDEADLK at once and the cycle is logged once, as a
 * warning naming every member, even while an unrelated task sleeps with
 * a timer pending (so the hub's own report, which needs nothing left to
 * wake anyone, cannot be what answers): a join cycle of two tasks, one of
 * three, two tasks taking two green locks in opposite orders, and a join
 * with a lock. The waits that did not close the cycle end normally once
 * the closing one gives up; a chain that does not come back (a lock
 * whose owner sleeps) is no cycle.
 *
 * Task bodies never call ck_assert (see test_event.c): they store what
 * their calls returned; the root checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <green.h>

#include "suites.h"

/* --- the log ----------------------------------------------------------- */

static char logged[8192];
static int reports;   /* "deadlock cycle:" headers seen */
static int warnings;  /* their lines, the header's included */

static void sink(void *userdata, int level, const char *message)
{
    (void)userdata;
    if (strstr(message, "deadlock cycle:") != NULL) {
        reports++;
    }
    if (level == GREEN_LOG_WARNING && strstr(message, "deadlock") == NULL &&
        strncmp(message, "  #", 3) != 0) {
        return; /* not ours */
    }
    warnings++;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof(logged) - n, "%s\n", message);
}

/* A line of the log with both pieces, or NULL. */
static const char *line_with(const char *a, const char *b)
{
    for (const char *l = logged; *l != '\0';) {
        const char *end = strchr(l, '\n');
        size_t len = end != NULL ? (size_t)(end - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)len, l);
        if (strstr(line, a) != NULL && strstr(line, b) != NULL) {
            return l;
        }
        l = end != NULL ? end + 1 : l + len;
    }
    return NULL;
}

/* The unrelated timer: a task asleep for 30 s, killed at the end. */
static green_task_t *sleeper;

static void *sleep_long(void *arg)
{
    (void)arg;
    green_sleep(30.0);
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double started;

static void setup(void)
{
    logged[0] = '\0';
    reports = warnings = 0;
    green_set_log(sink, NULL);
    ck_assert_int_eq(green_spawn(&sleeper, sleep_long, NULL), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* it sleeps: a timer pending */
    started = now();
}

static void teardown(void)
{
    ck_assert_int_eq(green_kill(sleeper), 0);
    ck_assert_int_eq(green_join(sleeper, GREEN_FOREVER, NULL), 0);
    green_task_release(sleeper);
    green_set_log(NULL, NULL);
}

/* "#ID" of a task, as the report names it. */
static const char *id_of(green_task_t *t, char *buf, size_t len)
{
    snprintf(buf, len, "#%lu", greenlet_id(green_task_greenlet(t)));
    return buf;
}

/* --- joins ------------------------------------------------------------- */

#define RING 3
static green_task_t *ring[RING];
static int ring_rc[RING];
static int ring_n;
static double closed_at;

static void *join_next(void *arg)
{
    long i = (long)arg;
    int r = green_join(ring[(i + 1) % ring_n], GREEN_FOREVER, NULL);
    ring_rc[i] = r;
    if (r == -EDEADLK) {
        closed_at = now();
    }
    return NULL;
}

/* n tasks, each joining the next, the last the first. */
static void join_ring(int n)
{
    ring_n = n;
    closed_at = 0;
    for (long i = 0; i < n; i++) {
        ring_rc[i] = 1;
        ck_assert_int_eq(green_spawn(&ring[i], join_next, (void *)i), 0);
    }
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_task_wait(ring[i], 5.0), 0);
    }
}

static void release_ring(int n)
{
    for (int i = 0; i < n; i++) {
        green_task_release(ring[i]);
    }
}

START_TEST(test_cycle_join_two)
{
    join_ring(2);
    /* The first parked joining the second; the second's join closed it. */
    ck_assert_int_eq(ring_rc[1], -EDEADLK);
    ck_assert_int_eq(ring_rc[0], 0);
    ck_assert(closed_at > 0 && closed_at - started < 1.0);
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(warnings, 3); /* the header and a line per member */
    char a[32], b[32];
    ck_assert_msg(strstr(logged, "deadlock cycle: 2 green threads") != NULL,
                  "%s", logged);
    ck_assert_msg(strstr(logged, "its wait fails with EDEADLK") != NULL,
                  "%s", logged);
    id_of(ring[0], a, sizeof(a));
    id_of(ring[1], b, sizeof(b));
    ck_assert_msg(strstr(logged, "closed now by") != NULL &&
                  line_with("closed now by", b) != NULL, "%s", logged);
    /* Each member's line says whom it waits for. */
    char want[64];
    snprintf(want, sizeof(want), "  %s waits in green_join", a);
    ck_assert_msg(line_with(want, b) != NULL, "%s", logged);
    snprintf(want, sizeof(want), "  %s waits in green_join", b);
    ck_assert_msg(line_with(want, a) != NULL, "%s", logged);
    release_ring(2);
}
END_TEST

START_TEST(test_cycle_join_three)
{
    join_ring(3);
    ck_assert_int_eq(ring_rc[2], -EDEADLK);
    ck_assert_int_eq(ring_rc[1], 0);
    ck_assert_int_eq(ring_rc[0], 0);
    ck_assert_int_eq(reports, 1);
    ck_assert_msg(strstr(logged, "deadlock cycle: 3 green threads") != NULL,
                  "%s", logged);
    release_ring(3);
}
END_TEST

/* --- locks ------------------------------------------------------------- */

static green_lock_t *lock_a, *lock_b;
static int first_rc[2], second_rc[2];

static void *take_two(void *arg)
{
    long i = (long)arg;
    green_lock_t *first = i == 0 ? lock_a : lock_b;
    green_lock_t *second = i == 0 ? lock_b : lock_a;
    first_rc[i] = green_lock_acquire(first, GREEN_FOREVER);
    green_sleep(0.01 * (double)(i + 1)); /* both hold their first */
    second_rc[i] = green_lock_acquire(second, GREEN_FOREVER);
    if (second_rc[i] == -EDEADLK) {
        closed_at = now();
    } else {
        green_lock_release(second);
    }
    green_lock_release(first);
    return NULL;
}

START_TEST(test_cycle_locks_abba)
{
    ck_assert_int_eq(green_lock_new(&lock_a), 0);
    ck_assert_int_eq(green_lock_new(&lock_b), 0);
    green_task_t *t[2];
    closed_at = 0;
    for (long i = 0; i < 2; i++) {
        first_rc[i] = second_rc[i] = 1;
        ck_assert_int_eq(green_spawn(&t[i], take_two, (void *)i), 0);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(green_join(t[i], 5.0, NULL), 0);
    }
    ck_assert_int_eq(first_rc[0], 0);
    ck_assert_int_eq(first_rc[1], 0);
    /* The first woke to take b and parked; the second's wait for a
     * closed the cycle, failed, and its release of b let the first on. */
    ck_assert_int_eq(second_rc[1], -EDEADLK);
    ck_assert_int_eq(second_rc[0], 0);
    ck_assert(closed_at > 0 && closed_at - started < 1.0);
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(warnings, 3);
    char a[32], b[32], want[96], obj[96];
    id_of(t[0], a, sizeof(a));
    id_of(t[1], b, sizeof(b));
    snprintf(want, sizeof(want), "  %s waits in green_lock_acquire on", b);
    snprintf(obj, sizeof(obj), "%p, held by %s", (void *)lock_a, a);
    ck_assert_msg(line_with(want, obj) != NULL, "%s", logged);
    snprintf(want, sizeof(want), "  %s waits in green_lock_acquire on", a);
    snprintf(obj, sizeof(obj), "%p, held by %s", (void *)lock_b, b);
    ck_assert_msg(line_with(want, obj) != NULL, "%s", logged);
    for (int i = 0; i < 2; i++) {
        green_task_release(t[i]);
    }
    ck_assert(!green_lock_locked(lock_a) && !green_lock_locked(lock_b));
    ck_assert_int_eq(green_lock_free(lock_a), 0);
    ck_assert_int_eq(green_lock_free(lock_b), 0);
}
END_TEST

/* --- a join and a lock; a chain that does not come back ---------------- */

static green_task_t *joined;
static int holder_rc, joined_rc;

static void *lock_it(void *arg)
{
    (void)arg;
    joined_rc = green_lock_acquire(lock_a, GREEN_FOREVER);
    if (joined_rc == 0) {
        green_lock_release(lock_a);
    }
    return NULL;
}

static void *hold_and_join(void *arg)
{
    (void)arg;
    green_lock_acquire(lock_a, GREEN_FOREVER);
    holder_rc = green_join(joined, GREEN_FOREVER, NULL);
    green_lock_release(lock_a);
    return NULL;
}

START_TEST(test_cycle_join_and_lock)
{
    ck_assert_int_eq(green_lock_new(&lock_a), 0);
    green_task_t *holder;
    holder_rc = joined_rc = 1;
    ck_assert_int_eq(green_spawn(&holder, hold_and_join, NULL), 0);
    ck_assert_int_eq(green_spawn(&joined, lock_it, NULL), 0);
    ck_assert_int_eq(green_task_wait(holder, 5.0), 0);
    ck_assert_int_eq(joined_rc, -EDEADLK);
    ck_assert_int_eq(holder_rc, 0);
    ck_assert_int_eq(reports, 1);
    char h[32], want[96];
    snprintf(want, sizeof(want), "%p, held by %s", (void *)lock_a,
             id_of(holder, h, sizeof(h)));
    ck_assert_msg(line_with("waits in green_lock_acquire on", want) != NULL,
                  "%s", logged);
    snprintf(want, sizeof(want), "  %s waits in green_join on", h);
    ck_assert_msg(line_with(want, "for the end of #") != NULL, "%s",
                  logged);
    green_task_release(holder);
    green_task_release(joined);
    ck_assert_int_eq(green_lock_free(lock_a), 0);
}
END_TEST

static void *hold_and_sleep(void *arg)
{
    (void)arg;
    green_lock_acquire(lock_a, GREEN_FOREVER);
    green_sleep(0.05);
    green_lock_release(lock_a);
    return NULL;
}

START_TEST(test_cycle_none)
{
    /* The root waits for a lock whose owner sleeps, then joins it: a
     * chain that ends at a greenlet waiting for no one. */
    ck_assert_int_eq(green_lock_new(&lock_a), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, hold_and_sleep, NULL), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_lock_acquire(lock_a, 5.0), 0);
    ck_assert_int_eq(green_lock_release(lock_a), 0);
    ck_assert_int_eq(green_join(t, 5.0, NULL), 0);
    ck_assert_int_eq(reports, 0);
    ck_assert_str_eq(logged, "");
    green_task_release(t);
    ck_assert_int_eq(green_lock_free(lock_a), 0);
}
END_TEST

Suite *green_test_cycle_suite(void)
{
    Suite *s = suite_create("cycle");
    TCase *tc = tcase_create("cycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cycle_join_two);
    tcase_add_test(tc, test_cycle_join_three);
    tcase_add_test(tc, test_cycle_locks_abba);
    tcase_add_test(tc, test_cycle_join_and_lock);
    tcase_add_test(tc, test_cycle_none);
    suite_add_tcase(s, tc);
    return s;
}
