/* SPDX-License-Identifier: MIT */
/* The pool suite: pools and groups (include/green/pool.h). The size
 * limit, spawners served first come first served, map, imap_unordered and
 * stopping it midway, join, kill as a structured shutdown, freeing,
 * cancellation of a waiting spawner, deadlock and bad input.
 *
 * Task bodies never call ck_assert (see test_task.c): they record what
 * they saw and the root checks. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "green/event.h"
#include "green/lock.h"
#include "green/pool.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static char report[16384];

/* How many job bodies run at once, at most, and how many pool members
 * the pool counted meanwhile. */
static struct {
    int cur;
    int max;
    int ran;
    size_t max_running;
    int order[64];  /* job ids in the order they started */
    int norder;
} conc;

static void conc_reset(void)
{
    memset(&conc, 0, sizeof conc);
}

/* A pool member: counts itself in, sleeps `delay` (GREEN_FOREVER: until
 * killed, or until `go` is set), counts itself out and runs its cleanup
 * whatever happened, then returns itself or fails with `fail`. */
struct job {
    int id;
    double delay;
    int fail;
    green_pool_t *p;
    green_event_t *go;
    int started;
    int wait_ret;
    int cleanup;
};

static void *job_body(void *arg)
{
    struct job *j = arg;
    j->started = 1;
    if (++conc.cur > conc.max) {
        conc.max = conc.cur;
    }
    conc.ran++;
    if (conc.norder < 64) {
        conc.order[conc.norder++] = j->id;
    }
    if (j->p != NULL && green_pool_running(j->p) > conc.max_running) {
        conc.max_running = green_pool_running(j->p);
    }
    if (j->go != NULL) {
        j->wait_ret = green_event_wait(j->go, GREEN_FOREVER);
    } else {
        j->wait_ret = j->delay > 0 ? green_sleep(j->delay) : 0;
    }
    conc.cur--;
    j->cleanup = 1;
    if (j->wait_ret != 0) {
        return NULL;
    }
    return j->fail != 0 ? green_fail(j->fail) : j;
}

/* --- size limit and fairness --------------------------------------------- */

START_TEST(pool_limits_concurrency)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 3), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 3);
    struct job j[12];
    double t0 = green_test_now();
    for (int i = 0; i < 12; i++) {
        j[i] = (struct job){.id = i, .delay = 0.01 + 0.005 * (i % 3),
                            .p = p};
        /* Detached: the pool keeps track of them. */
        ck_assert_int_eq(green_pool_spawn(p, NULL, job_body, &j[i]), 0);
        ck_assert_uint_le(green_pool_running(p), 3);
        ck_assert_uint_eq(green_pool_free_slots(p),
                          3 - green_pool_running(p));
    }
    /* Spawning waited for slots: at least three rounds of >= 10 ms passed
     * before the last spawn could return. */
    ck_assert_double_ge(green_test_now() - t0, 0.029);
    ck_assert_int_eq(green_pool_join(p, slow(2.0)), 0);
    ck_assert_int_eq(conc.ran, 12);
    ck_assert_int_eq(conc.max, 3);
    ck_assert_uint_le(conc.max_running, 3);
    ck_assert_int_eq(conc.cur, 0);
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(j[i].cleanup, 1);
        ck_assert_int_eq(conc.order[i], i);
    }
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 3);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* A task that spawns one job into a pool, announcing itself just before
 * (nothing switches between that and joining the spawners' queue). */
struct spawner {
    green_pool_t *p;
    struct job *job;
    double delay;
    int *queued;
    green_task_t *task; /* the job's handle */
    int ret;
};

static void *spawner_body(void *arg)
{
    struct spawner *s = arg;
    if (s->delay > 0) {
        green_sleep(s->delay);
    }
    (*s->queued)++;
    s->ret = green_pool_spawn(s->p, &s->task, job_body, s->job);
    return NULL;
}

struct slot_probe {
    green_pool_t *p;
    struct spawner *first;
    size_t free_slots;
    size_t running;
    int spawner_ret;
};

static void probe_cb(green_task_t *t, void *userdata)
{
    struct slot_probe *pr = userdata;
    (void)t;
    pr->free_slots = green_pool_free_slots(pr->p);
    pr->running = green_pool_running(pr->p);
    pr->spawner_ret = pr->first->ret;
}

START_TEST(pool_spawners_fifo)
{
    conc_reset();
    green_pool_t *p;
    green_event_t *go;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct job blocker = {.id = 99, .go = go};
    green_task_t *bt;
    ck_assert_int_eq(green_pool_spawn(p, &bt, job_body, &blocker), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 0);

    /* Five spawners queue for the one slot in the order 4, 3, 2, 1, 0. */
    int queued = 0;
    struct job j[5];
    struct spawner s[5];
    green_task_t *st[5];
    for (int i = 0; i < 5; i++) {
        j[i] = (struct job){.id = i, .delay = 0.005};
        s[i] = (struct spawner){.p = p, .job = &j[i],
                                .delay = 0.02 * (5 - i), .queued = &queued,
                                .ret = 1};
        ck_assert_int_eq(green_spawn(&st[i], spawner_body, &s[i]), 0);
    }
    wait_flag(&queued, 5);
    ck_assert_uint_eq(green_pool_running(p), 1);
    ck_assert_int_eq(green_pool_free(p), -EBUSY); /* members and spawners */
    ck_assert_int_eq(conc.norder, 1);

    /* Look at the pool right after the blocker left it (a link runs
     * after the pool's own, before anyone else runs). */
    struct slot_probe pr = {.p = p, .first = &s[4], .free_slots = 99,
                            .running = 99, .spawner_ret = 99};
    ck_assert_int_eq(green_link(bt, probe_cb, &pr), 0);
    ck_assert_int_eq(green_event_set(go), 0);
    ck_assert_int_eq(green_join(bt, slow(1.0), NULL), 0);
    green_task_release(bt);
    /* The blocker's slot went straight to the first spawner, which had not
     * run yet: it was free for nobody else meanwhile. */
    ck_assert_uint_eq(pr.free_slots, 0);
    ck_assert_uint_eq(pr.running, 1);
    ck_assert_int_eq(pr.spawner_ret, 1);

    ck_assert_int_eq(green_joinall(st, 5, slow(2.0)), 0);
    ck_assert_int_eq(green_pool_join(p, slow(2.0)), 0);
    ck_assert_int_eq(conc.norder, 6);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(conc.order[1 + i], 4 - i);
    }
    ck_assert_int_eq(conc.max, 1);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(s[i].ret, 0);
        ck_assert_int_eq(green_task_status(s[i].task), GREEN_TASK_DONE);
        ck_assert_ptr_eq(green_task_result(s[i].task), &j[i]);
        green_task_release(s[i].task);
        green_task_release(st[i]);
    }
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_int_eq(green_event_free(go), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(pool_spawner_killed_while_waiting)
{
    conc_reset();
    green_pool_t *p;
    green_event_t *go;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct job blocker = {.id = 99, .go = go};
    ck_assert_int_eq(green_pool_spawn(p, NULL, job_body, &blocker), 0);
    int queued = 0;
    struct job j = {.id = 1};
    struct spawner s = {.p = p, .job = &j, .queued = &queued, .ret = 1};
    green_task_t *st;
    ck_assert_int_eq(green_spawn(&st, spawner_body, &s), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_kill(st), 0);
    ck_assert_int_eq(green_join(st, slow(1.0), NULL), 0);
    green_task_release(st);
    ck_assert_int_eq(s.ret, -ECANCELED);
    ck_assert_uint_eq(green_pool_running(p), 1);
    /* The slot freed next is not lost to the dead spawner. */
    ck_assert_int_eq(green_event_set(go), 0);
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 1);
    ck_assert_int_eq(j.started, 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_int_eq(green_event_free(go), 0);
}
END_TEST

START_TEST(pool_spawner_killed_then_slot_freed)
{
    /* The member that holds the slot is woken, then the waiting spawner
     * is killed: the slot frees up only after the kill. The spawner's
     * wait must still fail with -ECANCELED (task.h: the call a killed
     * task is in fails), spawning nothing. */
    conc_reset();
    green_pool_t *p;
    green_event_t *go;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct job blocker = {.id = 99, .go = go};
    ck_assert_int_eq(green_pool_spawn(p, NULL, job_body, &blocker), 0);
    int queued = 0;
    struct job j = {.id = 1};
    struct spawner s = {.p = p, .job = &j, .queued = &queued, .ret = 1};
    green_task_t *st;
    ck_assert_int_eq(green_spawn(&st, spawner_body, &s), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_event_set(go), 0);
    ck_assert_int_eq(green_kill(st), 0);
    ck_assert_int_eq(green_join(st, slow(1.0), NULL), 0);
    green_task_release(st);
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    if (s.ret == 0) {
        green_task_release(s.task);
    }
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_int_eq(green_event_free(go), 0);
    ck_assert_int_eq(s.ret, -ECANCELED);
    ck_assert_int_eq(j.started, 0);
}
END_TEST

/* --- map and imap_unordered ---------------------------------------------- */

START_TEST(pool_map_outcomes_in_order)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    struct job j[6];
    void *args[6];
    for (int i = 0; i < 6; i++) {
        /* Later arguments finish sooner. */
        j[i] = (struct job){.id = i, .delay = 0.005 * (6 - i), .p = p,
                            .fail = i == 3 ? -EDOM : 0};
        args[i] = &j[i];
    }
    green_outcome_t out[6];
    memset(out, 0xa5, sizeof out);
    ck_assert_int_eq(green_pool_map(p, job_body, args, 6, out), 0);
    for (int i = 0; i < 6; i++) {
        if (i == 3) {
            ck_assert_int_eq(out[i].status, GREEN_TASK_FAILED);
            ck_assert_int_eq(out[i].error, -EDOM);
            ck_assert_ptr_null(out[i].value);
        } else {
            ck_assert_int_eq(out[i].status, GREEN_TASK_DONE);
            ck_assert_int_eq(out[i].error, 0);
            ck_assert_ptr_eq(out[i].value, &j[i]);
        }
        ck_assert_int_eq(j[i].cleanup, 1);
    }
    ck_assert_int_eq(conc.max, 2);
    ck_assert_uint_le(conc.max_running, 2);
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_int_eq(green_pool_map(p, job_body, NULL, 0, NULL), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* Runs green_pool_map from a task, and notes what had become of the first
 * job when the map returned. */
struct mapper {
    green_pool_t *p;
    struct job *jobs;
    size_t n;
    int ret;
    int cleanup_at_return;
    int cur_at_return;
    green_outcome_t out[4];
};

static void *mapper_body(void *arg)
{
    struct mapper *m = arg;
    void *args[4];
    for (size_t i = 0; i < m->n; i++) {
        args[i] = &m->jobs[i];
    }
    m->ret = green_pool_map(m->p, job_body, args, m->n, m->out);
    m->cleanup_at_return = m->jobs[0].cleanup;
    m->cur_at_return = conc.cur;
    return NULL;
}

START_TEST(pool_map_caller_killed)
{
    /* pool.h: on an error, "tasks already spawned are killed and waited
     * for". The mapper is killed while it waits for a slot for the second
     * job: the first must have run its cleanup when the map returns. */
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    struct job j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (struct job){.id = i, .delay = 0.3};
    }
    struct mapper m = {.p = p, .jobs = j, .n = 3, .ret = 1};
    green_task_t *mt;
    ck_assert_int_eq(green_spawn(&mt, mapper_body, &m), 0);
    ck_assert_int_eq(green_sleep(0.03), 0);
    ck_assert_int_eq(j[0].started, 1);
    ck_assert_int_eq(green_kill(mt), 0);
    ck_assert_int_eq(green_join(mt, slow(1.0), NULL), 0);
    green_task_release(mt);
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_int_eq(m.ret, -ECANCELED);
    ck_assert_int_eq(j[1].started, 0);
    ck_assert_int_eq(j[2].started, 0);
    ck_assert_msg(m.cleanup_at_return == 1 && m.cur_at_return == 0,
                  "map returned before the spawned job ended");
}
END_TEST

START_TEST(imap_unordered_finish_order)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 6), 0);
    static const double delay[6] = {0.20, 0.05, 0.16, 0.09, 0.13, 0.01};
    static const size_t want[6] = {5, 1, 3, 4, 2, 0};
    struct job j[6];
    void *args[6];
    for (int i = 0; i < 6; i++) {
        j[i] = (struct job){.id = i, .delay = delay[i]};
        args[i] = &j[i];
    }
    green_pool_iter_t *it;
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, args, 6, &it), 0);
    for (int k = 0; k < 6; k++) {
        size_t idx = 99;
        green_outcome_t o;
        ck_assert_int_eq(green_pool_iter_next(it, &idx, &o), 0);
        ck_assert_uint_eq(idx, want[k]);
        ck_assert_int_eq(o.status, GREEN_TASK_DONE);
        ck_assert_ptr_eq(o.value, &j[idx]);
        ck_assert_int_eq(j[idx].cleanup, 1);
    }
    size_t idx;
    ck_assert_int_eq(green_pool_iter_next(it, &idx, NULL), -ENOENT);
    ck_assert_int_eq(green_pool_iter_next(it, NULL, NULL), -ENOENT);
    green_pool_iter_free(it);
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(imap_unordered_limited)
{
    /* Through a pool of 2: every index exactly once, never more than two
     * at a time, failures reported as outcomes. */
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    enum { N = 9 };
    struct job j[N];
    void *args[N];
    for (int i = 0; i < N; i++) {
        j[i] = (struct job){.id = i, .delay = 0.002 * ((i * 7) % 5 + 1),
                            .p = p, .fail = i % 4 == 1 ? -EIO : 0};
        args[i] = &j[i];
    }
    green_pool_iter_t *it;
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, args, N, &it), 0);
    int seen[N] = {0};
    for (int k = 0; k < N; k++) {
        size_t idx = 99;
        green_outcome_t o;
        ck_assert_int_eq(green_pool_iter_next(it, &idx, &o), 0);
        ck_assert_uint_lt(idx, N);
        seen[idx]++;
        if (idx % 4 == 1) {
            ck_assert_int_eq(o.status, GREEN_TASK_FAILED);
            ck_assert_int_eq(o.error, -EIO);
        } else {
            ck_assert_int_eq(o.status, GREEN_TASK_DONE);
            ck_assert_ptr_eq(o.value, &j[idx]);
        }
    }
    ck_assert_int_eq(green_pool_iter_next(it, NULL, NULL), -ENOENT);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(seen[i], 1);
    }
    ck_assert_int_eq(conc.max, 2);
    ck_assert_uint_le(conc.max_running, 2);
    green_pool_iter_free(it);
    ck_assert_int_eq(green_pool_free(p), 0);

    /* Nothing to do: the end at once. */
    ck_assert_int_eq(green_group_new(&p), 0);
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, NULL, 0, &it), 0);
    ck_assert_int_eq(green_pool_iter_next(it, NULL, NULL), -ENOENT);
    green_pool_iter_free(it);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(imap_free_midway)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    struct job j[6];
    void *args[6];
    for (int i = 0; i < 6; i++) {
        j[i] = (struct job){.id = i, .delay = i == 0 ? 0.01 : 0.5};
        args[i] = &j[i];
    }
    green_pool_iter_t *it;
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, args, 6, &it), 0);
    size_t idx = 99;
    ck_assert_int_eq(green_pool_iter_next(it, &idx, NULL), 0);
    ck_assert_uint_eq(idx, 0);
    double t0 = green_test_now();
    green_pool_iter_free(it);
    /* Killed and waited for, not run to their end. */
    ck_assert_double_lt(green_test_now() - t0, slow(0.3));
    ck_assert_int_eq(conc.cur, 0);
    ck_assert_int_eq(j[1].started, 1);
    for (int i = 1; i < 6; i++) {
        ck_assert_int_eq(j[i].cleanup, j[i].started);
        if (j[i].started) {
            ck_assert_int_eq(j[i].wait_ret, -ECANCELED);
        }
    }
    /* The pool of 2 never had room for the last three. */
    for (int i = 3; i < 6; i++) {
        ck_assert_int_eq(j[i].started, 0);
    }
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 2);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* Iterates imap_unordered from a task until killed, then frees the
 * iterator as its cleanup, noting what still ran at that point. */
struct imapper {
    green_pool_t *p;
    struct job *jobs;
    size_t n;
    int next_ret;
    int cur_after_free;
    size_t running_after_free;
};

static void *imapper_body(void *arg)
{
    struct imapper *m = arg;
    void *args[8];
    for (size_t i = 0; i < m->n; i++) {
        args[i] = &m->jobs[i];
    }
    green_pool_iter_t *it;
    if (green_pool_imap_unordered(m->p, job_body, args, m->n, &it) != 0) {
        m->next_ret = 999;
        return NULL;
    }
    size_t idx;
    do {
        m->next_ret = green_pool_iter_next(it, &idx, NULL);
    } while (m->next_ret == 0);
    green_pool_iter_free(it);
    m->cur_after_free = conc.cur;
    m->running_after_free = green_pool_running(m->p);
    return NULL;
}

START_TEST(imap_free_in_killed_caller)
{
    /* iter_free "kills and waits for" the calls not yet finished: also
     * when it runs as the cleanup of a greenlet that is being killed,
     * which is when it matters most (the calls and their link callbacks
     * must not outlive the iterator). */
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    struct job j[4];
    for (int i = 0; i < 4; i++) {
        j[i] = (struct job){.id = i, .delay = 0.3};
    }
    struct imapper m = {.p = p, .jobs = j, .n = 4, .next_ret = 1,
                        .cur_after_free = -1, .running_after_free = 99};
    green_task_t *mt;
    ck_assert_int_eq(green_spawn(&mt, imapper_body, &m), 0);
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert_int_eq(conc.cur, 2);
    ck_assert_int_eq(green_kill(mt), 0);
    ck_assert_int_eq(green_join(mt, slow(1.0), NULL), 0);
    green_task_release(mt);
    int cur_now = conc.cur;
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_int_eq(m.next_ret, -ECANCELED);
    ck_assert_int_eq(m.cur_after_free, 0);
    ck_assert_uint_eq(m.running_after_free, 0);
    ck_assert_int_eq(cur_now, 0);
    ck_assert_int_eq(j[2].started, 0);
    ck_assert_int_eq(j[3].started, 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* --- groups: join and kill ----------------------------------------------- */

START_TEST(group_join)
{
    conc_reset();
    green_pool_t *g;
    ck_assert_int_eq(green_group_new(&g), 0);
    ck_assert_uint_eq(green_pool_free_slots(g), SIZE_MAX);
    ck_assert_int_eq(green_pool_join(g, 0), 0); /* empty */
    struct job j[5];
    green_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        j[i] = (struct job){.id = i, .delay = 0.01 * (i + 1)};
        ck_assert_int_eq(green_pool_spawn(g, i % 2 ? &t[i] : NULL, job_body,
                                          &j[i]), 0);
    }
    /* No limit: all of them at once. */
    ck_assert_uint_eq(green_pool_running(g), 5);
    ck_assert_uint_eq(green_pool_free_slots(g), SIZE_MAX);
    ck_assert_int_eq(green_pool_join(g, 0), -ETIMEDOUT);
    double t0 = green_test_now();
    ck_assert_int_eq(green_pool_join(g, 0.02), -ETIMEDOUT);
    ck_assert_double_ge(green_test_now() - t0, 0.015);
    ck_assert_int_eq(green_pool_join(g, slow(1.0)), 0);
    ck_assert_double_ge(green_test_now() - t0, 0.045);
    ck_assert_int_eq(conc.max, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(j[i].cleanup, 1);
        ck_assert_int_eq(j[i].wait_ret, 0);
    }
    ck_assert_uint_eq(green_pool_running(g), 0);
    ck_assert_int_eq(green_task_status(t[1]), GREEN_TASK_DONE);
    green_task_release(t[1]);
    green_task_release(t[3]);
    ck_assert_int_eq(green_pool_free(g), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(group_kill_structured)
{
    conc_reset();
    green_pool_t *g;
    ck_assert_int_eq(green_group_new(&g), 0);
    struct job j[7];
    green_task_t *t[7];
    for (int i = 0; i < 5; i++) {
        j[i] = (struct job){.id = i, .delay = GREEN_FOREVER};
        ck_assert_int_eq(green_pool_spawn(g, &t[i], job_body, &j[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(conc.cur, 5);
    /* Two more that have not started when the kill comes. */
    for (int i = 5; i < 7; i++) {
        j[i] = (struct job){.id = i, .delay = GREEN_FOREVER};
        ck_assert_int_eq(green_pool_spawn(g, &t[i], job_body, &j[i]), 0);
    }
    ck_assert_int_eq(green_pool_free(g), -EBUSY);
    double t0 = green_test_now();
    ck_assert_int_eq(green_pool_kill(g, GREEN_FOREVER), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    /* Every member finished its cleanup before the kill returned. */
    ck_assert_int_eq(conc.cur, 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(j[i].cleanup, 1);
        ck_assert_int_eq(j[i].wait_ret, -ECANCELED);
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_CANCELLED);
        green_task_release(t[i]);
    }
    for (int i = 5; i < 7; i++) {
        ck_assert_int_eq(j[i].started, 0);
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_CANCELLED);
        green_task_release(t[i]);
    }
    ck_assert_uint_eq(green_pool_running(g), 0);
    ck_assert_int_eq(green_pool_kill(g, 0), 0); /* nothing left */
    ck_assert_int_eq(green_pool_free(g), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(group_kill_detached_members)
{
    /* pool.h: "A pool tracks its members until they end, whether or not
     * the spawner kept their handles", and kill "kills every member".
     * Members spawned with out == NULL, started or not, must be killed
     * too. They wait on an event so that a failed kill can be cleaned up
     * before the asserts. */
    conc_reset();
    green_pool_t *g;
    green_event_t *go;
    ck_assert_int_eq(green_group_new(&g), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct job j[4];
    for (int i = 0; i < 4; i++) {
        j[i] = (struct job){.id = i, .go = go, .wait_ret = 1};
        ck_assert_int_eq(green_pool_spawn(g, NULL, job_body, &j[i]), 0);
        if (i == 2) {
            ck_assert_int_eq(green_sleep(0.01), 0); /* three started */
        }
    }
    int r = green_pool_kill(g, slow(0.5));
    int cur = conc.cur;
    int cleaned = j[0].cleanup + j[1].cleanup + j[2].cleanup;
    /* Clean up whatever the kill left. */
    ck_assert_int_eq(green_event_set(go), 0);
    ck_assert_int_eq(green_pool_join(g, slow(1.0)), 0);
    ck_assert_int_eq(green_pool_free(g), 0);
    ck_assert_int_eq(green_event_free(go), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(cur, 0);
    ck_assert_int_eq(cleaned, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(j[i].wait_ret, -ECANCELED);
    }
    ck_assert_int_eq(j[3].started, 0);
}
END_TEST

START_TEST(pool_kill_with_waiting_spawner)
{
    /* A pool of 1, full, with a spawner waiting: kill stops the member.
     * Whatever the spawner then does, kill returns with the pool empty
     * or the spawner's job running, never with a killed member left. */
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    struct job m = {.id = 0, .delay = GREEN_FOREVER};
    green_task_t *mt;
    ck_assert_int_eq(green_pool_spawn(p, &mt, job_body, &m), 0);
    int queued = 0;
    struct job j = {.id = 1, .delay = 0.02};
    struct spawner s = {.p = p, .job = &j, .queued = &queued, .ret = 1};
    green_task_t *st;
    ck_assert_int_eq(green_spawn(&st, spawner_body, &s), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_pool_kill(p, slow(1.0)), 0);
    ck_assert_int_eq(m.cleanup, 1);
    ck_assert_int_eq(m.wait_ret, -ECANCELED);
    ck_assert_int_eq(green_task_status(mt), GREEN_TASK_CANCELLED);
    green_task_release(mt);
    ck_assert_int_eq(green_join(st, slow(1.0), NULL), 0);
    green_task_release(st);
    if (s.ret == 0) {
        green_task_release(s.task);
    }
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(pool_member_killed_before_start_frees_slot)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    struct job j = {.id = 0, .delay = 1.0};
    green_task_t *t;
    ck_assert_int_eq(green_pool_spawn(p, &t, job_body, &j), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_uint_eq(green_pool_free_slots(p), 1);
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_int_eq(green_pool_join(p, 0), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    green_task_release(t);
    ck_assert_int_eq(j.started, 0);
    ck_assert_int_eq(green_pool_free(p), 0);
}
END_TEST

START_TEST(pool_free_busy)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    struct job j = {.id = 0, .delay = 0.02};
    ck_assert_int_eq(green_pool_spawn(p, NULL, job_body, &j), 0);
    ck_assert_int_eq(green_pool_free(p), -EBUSY);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_pool_free(p), -EBUSY); /* started, running */
    ck_assert_int_eq(green_pool_join(p, slow(1.0)), 0);
    ck_assert_int_eq(j.cleanup, 1);
    ck_assert_int_eq(green_pool_free(p), 0);
}
END_TEST

/* --- deadlock ------------------------------------------------------------- */

static void *sem_forever_body(void *arg)
{
    green_sem_acquire(arg, GREEN_FOREVER);
    return NULL;
}

static void pool_deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    green_pool_t *p;
    green_sem_t *s;
    if (green_pool_new(&p, 1) != 0 || green_sem_new(&s, 0) != 0) {
        _exit(100);
    }
    /* The only member waits forever; the spawner waits for its slot. */
    green_task_t *m;
    if (green_pool_spawn(p, &m, sem_forever_body, s) != 0 ||
        green_task_set_name(m, "pool-member-stuck") != 0) {
        _exit(100);
    }
    int r = green_pool_spawn(p, NULL, sem_forever_body, s);
    if (r != -EDEADLK) {
        _exit(-r & 0xff);
    }
    r = green_pool_join(p, GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(pool_deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(pool_deadlock_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "pool-member-stuck") != NULL,
                  "report does not name the member: %s", report);
    ck_assert_msg(strstr(report, "green_pool_spawn") != NULL,
                  "report does not show the spawner's wait: %s", report);
    ck_assert_msg(strstr(report, "green_pool_join") != NULL,
                  "report does not show the joiner's wait: %s", report);
}
END_TEST

/* --- bad input ------------------------------------------------------------ */

START_TEST(bad_input)
{
    green_pool_t *p;
    green_task_t *t = NULL;
    struct job j = {.delay = 0.01};
    void *args[1] = {&j};
    green_outcome_t out[1];
    green_pool_iter_t *it = (void *)1;
    ck_assert_int_eq(green_pool_new(NULL, 1), -EINVAL);
    ck_assert_int_eq(green_group_new(NULL), -EINVAL);
    ck_assert_int_eq(green_pool_free(NULL), -EINVAL);
    ck_assert_int_eq(green_pool_spawn(NULL, &t, job_body, &j), -EINVAL);
    ck_assert_int_eq(green_pool_join(NULL, 0), -EINVAL);
    ck_assert_int_eq(green_pool_kill(NULL, GREEN_FOREVER), -EINVAL);
    ck_assert_uint_eq(green_pool_running(NULL), 0);
    ck_assert_uint_eq(green_pool_free_slots(NULL), 0);
    ck_assert_int_eq(green_pool_map(NULL, job_body, args, 1, out), -EINVAL);
    ck_assert_int_eq(green_pool_imap_unordered(NULL, job_body, args, 1, &it),
                     -EINVAL);
    ck_assert_int_eq(green_pool_iter_next(NULL, NULL, NULL), -EINVAL);
    green_pool_iter_free(NULL);

    ck_assert_int_eq(green_pool_new(&p, 1), 0);
    ck_assert_int_eq(green_pool_spawn(p, &t, NULL, &j), -EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(green_pool_join(p, -1.0), -EINVAL);
    ck_assert_int_eq(green_pool_join(p, NAN), -EINVAL);
    ck_assert_int_eq(green_pool_map(p, NULL, args, 1, out), -EINVAL);
    ck_assert_int_eq(green_pool_map(p, job_body, NULL, 1, out), -EINVAL);
    ck_assert_int_eq(green_pool_map(p, job_body, args, 1, NULL), -EINVAL);
    ck_assert_int_eq(green_pool_imap_unordered(p, NULL, args, 1, &it),
                     -EINVAL);
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, NULL, 1, &it),
                     -EINVAL);
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, args, 1, NULL),
                     -EINVAL);
    ck_assert_ptr_eq(it, (void *)1);
    /* Nothing was spawned by any of that. */
    ck_assert_uint_eq(green_pool_running(p), 0);
    ck_assert_int_eq(j.started, 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
    ck_assert_int_eq(green_pool_free(p), 0);
}
END_TEST

START_TEST(kill_bad_timeout_kills_nothing)
{
    /* A call refused for a bad argument has no effect: green_pool_kill
     * with a negative or NaN timeout must not cancel the members. */
    conc_reset();
    green_pool_t *g;
    ck_assert_int_eq(green_group_new(&g), 0);
    struct job j = {.id = 0, .delay = 0.05};
    green_task_t *t; /* kept, so that a kill could reach it either way */
    ck_assert_int_eq(green_pool_spawn(g, &t, job_body, &j), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    int r1 = green_pool_kill(g, -1.0);
    int r2 = green_pool_kill(g, NAN);
    ck_assert_int_eq(green_pool_join(g, slow(1.0)), 0);
    ck_assert_int_eq(green_pool_free(g), 0);
    green_task_release(t);
    ck_assert_int_eq(r1, -EINVAL);
    ck_assert_int_eq(r2, -EINVAL);
    ck_assert_msg(j.wait_ret == 0, "the member was cancelled (%d)",
                  j.wait_ret);
}
END_TEST

/* A pool of the main thread used from another OS thread. */
struct foreign {
    green_pool_t *p;
    struct job *j;
    int r[7];
    green_pool_iter_t *it;
};

static void *foreign_calls(void *arg)
{
    struct foreign *f = arg;
    void *args[1] = {f->j};
    green_outcome_t out[1];
    green_task_t *t = NULL;
    f->r[0] = green_pool_spawn(f->p, &t, job_body, f->j);
    f->r[1] = green_pool_join(f->p, 0);
    f->r[2] = green_pool_kill(f->p, GREEN_FOREVER);
    f->r[3] = green_pool_free(f->p);
    f->r[4] = green_pool_map(f->p, job_body, args, 1, out);
    f->r[5] = green_pool_imap_unordered(f->p, job_body, args, 1, &f->it);
    f->r[6] = t != NULL;
    return NULL;
}

START_TEST(foreign_thread)
{
    conc_reset();
    struct job member = {.id = 0, .delay = 0.05};
    struct job other = {.id = 1, .delay = 0.01};
    struct foreign f = {.j = &other};
    ck_assert_int_eq(green_pool_new(&f.p, 2), 0);
    ck_assert_int_eq(green_pool_spawn(f.p, NULL, job_body, &member), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_ptr_null(green_test_in_thread(foreign_calls, &f));
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(f.r[i] == -EPERM, "call %d returned %d", i, f.r[i]);
    }
    ck_assert_int_eq(f.r[6], 0);
    ck_assert_ptr_null(f.it);
    /* Nothing was killed, spawned or freed. */
    ck_assert_uint_eq(green_pool_running(f.p), 1);
    ck_assert_int_eq(green_pool_join(f.p, slow(1.0)), 0);
    ck_assert_int_eq(member.wait_ret, 0);
    ck_assert_int_eq(other.started, 0);
    ck_assert_int_eq(green_pool_free(f.p), 0);
}
END_TEST

struct foreign_it {
    green_pool_iter_t *it;
    int r;
};

static void *foreign_iter_next(void *arg)
{
    struct foreign_it *f = arg;
    size_t idx;
    f->r = green_pool_iter_next(f->it, &idx, NULL);
    return NULL;
}

START_TEST(foreign_thread_iterator)
{
    conc_reset();
    green_pool_t *p;
    ck_assert_int_eq(green_pool_new(&p, 2), 0);
    struct job j[2] = {{.id = 0, .delay = 0.02}, {.id = 1, .delay = 0.04}};
    void *args[2] = {&j[0], &j[1]};
    green_pool_iter_t *it;
    ck_assert_int_eq(green_pool_imap_unordered(p, job_body, args, 2, &it), 0);
    struct foreign_it f = {.it = it, .r = 1};
    ck_assert_ptr_null(green_test_in_thread(foreign_iter_next, &f));
    ck_assert_int_eq(f.r, -EPERM);
    /* Untouched: both results still come, in order, on this thread. */
    size_t idx = 99;
    ck_assert_int_eq(green_pool_iter_next(it, &idx, NULL), 0);
    ck_assert_uint_eq(idx, 0);
    ck_assert_int_eq(green_pool_iter_next(it, &idx, NULL), 0);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(green_pool_iter_next(it, &idx, NULL), -ENOENT);
    green_pool_iter_free(it);
    ck_assert_int_eq(green_pool_free(p), 0);
}
END_TEST

/* --- adversarial ---------------------------------------------------------- */

static unsigned rnd(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) & 0x7fff;
}

/* Spawners feed a pool of 3 with short jobs while the root kills some
 * spawners (some of them waiting for a slot) and, once, the whole pool. */
#define PST_SPAWNERS 100
#define PST_EACH 10
static struct job pst_jobs[PST_SPAWNERS * PST_EACH];
static struct {
    green_pool_t *p;
    int spawned, cancels, bad;
} pst;

static void *pstress_spawner(void *arg)
{
    size_t me = (size_t)(uintptr_t)arg;
    unsigned x = (unsigned)me * 2654435761u + 9u;
    for (size_t i = 0; i < PST_EACH; i++) {
        struct job *j = &pst_jobs[me * PST_EACH + i];
        *j = (struct job){.id = (int)(me * PST_EACH + i), .p = pst.p,
                          .delay = (rnd(&x) % 3) * 0.0005};
        int r = green_pool_spawn(pst.p, NULL, job_body, j);
        if (r == -ECANCELED) {
            pst.cancels++;
            return NULL;
        }
        if (r != 0) {
            pst.bad++;
            return NULL;
        }
        pst.spawned++;
        if (green_sleep((rnd(&x) % 2) * 0.0005) == -ECANCELED) {
            pst.cancels++;
            return NULL;
        }
    }
    return NULL;
}

START_TEST(pool_stress_conserves_slots)
{
    conc_reset();
    memset(&pst, 0, sizeof pst);
    memset(pst_jobs, 0, sizeof pst_jobs);
    ck_assert_int_eq(green_pool_new(&pst.p, 3), 0);
    size_t n = green_test_valgrind() ? 20 : PST_SPAWNERS;
    green_task_t *t[PST_SPAWNERS];
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], pstress_spawner,
                                     (void *)(uintptr_t)i), 0);
    }
    unsigned x = 3;
    for (size_t k = 0; k < n / 5; k++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
        green_kill(t[rnd(&x) % n]);
        if (k == n / 10) {
            ck_assert_int_eq(green_pool_kill(pst.p, slow(2.0)), 0);
            ck_assert_int_eq(conc.cur, 0);
        }
    }
    ck_assert_int_eq(green_joinall(t, n, slow(10.0)), 0);
    ck_assert_int_eq(green_pool_join(pst.p, slow(5.0)), 0);
    for (size_t i = 0; i < n; i++) {
        green_task_release(t[i]);
    }
    ck_assert_int_eq(pst.bad, 0);
    ck_assert_int_gt(pst.spawned, 0);
    ck_assert_int_gt(pst.cancels, 0);
    ck_assert_int_le(conc.max, 3);
    ck_assert_uint_le(conc.max_running, 3);
    ck_assert_int_eq(conc.cur, 0);
    int started = 0;
    for (size_t i = 0; i < n * PST_EACH; i++) {
        ck_assert_int_eq(pst_jobs[i].cleanup, pst_jobs[i].started);
        started += pst_jobs[i].started;
    }
    ck_assert_int_eq(started, conc.ran);
    ck_assert_int_le(conc.ran, pst.spawned);
    ck_assert_uint_eq(green_pool_running(pst.p), 0);
    ck_assert_uint_eq(green_pool_free_slots(pst.p), 3);
    ck_assert_int_eq(green_pool_free(pst.p), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* --- suite ---------------------------------------------------------------- */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_pool_suite(void)
{
    Suite *s = suite_create("pool");

    TCase *tc = tcase("limit", 10);
    tcase_add_test(tc, pool_limits_concurrency);
    tcase_add_test(tc, pool_spawners_fifo);
    tcase_add_test(tc, pool_spawner_killed_while_waiting);
    tcase_add_test(tc, pool_spawner_killed_then_slot_freed);
    tcase_add_test(tc, pool_member_killed_before_start_frees_slot);
    suite_add_tcase(s, tc);

    tc = tcase("map", 10);
    tcase_add_test(tc, pool_map_outcomes_in_order);
    tcase_add_test(tc, pool_map_caller_killed);
    tcase_add_test(tc, imap_unordered_finish_order);
    tcase_add_test(tc, imap_unordered_limited);
    tcase_add_test(tc, imap_free_midway);
    tcase_add_test(tc, imap_free_in_killed_caller);
    suite_add_tcase(s, tc);

    tc = tcase("group", 10);
    tcase_add_test(tc, group_join);
    tcase_add_test(tc, group_kill_structured);
    tcase_add_test(tc, group_kill_detached_members);
    tcase_add_test(tc, pool_kill_with_waiting_spawner);
    tcase_add_test(tc, pool_free_busy);
    tcase_add_test(tc, pool_deadlock_reported);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 10);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, kill_bad_timeout_kills_nothing);
    tcase_add_test(tc, foreign_thread);
    tcase_add_test(tc, foreign_thread_iterator);
    suite_add_tcase(s, tc);

    tc = tcase("adversarial", 20);
    tcase_add_test(tc, pool_stress_conserves_slots);
    suite_add_tcase(s, tc);

    return s;
}
