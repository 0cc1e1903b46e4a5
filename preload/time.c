/* SPDX-License-Identifier: MIT */
/* The time interposers: sleep, usleep, nanosleep, clock_nanosleep
 * (relative and TIMER_ABSTIME) and sched_yield park the calling greenlet
 * on a hub timer instead of the OS thread. */
#include "preload.h"

#include <math.h>

#include "cancel.h"
#include "green/task.h"

static bool green(void)
{
    return green__go_green(GREEN_PATCH_TIME);
}

/* Sleeps for `seconds`; 0, or -EINTR with the time left in *left. */
static int sleep_for(double seconds, double *left)
{
    double end = green__now() + seconds;
    int r = GREEN__CANCELLABLE(int, green_sleep(seconds));
    if (r == -EINTR && left != NULL) {
        *left = fmax(0.0, end - green__now());
    }
    return r;
}

static void to_timespec(double s, struct timespec *ts)
{
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)((s - (double)ts->tv_sec) * 1e9);
}

static bool bad_timespec(const struct timespec *ts)
{
    return ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L;
}

GREEN_INTERPOSE int nanosleep(const struct timespec *req,
                              struct timespec *rem)
{
    if (!green() || req == NULL) {
        return GREEN_REAL(nanosleep)(req, rem);
    }
    if (bad_timespec(req)) {
        errno = EINVAL;
        return -1;
    }
    double left = 0.0;
    int r = sleep_for((double)req->tv_sec + (double)req->tv_nsec / 1e9,
                      &left);
    if (r == -EINTR && rem != NULL) {
        to_timespec(left, rem);
    }
    return (int)green__ret(r);
}

GREEN_INTERPOSE int clock_nanosleep(clockid_t clock, int flags,
                                    const struct timespec *req,
                                    struct timespec *rem)
{
    bool ours = clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
                clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
    if (!green() || !ours || req == NULL) {
        return GREEN_REAL(clock_nanosleep)(clock, flags, req, rem);
    }
    if (bad_timespec(req)) {
        return EINVAL;
    }
    double s = (double)req->tv_sec + (double)req->tv_nsec / 1e9;
    if (flags & TIMER_ABSTIME) {
        struct timespec now;
        clock_gettime(clock, &now);
        s -= (double)now.tv_sec + (double)now.tv_nsec / 1e9;
        if (s <= 0.0) {
            return 0;
        }
    }
    double left = 0.0;
    int r = sleep_for(s, &left);
    if (r == -EINTR && rem != NULL && !(flags & TIMER_ABSTIME)) {
        to_timespec(left, rem);
    }
    return -r; /* clock_nanosleep returns the error; errno is untouched */
}

GREEN_INTERPOSE unsigned int sleep(unsigned int seconds)
{
    if (!green()) {
        return GREEN_REAL(sleep)(seconds);
    }
    double left = 0.0;
    if (sleep_for(seconds, &left) == -EINTR) {
        /* glibc's sleep: the whole seconds nanosleep left (0.8 s: 0) */
        struct timespec rem;
        to_timespec(left, &rem);
        return (unsigned int)rem.tv_sec;
    }
    return 0;
}

GREEN_INTERPOSE int usleep(useconds_t us)
{
    if (!green()) {
        return GREEN_REAL(usleep)(us);
    }
    return (int)green__ret(sleep_for(us / 1e6, NULL));
}

GREEN_INTERPOSE int sched_yield(void)
{
    /* An OS thread without a hub has no green thread to yield to: the
     * kernel's yield, and no hub made for it. (LeakSanitizer's exit-time
     * check spins in sched_yield while it stops the other threads, the
     * watchdog among them, holding its allocator's lock: a hub made there
     * deadlocked every ASan-preloaded process at exit.) */
    struct green__thread *t = green__thread_peek();
    if (t == NULL || t->hub == NULL) {
        return GREEN_REAL(sched_yield)();
    }
    if (green()) {
        green_sleep(0);
        green__cancel_async_point();
        return 0;
    }
    return GREEN_REAL(sched_yield)();
}
