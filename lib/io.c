/* Cooperative I/O: the fd operations of the public API, on top of the
 * hub's fd waits. The preload's interposers call the same functions. */
#include "internal.h"

#include "green/io.h"

#include <unistd.h>

int green_wait_fd(int fd, int events, double timeout)
{
    return green__hub_io_wait(fd, events, timeout);
}

int green_close(int fd)
{
    green__hub_io_forget(fd);
    return close(fd) == 0 ? 0 : -errno;
}
