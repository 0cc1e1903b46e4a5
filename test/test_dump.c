/* SPDX-License-Identifier: MIT */
/* The dump suite (include/green/dump.h, lib/dump.c): green_dump names
 * every green thread with what it waits on (a read, an event, a sleep, a
 * queue, a join), how long, who made it, with a backtrace line; names
 * that are not plain text are escaped; a lock wait names the holder;
 * green_stats counts threads, parked ones, switches, hub turns and fds;
 * GREEN_DUMP_SIGNAL's parser
 * and its reserved signals; the dump signal asks the hub for one dump,
 * however many signals come before it is written.
 *
 * The dump is read back through a memfd and parsed line by line: each
 * thread's line begins with "#ID". Task bodies never call ck_assert (see
 * test_event.c); the root checks. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>

#include <green.h>

#include "../lib/config.h"
#include "../lib/dump.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* --- reading a dump back ------------------------------------------------ */

static char dumped[1 << 16];

/* green_dump() into a memfd, read back into dumped; returns its result. */
static int dump_here(void)
{
    int fd = memfd_create("dump", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    int r = green_dump(fd);
    ssize_t n = pread(fd, dumped, sizeof(dumped) - 1, 0);
    ck_assert_int_ge(n, 0);
    dumped[n] = '\0';
    close(fd);
    return r;
}

/* The dump's line for the green thread with id, or NULL. */
static const char *line_of(unsigned long id, char *buf, size_t len)
{
    char key[32];
    snprintf(key, sizeof(key), "#%lu ", id);
    size_t kl = strlen(key);
    for (const char *l = dumped; *l != '\0';) {
        const char *end = strchr(l, '\n');
        size_t ll = end != NULL ? (size_t)(end - l) : strlen(l);
        if (ll >= kl - 1 && strncmp(l, key, kl - 1) == 0 &&
            (l[kl - 1] == ' ' || l[kl - 1] == ':')) {
            snprintf(buf, len, "%.*s", (int)ll, l);
            return buf;
        }
        l = end != NULL ? end + 1 : l + ll;
    }
    return NULL;
}

/* The line after the thread's own: its backtrace. */
static const char *backtrace_of(unsigned long id, char *buf, size_t len)
{
    char line[512];
    if (line_of(id, line, sizeof(line)) == NULL) {
        return NULL;
    }
    const char *at = strstr(dumped, line);
    const char *next = at != NULL ? strchr(at, '\n') : NULL;
    if (next == NULL) {
        return NULL;
    }
    next++;
    const char *end = strchr(next, '\n');
    snprintf(buf, len, "%.*s", (int)(end != NULL ? end - next
                                                 : (long)strlen(next)),
             next);
    return buf;
}

static unsigned long id_of(green_task_t *t)
{
    return greenlet_id(green_task_greenlet(t));
}

/* --- five waits ----------------------------------------------------------- */

static int pipefd[2];
static green_event_t *ev;
static green_queue_t *q;
static green_task_t *queue_task;
static int results[5];

static void *reader(void *arg)
{
    char c;
    results[0] = (int)green_read(pipefd[0], &c, 1);
    return arg;
}

static void *event_waiter(void *arg)
{
    results[1] = green_event_wait(ev, GREEN_FOREVER);
    return arg;
}

static void *sleeper(void *arg)
{
    results[2] = green_sleep(30);
    return arg;
}

static void *queue_getter(void *arg)
{
    void *item;
    results[3] = green_queue_get(q, GREEN_FOREVER, &item);
    return arg;
}

static void *joiner(void *arg)
{
    results[4] = green_join(queue_task, GREEN_FOREVER, NULL);
    return arg;
}

START_TEST(test_dump_waits)
{
    ck_assert_int_eq(pipe(pipefd), 0);
    ck_assert_int_eq(green_event_new(&ev), 0);
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_fn_t fns[5] = {reader, event_waiter, sleeper, queue_getter,
                         joiner};
    const char *names[5] = {"reader", "event", "sleeper", "queue",
                            "joiner"};
    green_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(green_spawn(&t[i], fns[i], NULL), 0);
        ck_assert_int_eq(green_task_set_name(t[i], names[i]), 0);
        if (i == 3) {
            queue_task = t[i];
        }
    }
    /* Before they run: spawned, new, counted. */
    struct green_stats s;
    ck_assert_int_eq(green_stats(&s), 0);
    ck_assert_uint_eq(s.threads, 6);
    ck_assert_uint_eq(s.ready, 5);
    ck_assert_uint_eq(s.parked, 0);
    ck_assert_int_eq(dump_here(), 0);
    char line[512], bt[2048], want[128];
    ck_assert_ptr_nonnull(line_of(id_of(t[0]), line, sizeof(line)));
    ck_assert_msg(strstr(line, ": new") != NULL, "%s", line);

    uint64_t switches = s.switches;
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(green_stats(&s), 0);
    ck_assert_uint_eq(s.threads, 6);
    ck_assert_uint_eq(s.parked, 5);
    ck_assert_uint_eq(s.ready, 0);
    ck_assert_uint_ge(s.fds, 1);
    ck_assert_uint_ge(s.switches, switches + 6); /* each ran once, root too */
    ck_assert_uint_ge(s.hub_turns, 1);

    ck_assert_int_eq(dump_here(), 0);
    unsigned long root = greenlet_id(greenlet_current());
    ck_assert_msg(strstr(dumped, "stats: threads 6, parked 5, ready 0") !=
                  NULL, "%s", dumped);
    ck_assert_ptr_nonnull(line_of(root, line, sizeof(line)));
    ck_assert_msg(strstr(line, ": running") != NULL, "%s", line);

    struct {
        int i;
        char text[128];
    } expect[5];
    snprintf(expect[0].text, 128, "on fd %d for reading", pipefd[0]);
    snprintf(expect[1].text, 128, "on green_event_wait on %p", (void *)ev);
    snprintf(expect[2].text, 128, "on green_sleep; its timer fires in 29.");
    snprintf(expect[3].text, 128, "on green_queue_get on %p", (void *)q);
    snprintf(expect[4].text, 128, "on green_join on #%lu \"queue\"",
             id_of(t[3]));
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(line_of(id_of(t[i]), line, sizeof(line)) != NULL,
                      "no line for %s in:\n%s", names[i], dumped);
        snprintf(want, sizeof(want), "#%lu \"%s\": parked for 0.0",
                 id_of(t[i]), names[i]);
        ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
        ck_assert_msg(strstr(line, expect[i].text) != NULL, "%s: %s", line,
                      expect[i].text);
        snprintf(want, sizeof(want), "; created by #%lu", root);
        ck_assert_msg(strstr(line, want) != NULL, "%s", line);
        ck_assert_ptr_nonnull(backtrace_of(id_of(t[i]), bt, sizeof(bt)));
        ck_assert_msg(strncmp(bt, "    backtrace (scanned): ", 25) == 0 &&
                      strstr(bt, "none") == NULL &&
                      strstr(bt, "only") == NULL, "%s", bt);
    }
    /* Only the timed wait has a timer. */
    line_of(id_of(t[0]), line, sizeof(line));
    ck_assert_ptr_null(strstr(line, "timer"));

    /* Every wait ends as it would have. */
    ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
    ck_assert_int_eq(green_event_set(ev), 0);
    ck_assert_int_eq(green_kill(t[2]), 0);
    ck_assert_int_eq(green_queue_put(q, (void *)1, GREEN_FOREVER), 0);
    for (int i = 0; i < 5; i++) {
        /* The queue's task was joined by the joiner: once is all. */
        int r = i == 3 ? 0 : green_join(t[i], GREEN_FOREVER, NULL);
        ck_assert_msg(r == 0 || (i == 2 && r == -ECANCELED), "%d: %d", i, r);
    }
    for (int i = 0; i < 5; i++) {
        green_task_release(t[i]);
    }
    ck_assert_int_eq(results[0], 1);
    ck_assert_int_eq(results[1], 0);
    ck_assert_int_eq(results[2], -ECANCELED);
    ck_assert_int_eq(results[3], 0);
    ck_assert_int_eq(results[4], 0);
    ck_assert_int_eq(green_stats(&s), 0);
    ck_assert_uint_eq(s.threads, 1);
    ck_assert_uint_eq(s.parked, 0);
    green_queue_free(q);
    green_event_free(ev);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

/* --- a lock and its holder -------------------------------------------------- */

static green_lock_t *lk;
static int lock_result = 1;

static void *locker(void *arg)
{
    lock_result = green_lock_acquire(lk, GREEN_FOREVER);
    if (lock_result == 0) {
        green_lock_release(lk);
    }
    return arg;
}

START_TEST(test_dump_lock_holder)
{
    ck_assert_int_eq(green_lock_new(&lk), 0);
    ck_assert_int_eq(green_lock_acquire(lk, GREEN_FOREVER), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, locker, NULL), 0);
    ck_assert_int_eq(green_task_set_name(t, "locker"), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(dump_here(), 0);
    char line[512], want[160];
    ck_assert_ptr_nonnull(line_of(id_of(t), line, sizeof(line)));
    snprintf(want, sizeof(want), "on green_lock_acquire on %p; held by #%lu "
             "root; created by", (void *)lk, greenlet_id(greenlet_current()));
    ck_assert_msg(strstr(line, want) != NULL, "%s\nwanted %s", line, want);
    ck_assert_int_eq(green_lock_release(lk), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
    ck_assert_int_eq(lock_result, 0);
    ck_assert_int_eq(green_lock_free(lk), 0);
}
END_TEST

/* --- names ---------------------------------------------------------------- */

static void *park_forever(void *arg)
{
    green_sleep(GREEN_FOREVER);
    return arg;
}

START_TEST(test_dump_names_escaped)
{
    green_task_t *a, *b;
    ck_assert_int_eq(green_spawn(&a, park_forever, NULL), 0);
    ck_assert_int_eq(green_spawn(&b, park_forever, NULL), 0);
    ck_assert_int_eq(green_task_set_name(a, "two\nlines \"q\" \\ \xff\xc3"),
                     0);
    ck_assert_int_eq(green_task_set_name(b, "caf\xc3\xa9 \xe2\x82\xac"), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(dump_here(), 0);
    char line[512];
    ck_assert_ptr_nonnull(line_of(id_of(a), line, sizeof(line)));
    ck_assert_msg(strstr(line, "\"two\\nlines \\\"q\\\" \\\\ \\xff\\xc3\": "
                               "parked") != NULL, "%s", line);
    ck_assert_ptr_nonnull(line_of(id_of(b), line, sizeof(line)));
    ck_assert_msg(strstr(line, "\"caf\xc3\xa9 \xe2\x82\xac\": parked") !=
                  NULL, "%s", line);
    /* No raw newline from a name: every line is a thread, a backtrace,
     * the header, the stats or the end. */
    for (const char *l = dumped; *l != '\0';) {
        ck_assert_msg(l[0] == '#' || strncmp(l, "    backtrace", 13) == 0 ||
                      strncmp(l, "libgreen dump:", 14) == 0 ||
                      strncmp(l, "stats:", 6) == 0 ||
                      strncmp(l, "end of dump", 11) == 0, "%s", l);
        l = strchr(l, '\n') + 1;
    }
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_kill(b), 0);
    green_join(a, GREEN_FOREVER, NULL);
    green_join(b, GREEN_FOREVER, NULL);
    green_task_release(a);
    green_task_release(b);
}
END_TEST

/* --- counters and bad input ------------------------------------------------ */

START_TEST(test_dump_bad_input)
{
    ck_assert_int_eq(green_stats(NULL), -EINVAL);
    ck_assert_int_eq(green_dump(-1), -EBADF);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[1]);
    close(p[0]);
    ck_assert_int_eq(green_dump(p[1]), -EBADF); /* closed */
}
END_TEST

/* A thread that never used the runtime: no green thread, no dump lines. */
static void *fresh_thread(void *arg)
{
    struct green_stats *s = arg;
    green_stats(s);
    return NULL;
}

START_TEST(test_dump_stats_fresh_thread)
{
    struct green_stats s;
    memset(&s, 0xff, sizeof(s));
    green_test_in_thread(fresh_thread, &s);
    ck_assert_uint_eq(s.threads, 0);
    ck_assert_uint_eq(s.switches, 0);
    ck_assert_uint_eq(s.hub_turns, 0);
    ck_assert_uint_eq(s.reserved[0], 0);
}
END_TEST

static void *yielder(void *arg)
{
    for (int i = 0; i < 100; i++) {
        green_sleep(0);
    }
    return arg;
}

START_TEST(test_dump_stats_switches)
{
    struct green_stats a, b;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, yielder, NULL), 0);
    ck_assert_int_eq(green_stats(&a), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
    ck_assert_int_eq(green_stats(&b), 0);
    /* 100 yields with no one else ready: each one switches at most to
     * the hub and back (or stays), the join at least there and back. */
    ck_assert_uint_ge(b.switches - a.switches, 2);
    ck_assert_uint_le(b.switches - a.switches, 210);
    uint64_t turns = b.hub_turns;
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(green_stats(&b), 0);
    ck_assert_uint_gt(b.hub_turns, turns);
}
END_TEST

/* --- the dump signal --------------------------------------------------------- */

START_TEST(test_dump_signal_names)
{
    ck_assert_int_eq(green__signal_parse("USR2"), SIGUSR2);
    ck_assert_int_eq(green__signal_parse("SIGUSR2"), SIGUSR2);
    ck_assert_int_eq(green__signal_parse("usr2"), SIGUSR2);
    ck_assert_int_eq(green__signal_parse("sigquit"), SIGQUIT);
    ck_assert_int_eq(green__signal_parse("12"), 12);
    ck_assert_int_eq(green__signal_parse("RTMIN"), SIGRTMIN);
    ck_assert_int_eq(green__signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
    ck_assert_int_eq(green__signal_parse("RTMAX-1"), SIGRTMAX - 1);
    ck_assert_int_eq(green__signal_parse("RTMAX"), SIGRTMAX);
    const char *bad[] = {"", "0", "65", "-1", "+12", " 12", "12x", "USR3",
                         "SIG", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+99",
                         "SIGSIGUSR2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(green__signal_parse(bad[i]) == 0, "%s", bad[i]);
    }
}
END_TEST

static char logged[4096];

static void log_to_buf(void *u, int level, const char *msg)
{
    (void)u, (void)level;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

/* Whether the kernel runs a handler for sig (not SIG_DFL / SIG_IGN). */
static int handled(int sig)
{
    struct sigaction a;
    sigaction(sig, NULL, &a);
    return (a.sa_flags & SA_SIGINFO) ? a.sa_sigaction != NULL
                                     : a.sa_handler != SIG_DFL &&
                                           a.sa_handler != SIG_IGN;
}

START_TEST(test_dump_signal_reserved)
{
    char sigrt14[16];
    snprintf(sigrt14, sizeof(sigrt14), "%d", SIGRTMIN + 14);
    const char *bad[] = {"KILL", "SIGSTOP", "SEGV", "BUS", "32", "33",
                         sigrt14, "RTMIN+14", "NOSUCH", ""};
    green_set_log(log_to_buf, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        logged[0] = '\0';
        setenv("GREEN_DUMP_SIGNAL", bad[i], 1);
        green__dump_signal_setup();
        ck_assert_int_eq(green__dump_signal(), 0);
        char want[64];
        snprintf(want, sizeof(want), "GREEN_DUMP_SIGNAL=\"%s\": expected",
                 bad[i]);
        ck_assert_msg(strstr(logged, want) != NULL, "%s: %s", bad[i],
                      logged);
        ck_assert_msg(strstr(logged, "using no signal") != NULL, "%s",
                      logged);
    }
    ck_assert(!handled(SIGUSR2));
    ck_assert(!handled(SIGRTMIN + 14));
    /* Unset: silence, no signal. */
    logged[0] = '\0';
    unsetenv("GREEN_DUMP_SIGNAL");
    green__dump_signal_setup();
    ck_assert_int_eq(green__dump_signal(), 0);
    ck_assert_str_eq(logged, "");
    green_set_log(NULL, NULL);
}
END_TEST

static void *parked_named(void *arg)
{
    green_sleep(GREEN_FOREVER);
    return arg;
}

START_TEST(test_dump_signal_one_dump)
{
    setenv("GREEN_DUMP_SIGNAL", "SIGUSR2", 1);
    green__dump_signal_setup();
    ck_assert_int_eq(green__dump_signal(), SIGUSR2);
    ck_assert(handled(SIGUSR2));
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, parked_named, NULL), 0);
    ck_assert_int_eq(green_task_set_name(t, "signalled"), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);

    /* stderr into a memfd while the hub writes. */
    int mem = memfd_create("stderr", MFD_CLOEXEC);
    int saved = dup(2);
    ck_assert_int_ge(mem, 0);
    ck_assert_int_eq(dup2(mem, 2), 2);
    /* Three signals before the hub's next turn: one dump. */
    raise(SIGUSR2);
    raise(SIGUSR2);
    raise(SIGUSR2);
    ck_assert_int_eq(green_sleep(0.02), 0);
    /* And after it was written, the next signal is the next dump. */
    raise(SIGUSR2);
    ck_assert_int_eq(green_sleep(0.02), 0);
    /* A signal while a dump is being written (the word at 2, as the hub
     * leaves it meanwhile) is that dump's: none more after it. */
    __atomic_store_n(&green__dump_asked, 2, __ATOMIC_RELAXED);
    raise(SIGUSR2);
    ck_assert_int_eq(green__dump_asked, 2);
    __atomic_store_n(&green__dump_asked, 0, __ATOMIC_RELAXED);
    ck_assert_int_eq(green_sleep(0.02), 0);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(mem, dumped, sizeof(dumped) - 1, 0);
    close(mem);
    ck_assert_int_gt(n, 0);
    dumped[n] = '\0';
    ck_assert_int_eq(green_test_count_substr(dumped, "libgreen dump:"), 2);
    ck_assert_int_eq(green_test_count_substr(dumped, "end of dump\n"), 2);
    char want[64];
    snprintf(want, sizeof(want), "#%lu \"signalled\": parked for",
             id_of(t));
    ck_assert_msg(green_test_count_substr(dumped, want) == 2, "%s", dumped);
    /* The root was parked in its sleep while the hub wrote. */
    snprintf(want, sizeof(want), "#%lu root: parked for",
             greenlet_id(greenlet_current()));
    ck_assert_msg(strstr(dumped, want) != NULL, "%s", dumped);
    ck_assert_int_eq(green_kill(t), 0);
    green_join(t, GREEN_FOREVER, NULL);
    green_task_release(t);
    signal(SIGUSR2, SIG_DFL);
    unsetenv("GREEN_DUMP_SIGNAL");
}
END_TEST

Suite *green_test_dump_suite(void)
{
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("dump");
    tcase_add_test(tc, test_dump_waits);
    tcase_add_test(tc, test_dump_lock_holder);
    tcase_add_test(tc, test_dump_names_escaped);
    tcase_add_test(tc, test_dump_bad_input);
    tcase_add_test(tc, test_dump_stats_fresh_thread);
    tcase_add_test(tc, test_dump_stats_switches);
    suite_add_tcase(s, tc);
    TCase *sig = tcase_create("signal");
    tcase_add_test(sig, test_dump_signal_names);
    tcase_add_test(sig, test_dump_signal_reserved);
    tcase_add_test(sig, test_dump_signal_one_dump);
    suite_add_tcase(s, sig);
    return s;
}
