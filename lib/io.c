/* Cooperative I/O: the fd operations of the public API, on top of the
 * hub's fd waits. Each has the same shape: try the call; if it would
 * block, wait on the hub for the fd and try again. errno is read on the
 * line after each call, before anything can switch. */
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

/* Waits for fd after an EAGAIN; 0 to retry, or the wait's error. */
static int wait_again(int fd, int events)
{
    int r = green__hub_io_wait(fd, events, GREEN_FOREVER);
    return r > 0 ? 0 : r;
}

ssize_t green_read(int fd, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        int e = r < 0 ? errno : 0;
        if (r >= 0) {
            return r;
        }
        if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
            return -e;
        }
        if (e != EINTR && (e = -wait_again(fd, POLLIN)) != 0) {
            return -e;
        }
    }
}

ssize_t green_write(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        int e = r < 0 ? errno : 0;
        if (r >= 0) {
            done += (size_t)r;
        } else if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
            return -e;
        } else if (e != EINTR && (e = -wait_again(fd, POLLOUT)) != 0) {
            return -e;
        }
    }
    return (ssize_t)n;
}

int green_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    for (;;) {
        int r = accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int e = r < 0 ? errno : 0;
        if (r >= 0) {
            return r;
        }
        if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR &&
            e != ECONNABORTED) {
            return -e;
        }
        if (e == EAGAIN || e == EWOULDBLOCK) {
            if ((e = -wait_again(fd, POLLIN)) != 0) {
                return -e;
            }
        }
    }
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int r = connect(fd, addr, len);
    int e = r < 0 ? errno : 0;
    if (r == 0) {
        return 0;
    }
    if (e != EINPROGRESS && e != EINTR) {
        return -e;
    }
    if ((r = wait_again(fd, POLLOUT)) != 0) {
        return r;
    }
    socklen_t elen = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0) {
        return -errno;
    }
    return -e;
}
