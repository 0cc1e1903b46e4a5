/* SPDX-License-Identifier: MIT */
/* Futex operations for green threads (lib/futex.c): what syscall(SYS_futex,
 * ...) does under the preload (preload/futex.c is its thin interposer).
 * Green waits park the calling greenlet in the parking lot (parking.h);
 * wakes reach green waiters and the kernel's. */
#ifndef GREEN_FUTEX_H
#define GREEN_FUTEX_H

#include <stdbool.h>
#include <stdint.h>

/* One futex(2) operation, with the raw system call's arguments (uaddr,
 * futex_op, val, timeout or val2, uaddr2, val3). A wait parks the running
 * greenlet when green_wait is true (the caller may go green), and is the
 * kernel's otherwise; wakes, requeues and WAKE_OP reach both. Operations
 * this does not know (the priority-inheritance ones, FUTEX_CLOCK_REALTIME
 * where the kernel refuses it) are the kernel's. Returns the kernel's
 * answer: >= 0, or a negative errno. A green wait may switch. */
long green__futex(uint32_t *uaddr, int op, long val, const void *timeout,
                  uint32_t *uaddr2, long val3, bool green_wait);

#endif
