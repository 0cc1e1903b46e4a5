/* SPDX-License-Identifier: MIT */
/* The "greenlet" suite: include/green/greenlet.h against its contract, which
 * is Python's greenlet semantics in C.
 *
 * Greenlet bodies only record what they see into globals; the assertions
 * run on the root greenlet afterwards. A failed assertion inside a greenlet
 * would, under CK_FORK=no, longjmp from a greenlet stack onto the root's and
 * leave the library believing the greenlet still runs. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "green/greenlet.h"
#include "internal.h"
#include "stack.h"

#include "helpers.h"
#include "suites.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define SMALL_STACK (16 * KIB)

#define I2P(i) ((void *)(intptr_t)(i))
#define P2I(p) ((intptr_t)(p))

/* Distinct tokens to pass as switch values. */
static char tok_a, tok_b, tok_c, tok_d;

/* An order log the greenlets append to. */
static int order[32];
static int norder;

static void rec(int step)
{
    if (norder < (int)(sizeof order / sizeof order[0])) {
        order[norder] = step;
    }
    norder++;
}

static void rec_reset(void)
{
    norder = 0;
    memset(order, 0, sizeof order);
}

static greenlet_t *new_greenlet(greenlet_run_t run, greenlet_t *parent,
                                size_t stack_size)
{
    greenlet_t *g = NULL;
    int rc = greenlet_new(&g, run, parent, stack_size);
    ck_assert_msg(rc == 0, "greenlet_new: %d (%s)", rc, strerror(-rc));
    ck_assert_ptr_nonnull(g);
    return g;
}

static void *return_arg(void *arg)
{
    return arg;
}

/* Switches back to the parent once, then returns what it was resumed with. */
static void *bounce_once(void *arg)
{
    void *r = NULL;
    greenlet_switch(greenlet_parent(greenlet_current()), arg, &r);
    return r;
}

/* --- switch: values, order, parents -------------------------------------- */

static greenlet_t *pp1, *pp2;
static int pp_rc[2];

static void *pp_run1(void *arg)
{
    rec(1);
    pp_rc[0] = greenlet_switch(pp2, NULL, NULL);
    rec(2);
    return NULL;
}

static void *pp_run2(void *arg)
{
    rec(3);
    pp_rc[1] = greenlet_switch(pp1, NULL, NULL);
    rec(4);
    return NULL;
}

/* Python's classic: test1 prints 12, switches to test2 which prints 56 and
 * switches back; test1 prints 34 and ends, so control goes to the parent;
 * only a later switch runs the rest of test2. */
START_TEST(test_pingpong_order)
{
    rec_reset();
    pp1 = new_greenlet(pp_run1, NULL, 0);
    pp2 = new_greenlet(pp_run2, NULL, 0);
    ck_assert_int_eq(greenlet_switch(pp1, NULL, NULL), 0);
    ck_assert_int_eq(norder, 3);
    ck_assert(greenlet_dead(pp1));
    ck_assert(!greenlet_dead(pp2));
    ck_assert_int_eq(greenlet_switch(pp2, NULL, NULL), 0);
    ck_assert_int_eq(norder, 4);
    static const int want[] = {1, 3, 2, 4};
    ck_assert_mem_eq(order, want, sizeof want);
    ck_assert_int_eq(pp_rc[0], 0);
    ck_assert_int_eq(pp_rc[1], 0);
    ck_assert(greenlet_dead(pp2));
    ck_assert_int_eq(greenlet_free(pp1), 0);
    ck_assert_int_eq(greenlet_free(pp2), 0);
}
END_TEST

static void *vb_arg, *vb_resumed;
static int vb_rc;

static void *vb_run(void *arg)
{
    vb_arg = arg;
    vb_rc = greenlet_switch(greenlet_parent(greenlet_current()), &tok_b,
                            &vb_resumed);
    return &tok_d;
}

START_TEST(test_values_both_ways)
{
    vb_arg = vb_resumed = NULL;
    vb_rc = -1;
    greenlet_t *g = new_greenlet(vb_run, NULL, 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(g, &tok_a, &r), 0);
    ck_assert_ptr_eq(vb_arg, &tok_a);       /* run's arg: the first value */
    ck_assert_ptr_eq(r, &tok_b);            /* g's switch back */
    ck_assert_ptr_null(greenlet_result(g)); /* not dead yet */
    ck_assert_int_eq(greenlet_switch(g, &tok_c, &r), 0);
    ck_assert_int_eq(vb_rc, 0);
    ck_assert_ptr_eq(vb_resumed, &tok_c);   /* g's pending switch */
    ck_assert_ptr_eq(r, &tok_d);            /* run's return value */
    ck_assert(greenlet_dead(g));
    ck_assert_ptr_eq(greenlet_result(g), &tok_d);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* result may be NULL: the value is then simply dropped. */
START_TEST(test_null_result_pointer)
{
    greenlet_t *g = new_greenlet(bounce_once, NULL, 0);
    ck_assert_int_eq(greenlet_switch(g, &tok_a, NULL), 0);
    ck_assert_int_eq(greenlet_switch(g, &tok_b, NULL), 0);
    ck_assert(greenlet_dead(g));
    ck_assert_ptr_eq(greenlet_result(g), &tok_b);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* P waits in a switch to the root; C, whose parent is P, returns: the value
 * goes to P's pending switch, not to whoever switched to C. */
static void *pend_got;

static void *pend_parent_run(void *arg)
{
    greenlet_switch(greenlet_parent(greenlet_current()), NULL, &pend_got);
    return I2P(P2I(pend_got) + 1);
}

static void *times_six(void *arg)
{
    return I2P(P2I(arg) * 6);
}

START_TEST(test_return_to_pending_parent)
{
    pend_got = NULL;
    greenlet_t *p = new_greenlet(pend_parent_run, NULL, 0);
    greenlet_t *c = new_greenlet(times_six, p, 0);
    ck_assert_ptr_eq(greenlet_parent(c), p);
    ck_assert_int_eq(greenlet_switch(p, NULL, NULL), 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(c, I2P(7), &r), 0);
    ck_assert_int_eq(P2I(pend_got), 42);
    ck_assert_int_eq(P2I(r), 43); /* P's own return, to its parent (us) */
    ck_assert(greenlet_dead(c));
    ck_assert(greenlet_dead(p));
    ck_assert_int_eq(greenlet_free(c), 0);
    ck_assert_int_eq(greenlet_free(p), 0);
}
END_TEST

/* A parent that never started is started by its child's return value. */
static void *unstarted_parent_arg;

static void *record_arg_plus_one(void *arg)
{
    unstarted_parent_arg = arg;
    return I2P(P2I(arg) + 1);
}

START_TEST(test_return_starts_unstarted_parent)
{
    unstarted_parent_arg = NULL;
    greenlet_t *p = new_greenlet(record_arg_plus_one, NULL, 0);
    greenlet_t *c = new_greenlet(return_arg, p, 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(c, I2P(5), &r), 0);
    ck_assert_int_eq(P2I(unstarted_parent_arg), 5);
    ck_assert_int_eq(P2I(r), 6);
    ck_assert(greenlet_dead(p));
    ck_assert(greenlet_dead(c));
    ck_assert_int_eq(greenlet_free(c), 0);
    ck_assert_int_eq(greenlet_free(p), 0);
}
END_TEST

/* NULL as parent means the creator, also when the creator is no root. */
static greenlet_t *creator_child, *creator_child_parent;
static void *creator_child_ret;

static void *creator_run(void *arg)
{
    greenlet_new(&creator_child, return_arg, NULL, SMALL_STACK);
    creator_child_parent = greenlet_parent(creator_child);
    greenlet_switch(creator_child, I2P(99), &creator_child_ret);
    return NULL;
}

START_TEST(test_parent_is_creator)
{
    greenlet_t *root = greenlet_current();
    greenlet_t *a = new_greenlet(creator_run, NULL, 0);
    ck_assert_ptr_eq(greenlet_parent(a), root);

    creator_child = creator_child_parent = NULL;
    creator_child_ret = NULL;
    ck_assert_int_eq(greenlet_switch(a, NULL, NULL), 0);
    ck_assert_ptr_nonnull(creator_child);
    ck_assert_ptr_eq(creator_child_parent, a);
    ck_assert_int_eq(P2I(creator_child_ret), 99); /* went to a, not to us */
    ck_assert(greenlet_dead(a));
    ck_assert_int_eq(greenlet_free(creator_child), 0);
    ck_assert_int_eq(greenlet_free(a), 0);
}
END_TEST

/* A greenlet that keeps bouncing to the root, logging each value it gets. */
static void *bouncer_run(void *arg)
{
    for (;;) {
        void *r = NULL;
        greenlet_switch(greenlet_parent(greenlet_current()), NULL, &r);
        rec((int)P2I(r));
    }
    return NULL;
}

START_TEST(test_dead_parent_skipped)
{
    /* Chain: root <- q <- p <- c; q and p die first, so c's value goes to
     * the root. */
    greenlet_t *q = new_greenlet(return_arg, NULL, 0);
    greenlet_t *p = new_greenlet(return_arg, q, 0);
    greenlet_t *c = new_greenlet(return_arg, p, 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(p, I2P(1), &r), 0);
    ck_assert_int_eq(P2I(r), 1); /* p -> q (starts, returns 1) -> root */
    ck_assert(greenlet_dead(p));
    ck_assert(greenlet_dead(q));
    ck_assert_int_eq(greenlet_switch(c, I2P(9), &r), 0);
    ck_assert_int_eq(P2I(r), 9);
    ck_assert(greenlet_dead(c));
    ck_assert_int_eq(greenlet_free(c), 0);
    ck_assert_int_eq(greenlet_free(p), 0);
    ck_assert_int_eq(greenlet_free(q), 0);
}
END_TEST

START_TEST(test_dead_parent_skipped_to_suspended)
{
    /* root <- g (suspended, logging) <- p <- c: p dies first, its value goes
     * to g; then c's goes past dead p to g as well. */
    rec_reset();
    greenlet_t *g = new_greenlet(bouncer_run, NULL, 0);
    greenlet_t *p = new_greenlet(return_arg, g, 0);
    greenlet_t *c = new_greenlet(return_arg, p, 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(greenlet_switch(p, I2P(11), NULL), 0);
    ck_assert(greenlet_dead(p));
    ck_assert_int_eq(greenlet_switch(c, I2P(22), NULL), 0);
    ck_assert(greenlet_dead(c));
    ck_assert_int_eq(norder, 2);
    ck_assert_int_eq(order[0], 11);
    ck_assert_int_eq(order[1], 22);
    ck_assert(!greenlet_dead(g));
    ck_assert_int_eq(greenlet_free(c), 0);
    ck_assert_int_eq(greenlet_free(p), 0);
    ck_assert_int_eq(greenlet_free(g), 0); /* suspended: discarded */
}
END_TEST

static greenlet_t *sp_child;

static void *sp_parent_run(void *arg)
{
    void *r = NULL;
    greenlet_switch(sp_child, NULL, &r);
    return I2P(P2I(r) + 1);
}

START_TEST(test_set_parent)
{
    greenlet_t *root = greenlet_current();
    greenlet_t *a = new_greenlet(sp_parent_run, NULL, 0);
    greenlet_t *b = new_greenlet(times_six, NULL, 0);
    greenlet_t *c = new_greenlet(return_arg, b, 0);

    ck_assert_int_eq(greenlet_set_parent(b, a), 0);
    ck_assert_ptr_eq(greenlet_parent(b), a);

    /* a <- b <- c: every way back to a is a cycle. */
    ck_assert_int_eq(greenlet_set_parent(a, b), -EINVAL);
    ck_assert_int_eq(greenlet_set_parent(a, c), -EINVAL);
    ck_assert_int_eq(greenlet_set_parent(a, a), -EINVAL);
    ck_assert_ptr_eq(greenlet_parent(a), root);
    ck_assert_int_eq(greenlet_set_parent(root, a), -EINVAL);
    ck_assert_ptr_null(greenlet_parent(root));
    ck_assert_int_eq(greenlet_set_parent(NULL, a), -EINVAL);
    ck_assert_int_eq(greenlet_set_parent(a, NULL), -EINVAL);
    ck_assert_ptr_eq(greenlet_parent(a), root);

    /* The new parent is where b's value goes: b returns 6 * 0 to a's
     * pending switch, and a returns that plus one to us. */
    sp_child = b;
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(a, NULL, &r), 0);
    ck_assert_int_eq(P2I(r), 1);
    ck_assert(greenlet_dead(a));
    ck_assert(greenlet_dead(b));

    ck_assert_int_eq(greenlet_free(c), 0);
    ck_assert_int_eq(greenlet_free(b), 0);
    ck_assert_int_eq(greenlet_free(a), 0);
}
END_TEST

static int flags_started_inside, flags_dead_inside;

static void *flags_run(void *arg)
{
    greenlet_t *self = greenlet_current();
    flags_started_inside = greenlet_started(self);
    flags_dead_inside = greenlet_dead(self);
    greenlet_switch(greenlet_parent(self), NULL, NULL);
    return &tok_c;
}

START_TEST(test_started_dead_flags)
{
    greenlet_t *g = new_greenlet(flags_run, NULL, 0);
    ck_assert(!greenlet_started(g));
    ck_assert(!greenlet_dead(g));
    ck_assert_ptr_null(greenlet_result(g));

    flags_started_inside = flags_dead_inside = -1;
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(flags_started_inside, 1);
    ck_assert_int_eq(flags_dead_inside, 0);
    ck_assert(greenlet_started(g));
    ck_assert(!greenlet_dead(g));
    ck_assert_ptr_null(greenlet_result(g));

    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert(greenlet_started(g));
    ck_assert(greenlet_dead(g));
    ck_assert_ptr_eq(greenlet_result(g), &tok_c);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

static greenlet_t *cur_inside, *cur_inside_nested, *cur_nested_g;

static void *cur_nested_run(void *arg)
{
    cur_inside_nested = greenlet_current();
    return NULL;
}

static void *cur_run(void *arg)
{
    cur_inside = greenlet_current();
    greenlet_switch(cur_nested_g, NULL, NULL);
    /* Back from the nested greenlet: current is us again. */
    return greenlet_current();
}

START_TEST(test_current)
{
    greenlet_t *root = greenlet_current();
    ck_assert_ptr_nonnull(root);
    ck_assert_ptr_eq(greenlet_current(), root);

    greenlet_t *g = new_greenlet(cur_run, NULL, 0);
    cur_nested_g = new_greenlet(cur_nested_run, g, 0);
    cur_inside = cur_inside_nested = NULL;
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), 0);
    ck_assert_ptr_eq(cur_inside, g);
    ck_assert_ptr_eq(cur_inside_nested, cur_nested_g);
    ck_assert_ptr_eq(r, g);
    ck_assert_ptr_eq(greenlet_current(), root);
    ck_assert_int_eq(greenlet_free(cur_nested_g), 0);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

static int root_free_rc;

static void *root_free_run(void *arg)
{
    root_free_rc = greenlet_free(greenlet_parent(greenlet_current()));
    return NULL;
}

START_TEST(test_root)
{
    greenlet_t *root = greenlet_current();
    ck_assert_ptr_null(greenlet_parent(root));
    ck_assert(greenlet_started(root));
    ck_assert(!greenlet_dead(root));
    ck_assert_ptr_null(greenlet_result(root));
    ck_assert_uint_ge(greenlet_id(root), 1);

    /* Running, the root is both a root and busy; either answer is a no. */
    int rc = greenlet_free(root);
    ck_assert_msg(rc == -EINVAL || rc == -EBUSY, "greenlet_free(root): %d",
                  rc);
    /* Suspended, it is only a root. */
    root_free_rc = 1;
    greenlet_t *g = new_greenlet(root_free_run, NULL, 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(root_free_rc, -EINVAL);

    /* Still fully alive after all that. */
    ck_assert_ptr_eq(greenlet_current(), root);
    ck_assert(!greenlet_dead(root));
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

static int self_rc;
static void *self_r;

static void *self_run(void *arg)
{
    self_rc = greenlet_switch(greenlet_current(), &tok_b, &self_r);
    return &tok_c;
}

START_TEST(test_switch_to_self)
{
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(greenlet_current(), &tok_a, &r), 0);
    ck_assert_ptr_eq(r, &tok_a);

    self_rc = -1;
    self_r = NULL;
    greenlet_t *g = new_greenlet(self_run, NULL, 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), 0);
    ck_assert_int_eq(self_rc, 0);
    ck_assert_ptr_eq(self_r, &tok_b);
    ck_assert_ptr_eq(r, &tok_c);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* --- throw --------------------------------------------------------------- */

static int th_rc[2];
static void *th_val[2];

static void *throw_target(void *arg)
{
    greenlet_t *parent = greenlet_parent(greenlet_current());
    th_rc[0] = greenlet_switch(parent, I2P(1), &th_val[0]);
    /* It goes on after the error, like code catching an exception. */
    th_rc[1] = greenlet_switch(parent, I2P(2), &th_val[1]);
    return I2P(3);
}

START_TEST(test_throw_suspended)
{
    memset(th_rc, 0x7f, sizeof th_rc);
    greenlet_t *g = new_greenlet(throw_target, NULL, 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), 0);
    ck_assert_int_eq(P2I(r), 1);

    ck_assert_int_eq(greenlet_throw(g, -ECONNRESET, &r), 0);
    ck_assert_int_eq(th_rc[0], -ECONNRESET);
    ck_assert_int_eq(P2I(r), 2);
    ck_assert(!greenlet_dead(g));

    ck_assert_int_eq(greenlet_switch(g, &tok_a, &r), 0);
    ck_assert_int_eq(th_rc[1], 0);
    ck_assert_ptr_eq(th_val[1], &tok_a);
    ck_assert_int_eq(P2I(r), 3);
    ck_assert(greenlet_dead(g));
    ck_assert_int_eq(P2I(greenlet_result(g)), 3);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

static int unstarted_ran;

static void *mark_ran(void *arg)
{
    unstarted_ran = 1;
    return NULL;
}

START_TEST(test_throw_unstarted)
{
    unstarted_ran = 0;
    size_t base = green__stack_in_use();
    greenlet_t *g = new_greenlet(mark_ran, NULL, 0);
    void *r = &tok_a;
    ck_assert_int_eq(greenlet_throw(g, -ETIMEDOUT, &r), -ETIMEDOUT);
    ck_assert_int_eq(unstarted_ran, 0);
    ck_assert(greenlet_dead(g));
    ck_assert_ptr_null(greenlet_result(g));
    ck_assert_uint_eq(green__stack_in_use(), base); /* never had a stack */

    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), -ESRCH);
    ck_assert_int_eq(greenlet_throw(g, -EIO, NULL), -ESRCH);
    ck_assert_int_eq(unstarted_ran, 0);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

START_TEST(test_throw_bad_err)
{
    unstarted_ran = 0;
    greenlet_t *g = new_greenlet(mark_ran, NULL, 0);
    ck_assert_int_eq(greenlet_throw(g, 0, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_throw(g, 1, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_throw(g, EIO, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_throw(NULL, -EIO, NULL), -EINVAL);
    /* Rejected throws leave g untouched. */
    ck_assert(!greenlet_started(g));
    ck_assert(!greenlet_dead(g));
    ck_assert_int_eq(unstarted_ran, 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(unstarted_ran, 1);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* A greenlet throws into its parent, the root, whose pending switch
 * returns the error; the root answers with a value. */
static int up_rc;
static void *up_val;

static void *throw_up_run(void *arg)
{
    up_rc = greenlet_throw(greenlet_parent(greenlet_current()), -EPIPE,
                           &up_val);
    return NULL;
}

START_TEST(test_throw_into_root)
{
    up_rc = -1;
    up_val = NULL;
    greenlet_t *g = new_greenlet(throw_up_run, NULL, 0);
    void *r = &tok_a;
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), -EPIPE);
    ck_assert(!greenlet_dead(g));
    ck_assert_int_eq(greenlet_switch(g, &tok_b, &r), 0);
    ck_assert_int_eq(up_rc, 0);
    ck_assert_ptr_eq(up_val, &tok_b);
    ck_assert(greenlet_dead(g));
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* --- errno --------------------------------------------------------------- */

#define ERRNO_ROUNDS 100

static greenlet_t *en_a, *en_b;
static int en_mismatch[3];

/* Each party stores its own value (changing every round, so a stale copy
 * shows) and checks it after being resumed. */
static void *en_run_a(void *arg)
{
    for (int r = 0; r < ERRNO_ROUNDS; r++) {
        errno = 1000 + r;
        greenlet_switch(en_b, NULL, NULL);
        en_mismatch[0] += errno != 1000 + r;
    }
    return NULL;
}

static void *en_run_b(void *arg)
{
    for (int r = 0; r < ERRNO_ROUNDS; r++) {
        errno = 2000 + r;
        greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
        en_mismatch[1] += errno != 2000 + r;
    }
    return NULL;
}

START_TEST(test_errno_per_greenlet)
{
    memset(en_mismatch, 0, sizeof en_mismatch);
    en_a = new_greenlet(en_run_a, NULL, 0);
    en_b = new_greenlet(en_run_b, NULL, 0);
    for (int r = 0; r < ERRNO_ROUNDS; r++) {
        errno = 3000 + r;
        greenlet_switch(en_a, NULL, NULL);
        en_mismatch[2] += errno != 3000 + r;
    }
    errno = EIO;
    ck_assert_int_eq(greenlet_switch(en_a, NULL, NULL), 0); /* a ends */
    ck_assert_int_eq(errno, EIO);
    errno = EPIPE;
    ck_assert_int_eq(greenlet_switch(en_b, NULL, NULL), 0); /* b ends */
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(en_mismatch[0], 0);
    ck_assert_int_eq(en_mismatch[1], 0);
    ck_assert_int_eq(en_mismatch[2], 0);
    ck_assert(greenlet_dead(en_a));
    ck_assert(greenlet_dead(en_b));
    ck_assert_int_eq(greenlet_free(en_a), 0);
    ck_assert_int_eq(greenlet_free(en_b), 0);
}
END_TEST

/* "Nothing here sets errno": failures are return values only. */
START_TEST(test_errors_leave_errno)
{
    greenlet_t *dead = new_greenlet(return_arg, NULL, 0);
    ck_assert_int_eq(greenlet_switch(dead, NULL, NULL), 0);
    greenlet_t *g = NULL;

    errno = 4242;
    ck_assert_int_eq(greenlet_new(NULL, return_arg, NULL, 0), -EINVAL);
    ck_assert_int_eq(greenlet_new(&g, return_arg, NULL, SIZE_MAX), -EINVAL);
    ck_assert_int_eq(greenlet_switch(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_switch(dead, NULL, NULL), -ESRCH);
    ck_assert_int_eq(greenlet_throw(dead, -EIO, NULL), -ESRCH);
    ck_assert_int_eq(greenlet_set_parent(NULL, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_free(NULL), -EINVAL);
    ck_assert_int_eq(errno, 4242);
    ck_assert_int_eq(greenlet_free(dead), 0);
}
END_TEST

/* The first call of a process sets the library up (thread state, the
 * GREEN_STACK_SIZE parse); that must not leak into errno either. Run in a
 * child so the set-up is really the first. */
static void first_use_child(void *arg)
{
    setenv("GREEN_STACK_SIZE", (const char *)arg, 1);
    greenlet_t *g = NULL;
    errno = 4242;
    int rc = greenlet_new(&g, return_arg, NULL, 0);
    int e_new = errno;
    errno = 4343;
    int rc_sw = greenlet_switch(g, NULL, NULL);
    int e_switch = errno;
    errno = 4444;
    int rc_free = greenlet_free(g);
    int e_free = errno;
    fprintf(stderr, "RESULT %d %d %d %d %d %d\n", rc, e_new, rc_sw, e_switch,
            rc_free, e_free);
}

START_TEST(test_first_use_keeps_errno)
{
    if (!green_test_forking()) {
        return; /* the library is set up already in this process */
    }
    static const char *const values[] = {"256k", "abc"};
    char out[4096];
    int status = green_test_fork_capture(first_use_child, (void *)values[_i],
                                         out, sizeof out);
    char desc[64];
    const char *res = strstr(out, "RESULT ");
    int v[6];
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                      res != NULL &&
                      sscanf(res, "RESULT %d %d %d %d %d %d", &v[0], &v[1],
                             &v[2], &v[3], &v[4], &v[5]) == 6,
                  "child: %s; stderr: %s",
                  green_test_describe_status(status, desc, sizeof desc), out);
    ck_assert_int_eq(v[0], 0);
    ck_assert_int_eq(v[2], 0);
    ck_assert_int_eq(v[4], 0);
    ck_assert_msg(v[1] == 4242,
                  "GREEN_STACK_SIZE=%s: the first greenlet_new() changed "
                  "errno from 4242 to %d", values[_i], v[1]);
    ck_assert_int_eq(v[3], 4343);
    ck_assert_int_eq(v[5], 4444);
}
END_TEST

/* --- bad input ----------------------------------------------------------- */

START_TEST(test_null_everywhere)
{
    greenlet_t *g = NULL;
    ck_assert_int_eq(greenlet_new(NULL, return_arg, NULL, 0), -EINVAL);
    ck_assert_int_eq(greenlet_new(&g, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(greenlet_switch(NULL, &tok_a, NULL), -EINVAL);
    ck_assert_int_eq(greenlet_throw(NULL, -EIO, NULL), -EINVAL);
    ck_assert_ptr_null(greenlet_parent(NULL));
    ck_assert_int_eq(greenlet_set_parent(NULL, greenlet_current()), -EINVAL);
    ck_assert_int_eq(greenlet_set_name(NULL, "x"), -EINVAL);
    ck_assert_uint_eq(greenlet_id(NULL), 0);
    ck_assert_int_eq(greenlet_free(NULL), -EINVAL);
}
END_TEST

START_TEST(test_switch_dead)
{
    greenlet_t *g = new_greenlet(return_arg, NULL, 0);
    ck_assert_int_eq(greenlet_switch(g, &tok_a, NULL), 0);
    ck_assert(greenlet_dead(g));
    void *r = &tok_b;
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), -ESRCH);
    ck_assert_int_eq(greenlet_throw(g, -EIO, &r), -ESRCH);
    ck_assert_ptr_eq(greenlet_result(g), &tok_a); /* unchanged */
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

static int free_self_rc;

static void *free_self_run(void *arg)
{
    free_self_rc = greenlet_free(greenlet_current());
    return &tok_d;
}

START_TEST(test_free_running)
{
    free_self_rc = 1;
    greenlet_t *g = new_greenlet(free_self_run, NULL, 0);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(g, NULL, &r), 0);
    ck_assert_int_eq(free_self_rc, -EBUSY);
    ck_assert_ptr_eq(r, &tok_d); /* and it lived on to return */
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* The header does not say what freeing the parent of a live greenlet does.
 * Either answer is safe, provided it is consistent: refused (-EBUSY) with
 * the parent still intact, or done with the child re-parented to a living
 * ancestor. What must not happen is a child pointing at freed memory. */
START_TEST(test_free_parent_of_live_child)
{
    greenlet_t *root = greenlet_current();
    greenlet_t *p = new_greenlet(return_arg, NULL, 0);
    greenlet_t *c = new_greenlet(return_arg, p, 0);
    int rc = greenlet_free(p);
    ck_assert_msg(rc == 0 || rc == -EBUSY, "greenlet_free(parent): %d", rc);
    void *r = NULL;
    if (rc == 0) {
        ck_assert_ptr_eq(greenlet_parent(c), root);
        ck_assert_int_eq(greenlet_switch(c, I2P(5), &r), 0);
        ck_assert_int_eq(P2I(r), 5);
    } else {
        ck_assert_ptr_eq(greenlet_parent(c), p);
        ck_assert(!greenlet_started(p));
        ck_assert_int_eq(greenlet_switch(c, I2P(5), &r), 0);
        ck_assert_int_eq(P2I(r), 5); /* c -> p (started by it) -> root */
        ck_assert(greenlet_dead(p));
        ck_assert_int_eq(greenlet_free(c), 0);
        ck_assert_int_eq(greenlet_free(p), 0); /* no live child now */
        return;
    }
    ck_assert_int_eq(greenlet_free(c), 0);
}
END_TEST

START_TEST(test_stack_size_arg)
{
    greenlet_t *g = NULL;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_int_eq(greenlet_new(&g, return_arg, NULL, GREEN__STACK_MAX + 1),
                     -EINVAL);
    ck_assert_int_eq(greenlet_new(&g, return_arg, NULL, 2 * GREEN__STACK_MAX),
                     -EINVAL);
    ck_assert_int_eq(greenlet_new(&g, return_arg, NULL, SIZE_MAX), -EINVAL);

    static const struct {
        size_t ask, want;
    } sizes[] = {
        {GREEN__STACK_MAX, GREEN__STACK_MAX},
        {1, 16 * KIB},
        {20000, 20480},
        {64 * KIB, 64 * KIB},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        g = new_greenlet(return_arg, NULL, sizes[i].ask);
        size_t want = (sizes[i].want + pg - 1) / pg * pg;
        ck_assert_uint_eq(greenlet_stack_size(g), want);
        ck_assert_int_eq(greenlet_free(g), 0);
    }
    g = new_greenlet(return_arg, NULL, 0);
    ck_assert_uint_eq(greenlet_stack_size(g), green__stack_default_size());
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

/* Greenlets of another OS thread: visible, never usable from here. */
struct foreign {
    sem_t ready, done;
    greenlet_t *fresh;      /* unstarted */
    greenlet_t *suspended;  /* started, waiting in a switch */
    greenlet_t *root;       /* that thread's root */
    greenlet_t *fresh_parent;
    int resumed;            /* times `suspended` was resumed */
    int free_rc[2];         /* its own frees, at the end */
};

static void *foreign_suspended_run(void *arg)
{
    struct foreign *f = arg;
    for (;;) {
        greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
        f->resumed++;
    }
    return NULL;
}

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->root = greenlet_current();
    greenlet_new(&f->fresh, return_arg, NULL, SMALL_STACK);
    greenlet_new(&f->suspended, foreign_suspended_run, NULL, SMALL_STACK);
    greenlet_switch(f->suspended, f, NULL);
    f->fresh_parent = greenlet_parent(f->fresh);
    sem_post(&f->ready);
    sem_wait(&f->done);
    f->free_rc[0] = greenlet_free(f->fresh);
    f->free_rc[1] = greenlet_free(f->suspended);
    return NULL;
}

START_TEST(test_other_thread)
{
    struct foreign f;
    memset(&f, 0, sizeof f);
    sem_init(&f.ready, 0, 0);
    sem_init(&f.done, 0, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, foreign_thread, &f), 0);
    sem_wait(&f.ready);

    greenlet_t *root = greenlet_current();
    ck_assert_ptr_nonnull(f.root);
    ck_assert_ptr_ne(f.root, root); /* each thread has its own root */
    ck_assert_ptr_eq(f.fresh_parent, f.root);

    greenlet_t *mine = new_greenlet(return_arg, NULL, 0);
    greenlet_t *g = NULL;
    ck_assert_int_eq(greenlet_switch(f.fresh, NULL, NULL), -EPERM);
    ck_assert_int_eq(greenlet_switch(f.suspended, NULL, NULL), -EPERM);
    ck_assert_int_eq(greenlet_switch(f.root, NULL, NULL), -EPERM);
    ck_assert_int_eq(greenlet_throw(f.suspended, -EIO, NULL), -EPERM);
    ck_assert_int_eq(greenlet_free(f.fresh), -EPERM);
    ck_assert_int_eq(greenlet_free(f.suspended), -EPERM);
    ck_assert_int_eq(greenlet_set_parent(f.fresh, mine), -EPERM);
    ck_assert_int_eq(greenlet_set_parent(mine, f.fresh), -EPERM);
    ck_assert_int_eq(greenlet_new(&g, return_arg, f.fresh, 0), -EPERM);
    ck_assert_ptr_eq(greenlet_parent(mine), root);
    ck_assert_ptr_eq(greenlet_current(), root);

    sem_post(&f.done);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(f.resumed, 0); /* nothing from here reached it */
    ck_assert_int_eq(f.free_rc[0], 0);
    ck_assert_int_eq(f.free_rc[1], 0);
    ck_assert_int_eq(greenlet_free(mine), 0);
    sem_destroy(&f.ready);
    sem_destroy(&f.done);
}
END_TEST

/* --- stack life ---------------------------------------------------------- */

static size_t life_in_use_inside;

static void *life_run(void *arg)
{
    life_in_use_inside = green__stack_in_use();
    greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
    return NULL;
}

/* The stack is taken on the first switch and given back the moment the
 * greenlet dies, not when it is freed. */
START_TEST(test_stack_lifetime)
{
    size_t base = green__stack_in_use();
    greenlet_t *g = new_greenlet(life_run, NULL, SMALL_STACK);
    ck_assert_uint_eq(green__stack_in_use(), base);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_uint_eq(life_in_use_inside, base + 1);
    ck_assert_uint_eq(green__stack_in_use(), base + 1);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert(greenlet_dead(g));
    ck_assert_uint_eq(green__stack_in_use(), base);
    ck_assert_int_eq(greenlet_free(g), 0);
    ck_assert_uint_eq(green__stack_in_use(), base);
}
END_TEST

static uintptr_t where_local;

static void *where_run(void *arg)
{
    volatile char here = 1;
    where_local = (uintptr_t)&here;
    greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
    return NULL;
}

START_TEST(test_free_suspended)
{
    size_t base = green__stack_in_use();
    greenlet_t *g = new_greenlet(where_run, NULL, 64 * KIB);
    ck_assert_int_eq(greenlet_set_name(g, "discarded"), 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    uintptr_t first = where_local;
    ck_assert(greenlet_started(g));
    ck_assert(!greenlet_dead(g));
    ck_assert_uint_eq(green__stack_in_use(), base + 1);

    ck_assert_int_eq(greenlet_free(g), 0);
    ck_assert_uint_eq(green__stack_in_use(), base);

    /* The next greenlet of that size runs on the stack just given back. */
    greenlet_t *h = new_greenlet(where_run, NULL, 64 * KIB);
    ck_assert_int_eq(greenlet_switch(h, NULL, NULL), 0);
    uintptr_t second = where_local;
    uintptr_t dist = first > second ? first - second : second - first;
    ck_assert_msg(dist < 64 * KIB,
                  "stack not reused: locals at %#lx then %#lx",
                  (unsigned long)first, (unsigned long)second);
    ck_assert_int_eq(greenlet_switch(h, NULL, NULL), 0);
    ck_assert_int_eq(greenlet_free(h), 0);
    ck_assert_uint_eq(green__stack_in_use(), base);
}
END_TEST

/* With the address space capped, the first switch cannot get a stack:
 * -ENOMEM, nothing switched, g left unstarted and still startable. Runs in
 * a child, which may lower its own limit freely. */
static void enomem_child(void *arg)
{
    greenlet_t *g = NULL;
    if (greenlet_new(&g, mark_ran, NULL, 256 * MIB) != 0) {
        _exit(3);
    }
    unstarted_ran = 0;
    size_t base = green__stack_in_use();
    struct rlimit old, low;
    getrlimit(RLIMIT_AS, &old);
    low = old;
    low.rlim_cur = (rlim_t)(green_test_status_kib("VmSize") + 32 * 1024) *
                   1024;
    if (setrlimit(RLIMIT_AS, &low) != 0) {
        _exit(4);
    }
    /* qemu-user accepts the limit but does not enforce it for the guest. */
    void *probe = mmap(NULL, (size_t)low.rlim_cur, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
        fprintf(stderr, "SKIP: RLIMIT_AS is not enforced here\n");
        _exit(0);
    }
    int rc1 = greenlet_switch(g, NULL, NULL);
    int started1 = greenlet_started(g), dead1 = greenlet_dead(g);
    int ran1 = unstarted_ran;
    size_t in_use1 = green__stack_in_use() - base;
    setrlimit(RLIMIT_AS, &old);
    int rc2 = greenlet_switch(g, NULL, NULL);
    fprintf(stderr, "RESULT %d %d %d %d %zu %d %d %d\n", rc1, started1, dead1,
            ran1, in_use1, rc2, unstarted_ran, greenlet_dead(g));
}

START_TEST(test_enomem_leaves_unstarted)
{
    if (green_test_asan() || green_test_valgrind()) {
        return; /* neither lives with a tight RLIMIT_AS */
    }
    char out[4096];
    char desc[64];
    int status = green_test_fork_capture(enomem_child, NULL, out, sizeof out);
    if (strstr(out, "SKIP: ") != NULL) {
        return;
    }
    int v[8];
    size_t in_use1 = 0;
    const char *res = strstr(out, "RESULT ");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                      res != NULL &&
                      sscanf(res, "RESULT %d %d %d %d %zu %d %d %d", &v[0],
                             &v[1], &v[2], &v[3], &in_use1, &v[5], &v[6],
                             &v[7]) == 8,
                  "child: %s; stderr: %s",
                  green_test_describe_status(status, desc, sizeof desc), out);
    ck_assert_int_eq(v[0], -ENOMEM);
    ck_assert_int_eq(v[1], 0); /* not started */
    ck_assert_int_eq(v[2], 0); /* not dead */
    ck_assert_int_eq(v[3], 0); /* never ran */
    ck_assert_uint_eq(in_use1, 0);
    ck_assert_int_eq(v[5], 0); /* with memory back, it starts */
    ck_assert_int_eq(v[6], 1);
    ck_assert_int_eq(v[7], 1);
}
END_TEST

/* The stack size is what the greenlet really gets: use three quarters of
 * it in one frame, the rest is ample for the switch machinery. */
static void *use_stack_run(void *arg)
{
    size_t n = (size_t)P2I(arg);
    volatile char buf[n];
    for (size_t i = 0; i < n; i += 512) {
        buf[i] = (char)i;
    }
    buf[n - 1] = 7;
    return I2P(buf[n - 1] + buf[0]);
}

START_TEST(test_stack_usable)
{
    static const size_t sizes[] = {16 * KIB, 64 * KIB, 1 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        greenlet_t *g = new_greenlet(use_stack_run, NULL, sizes[i]);
        void *r = NULL;
        ck_assert_int_eq(greenlet_switch(g, I2P(sizes[i] / 4 * 3), &r), 0);
        ck_assert_int_eq(P2I(r), 7);
        ck_assert_int_eq(greenlet_free(g), 0);
    }
}
END_TEST

/* --- names and ids ------------------------------------------------------- */

START_TEST(test_names)
{
    greenlet_t *g = new_greenlet(return_arg, NULL, 0);
    ck_assert_ptr_null(greenlet_name(g));

    char buf[] = "alpha";
    ck_assert_int_eq(greenlet_set_name(g, buf), 0);
    ck_assert_ptr_ne(greenlet_name(g), buf);
    buf[0] = 'X';
    ck_assert_str_eq(greenlet_name(g), "alpha");

    ck_assert_int_eq(greenlet_set_name(g, "beta"), 0);
    ck_assert_str_eq(greenlet_name(g), "beta");

    char longname[4096];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(greenlet_set_name(g, longname), 0);
    ck_assert_str_eq(greenlet_name(g), longname);

    ck_assert_int_eq(greenlet_set_name(g, NULL), 0);
    ck_assert_ptr_null(greenlet_name(g));
    ck_assert_int_eq(greenlet_set_name(NULL, "x"), -EINVAL);

    /* The name survives the greenlet's death until it is freed. */
    ck_assert_int_eq(greenlet_set_name(g, "gamma"), 0);
    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_str_eq(greenlet_name(g), "gamma");
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

START_TEST(test_ids_increasing)
{
    enum { N = 1000 };
    greenlet_t *g[N];
    unsigned long prev = greenlet_id(greenlet_current());
    ck_assert_uint_ge(prev, 1);
    unsigned long root_id = prev;
    for (int i = 0; i < N; i++) {
        g[i] = new_greenlet(return_arg, NULL, 0);
        unsigned long id = greenlet_id(g[i]);
        ck_assert_uint_ne(id, root_id);
        ck_assert_msg(id > prev || i == 0, "id %lu after %lu", id, prev);
        ck_assert_uint_ge(id, 1);
        prev = id;
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(greenlet_free(g[i]), 0);
    }
    /* Freed ids are not handed out again. */
    greenlet_t *h = new_greenlet(return_arg, NULL, 0);
    ck_assert_uint_gt(greenlet_id(h), prev);
    ck_assert_int_eq(greenlet_free(h), 0);
}
END_TEST

#define ID_THREADS 4
#define ID_PER_THREAD 5000

static void *id_thread(void *arg)
{
    unsigned long *ids = arg;
    for (int i = 0; i < ID_PER_THREAD; i++) {
        greenlet_t *g = NULL;
        if (greenlet_new(&g, return_arg, NULL, 0) != 0) {
            return NULL;
        }
        ids[i] = greenlet_id(g);
        greenlet_free(g);
    }
    return NULL;
}

static int cmp_ulong(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a;
    unsigned long y = *(const unsigned long *)b;
    return (x > y) - (x < y);
}

/* Process-wide unique: threads creating greenlets at once never share one. */
START_TEST(test_ids_unique_across_threads)
{
    size_t n = (size_t)ID_THREADS * ID_PER_THREAD;
    unsigned long *ids = calloc(n, sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    pthread_t t[ID_THREADS];
    for (int i = 0; i < ID_THREADS; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, id_thread,
                                        ids + (size_t)i * ID_PER_THREAD), 0);
    }
    for (int i = 0; i < ID_THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    }
    qsort(ids, n, sizeof *ids, cmp_ulong);
    ck_assert_uint_ge(ids[0], 1);
    for (size_t i = 1; i < n; i++) {
        ck_assert_msg(ids[i] != ids[i - 1], "id %lu given twice", ids[i]);
    }
    free(ids);
}
END_TEST

/* --- scale --------------------------------------------------------------- */

static greenlet_t **chain;
static size_t chain_len;
static size_t chain_bad_arg, chain_bad_back;

/* Greenlet i gets i, makes greenlet i + 1 (its child, by default) and hands
 * it i + 1; the last returns n. The value then climbs back up through every
 * parent's pending switch. */
static void *chain_run(void *arg)
{
    size_t i = (size_t)P2I(arg);
    if (chain[i] != greenlet_current()) {
        chain_bad_arg++;
    }
    if (i + 1 == chain_len) {
        return I2P(i + 1);
    }
    if (greenlet_new(&chain[i + 1], chain_run, NULL, SMALL_STACK) != 0) {
        return I2P(-1);
    }
    void *r = NULL;
    if (greenlet_switch(chain[i + 1], I2P(i + 1), &r) != 0 ||
        (size_t)P2I(r) != chain_len) {
        chain_bad_back++;
    }
    return r;
}

START_TEST(test_chain)
{
    chain_len = green_test_valgrind() ? 1000 : 10000;
    chain = calloc(chain_len, sizeof *chain);
    chain_bad_arg = chain_bad_back = 0;
    size_t base = green__stack_in_use();
    chain[0] = new_greenlet(chain_run, NULL, SMALL_STACK);
    void *r = NULL;
    ck_assert_int_eq(greenlet_switch(chain[0], I2P(0), &r), 0);
    ck_assert_int_eq(P2I(r), (intptr_t)chain_len);
    ck_assert_uint_eq(chain_bad_arg, 0);
    ck_assert_uint_eq(chain_bad_back, 0);
    ck_assert_uint_eq(green__stack_in_use(), base);
    for (size_t i = 0; i < chain_len; i++) {
        ck_assert_ptr_nonnull(chain[i]);
        ck_assert(greenlet_dead(chain[i]));
        ck_assert_ptr_eq(greenlet_parent(chain[i]),
                         i == 0 ? greenlet_current() : chain[i - 1]);
    }
    for (size_t i = 0; i < chain_len; i++) {
        ck_assert_int_eq(greenlet_free(chain[i]), 0);
    }
    free(chain);
}
END_TEST

/* One round: n greenlets made, all started and suspended at once, all
 * resumed to completion, all freed. */
static void many_round(greenlet_t **g, size_t n)
{
    size_t base = green__stack_in_use();
    for (size_t i = 0; i < n; i++) {
        int rc = greenlet_new(&g[i], bounce_once, NULL, SMALL_STACK);
        ck_assert_msg(rc == 0, "greenlet %zu: %d", i, rc);
    }
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        int rc = greenlet_switch(g[i], I2P(i), &r);
        ck_assert_msg(rc == 0 && (size_t)P2I(r) == i,
                      "greenlet %zu: rc %d value %ld", i, rc, (long)P2I(r));
    }
    ck_assert_uint_eq(green__stack_in_use(), base + n);
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        ck_assert_int_eq(greenlet_switch(g[i], I2P(i + 1), &r), 0);
        ck_assert_int_eq(P2I(r), (intptr_t)(i + 1));
    }
    ck_assert_uint_eq(green__stack_in_use(), base);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(greenlet_free(g[i]), 0);
    }
}

START_TEST(test_many_no_leak)
{
    /* With mprotect guards (old kernels, qemu-user) vm.max_map_count caps
     * live stacks near 32K: the scale claim needs guard markers. */
    size_t n = green_test_valgrind()        ? 5000
               : green_test_asan()          ? 20000 /* 5x slower there */
               : green_test_guard_markers() ? 100000
                                            : 20000;
    greenlet_t **g = calloc(n, sizeof *g);
    ck_assert_ptr_nonnull(g);
    many_round(g, n);
    long rss1 = green_test_status_kib("VmRSS");
    int maps1 = green_test_count_maps();
    for (int round = 2; round <= 5; round++) {
        many_round(g, n);
        if (!green_test_footprint_reliable()) {
            continue; /* RSS and mappings are then mostly the tool's */
        }
        long rss = green_test_status_kib("VmRSS");
        int maps = green_test_count_maps();
        ck_assert_msg(rss <= rss1 + 16 * 1024,
                      "round %d: RSS %ld KiB, %ld after round 1", round, rss,
                      rss1);
        ck_assert_msg(maps <= maps1 + 16,
                      "round %d: %d mappings, %d after round 1", round, maps,
                      maps1);
    }
    free(g);
}
END_TEST

/* A thread that used greenlets and ended leaves no stacks mapped behind. */
#define EXIT_N 4096

struct exit_result {
    long vsz_peak;  /* KiB, inside the thread with every stack taken */
    int failed;
    char *lo[EXIT_N];  /* where each greenlet's stack was */
};

static void *exit_thread(void *arg)
{
    struct exit_result *r = arg;
    greenlet_t **g = calloc(EXIT_N, sizeof *g);
    if (g == NULL) {
        r->failed = 1;
        return NULL;
    }
    for (int i = 0; i < EXIT_N; i++) {
        if (greenlet_new(&g[i], bounce_once, NULL, 64 * KIB) != 0 ||
            greenlet_switch(g[i], NULL, NULL) != 0) {
            r->failed = 1;
            return NULL;
        }
    }
    r->vsz_peak = green_test_status_kib("VmSize");
    for (int i = 0; i < EXIT_N; i++) {
        r->lo[i] = g[i]->stack->lo;
        greenlet_switch(g[i], NULL, NULL);
        greenlet_free(g[i]);
    }
    free(g);
    return NULL;
}

static void *warm_thread(void *arg)
{
    green_test_warm_malloc();
    return NULL;
}

START_TEST(test_thread_exit_releases)
{
    /* A first thread makes glibc's per-thread malloc arena and caches a
     * thread stack, so the measured thread adds neither. */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, warm_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    long vsz0 = green_test_status_kib("VmSize");
    int maps0 = green_test_count_maps();
    static struct exit_result r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(pthread_create(&t, NULL, exit_thread, &r), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(!r.failed);
    /* The exact check: not one page of any of those stacks is still
     * mapped (msync says ENOMEM for an unmapped range; valgrind reports
     * that very probe as an error, so not under valgrind). */
    for (int i = 0; i < EXIT_N && !green_test_valgrind(); i++) {
        ck_assert_msg(msync(r.lo[i], 4096, MS_ASYNC) == -1 && errno == ENOMEM,
                      "stack %d at %p is still mapped", i, (void *)r.lo[i]);
    }
    if (!green_test_footprint_reliable()) {
        return; /* the address space is then mostly the tool's */
    }
    ck_assert_msg(r.vsz_peak - vsz0 >= 256 * 1024,
                  "4096 stacks of 64 KiB took only %ld KiB",
                  r.vsz_peak - vsz0);
    /* Loosely, the whole address space: glibc may have given the thread a
     * malloc arena of its own (64 MiB reserved, never unmapped). */
    long vsz = green_test_status_kib("VmSize");
    ck_assert_msg(vsz <= vsz0 + 80 * 1024,
                  "the ended thread left %ld KiB mapped", vsz - vsz0);
    ck_assert_int_le(green_test_count_maps(), maps0 + 4);
}
END_TEST

Suite *green_test_greenlet_suite(void)
{
    Suite *s = suite_create("greenlet");
    TCase *tc;

    tc = tcase_create("switch");
    tcase_add_test(tc, test_pingpong_order);
    tcase_add_test(tc, test_values_both_ways);
    tcase_add_test(tc, test_null_result_pointer);
    tcase_add_test(tc, test_return_to_pending_parent);
    tcase_add_test(tc, test_return_starts_unstarted_parent);
    tcase_add_test(tc, test_switch_to_self);
    tcase_add_test(tc, test_started_dead_flags);
    tcase_add_test(tc, test_current);
    tcase_add_test(tc, test_root);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("parent");
    tcase_add_test(tc, test_parent_is_creator);
    tcase_add_test(tc, test_dead_parent_skipped);
    tcase_add_test(tc, test_dead_parent_skipped_to_suspended);
    tcase_add_test(tc, test_set_parent);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("throw");
    tcase_add_test(tc, test_throw_suspended);
    tcase_add_test(tc, test_throw_unstarted);
    tcase_add_test(tc, test_throw_bad_err);
    tcase_add_test(tc, test_throw_into_root);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("errno");
    tcase_add_test(tc, test_errno_per_greenlet);
    tcase_add_test(tc, test_errors_leave_errno);
    tcase_add_loop_test(tc, test_first_use_keeps_errno, 0, 2);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_null_everywhere);
    tcase_add_test(tc, test_switch_dead);
    tcase_add_test(tc, test_free_running);
    tcase_add_test(tc, test_stack_size_arg);
    tcase_add_test(tc, test_free_parent_of_live_child);
    tcase_add_test(tc, test_other_thread);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("stack");
    tcase_add_test(tc, test_stack_lifetime);
    tcase_add_test(tc, test_free_suspended);
    tcase_add_test(tc, test_stack_usable);
    tcase_add_test(tc, test_enomem_leaves_unstarted);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("identity");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_ids_increasing);
    tcase_add_test(tc, test_ids_unique_across_threads);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_test(tc, test_chain);
    tcase_add_test(tc, test_many_no_leak);
    tcase_add_test(tc, test_thread_exit_releases);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    return s;
}
