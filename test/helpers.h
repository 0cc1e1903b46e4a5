/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit suites. */
#ifndef GREEN_TEST_HELPERS_H
#define GREEN_TEST_HELPERS_H

#include <stddef.h>

/* Monotonic time in seconds. */
double green_test_now(void);

/* Runs fn(arg) in a forked child with stderr captured. Returns the child's
 * wait status and copies up to len-1 bytes of its stderr into buf. */
int green_test_fork_capture(void (*fn)(void *), void *arg, char *buf,
                            size_t len);

/* The number of open file descriptors of this process. */
int green_test_count_fds(void);

/* How much slower than native this run is: 20 under valgrind (meson's
 * valgrind setup sets GREEN_VALGRIND=1), 3 under ASan, else 1. Upper time
 * bounds are multiplied by it; lower bounds never are. */
double green_test_slowdown(void);

/* Runs fn(arg) on a new OS thread and waits for it to end, so that fn sees
 * a thread that has never touched libgreen (no hub, no root greenlet).
 * Returns fn's return value, or (void *)-1 if no thread could be made. */
void *green_test_in_thread(void *(*fn)(void *), void *arg);

/* The number of lines of /proc/self/maps, i.e. the kernel mappings (VMAs)
 * this process holds; -1 on error. vm.max_map_count caps it. */
int green_test_count_maps(void);

/* A "Vm...:" field of /proc/self/status in KiB (e.g. "VmRSS", "VmSize");
 * -1 if it cannot be read. */
long green_test_status_kib(const char *field);

/* True when the suites run under valgrind (the meson setup sets
 * GREEN_VALGRIND=1): scale tests shrink and fault tests are skipped. */
int green_test_valgrind(void);

/* True when the suites run under an emulator (meson's exe wrapper: the
 * aarch64 CI step's qemu-user), whose own mappings, memory and signal
 * delivery are not the kernel's: the cases that measure those skip. Also
 * true under ThreadSanitizer, which is as slow and has an OS thread of
 * its own in /proc/self/task (so no wait another thread might end is
 * ever judged a deadlock). */
int green_test_emulated(void);

/* True when the tests are built with ThreadSanitizer, which counts every
 * greenlet's stack as a thread of at most 8,128 alive. */
int green_test_tsan(void);

/* True when the tests are built with AddressSanitizer (it then owns
 * SIGSEGV before the library does, and cannot live under RLIMIT_AS). */
int green_test_asan(void);

/* True when RSS, VmSize and the mapping count measure this program: not
 * under valgrind or AddressSanitizer, whose shadow memory, quarantine and
 * own mappings grow with what they track. Footprint checks need it. */
int green_test_footprint_reliable(void);

/* True when Check forks a fresh process per test (CK_FORK is not "no"), so
 * once-per-process state starts untouched in every test. */
int green_test_forking(void);

/* A shared object freed by its waiter the moment the wait returns, while
 * the waker on another OS thread may still be inside its call: rounds
 * times, make() makes an object, wake(obj) runs on a second thread once
 * the object exists, and wait_free(obj) here waits for it and frees it
 * (0 if both worked). Both threads share one CPU, so the waker's inbox
 * wake-up can hand the CPU straight to the waiter; AddressSanitizer
 * catches a waker that touches the object after that. Returns how many
 * rounds failed (a wait, free or wake that did not return 0). */
int green_test_free_race(int rounds, void *(*make)(void),
                         int (*wake)(void *), int (*wait_free)(void *));

/* Counts the non-overlapping occurrences of needle in haystack. */
int green_test_count_substr(const char *haystack, const char *needle);

/* Makes the calling thread's malloc arena exist (glibc reserves 64 MiB of
 * address space for it on a thread's first malloc), so that address space
 * measured afterwards is not thrown off by it. */
void green_test_warm_malloc(void);

/* Describes a wait status ("exit 0", "signal 11") into buf for messages. */
const char *green_test_describe_status(int status, char *buf, size_t len);

/* For a forked child: die of SIGALRM after `seconds`, so that a library
 * that hangs fails one test quickly instead of running into Check's
 * timeout. Resets SIGALRM first: a child inherits Check's own handler,
 * which would kill the whole test's process group. */
void green_test_child_deadline(unsigned seconds);

/* Tasks of the calling thread spawned and not ended (0 without state). */
size_t green_test_live_tasks(void);

/* Tasks spawned on this thread's hub whose memory is not freed yet. */
size_t green_test_task_records(void);

/* Whether stack guards are page-table markers here (Linux 6.13+, not
 * under qemu-user): only then can 100,000 stacks coexist within the
 * default vm.max_map_count. Allocates and frees one stack to find out. */
int green_test_guard_markers(void);

#endif
