/* The fork interposer: the child gets a working hub (libev's loop is
 * re-armed with ev_loop_fork, so parent and child do not share one epoll
 * set), and only the forking green thread goes on in it, as only the
 * forking thread does with pthreads. */
#include "preload.h"

GREEN_INTERPOSE pid_t fork(void)
{
    pid_t pid = GREEN_REAL(fork)();
    if (pid == 0 && green__patch_on(GREEN_PATCH_OS)) {
        int e = errno;
        green__hub_after_fork();
        errno = e;
    }
    return pid;
}
