/* SPDX-License-Identifier: MIT */
/* The churn client: opens and closes connections to an echo server
 * (examples/legacy_echo under the preload; churn.sh starts it) for a
 * while, in ways that end connections badly, and checks that no byte
 * was lost or changed. Plain pthreads, native, WITHOUT libgreen.
 *
 *   churn PORT CONNS SECONDS [PARALLEL] [SEED]
 *
 * PARALLEL threads (64) open connections until at least CONNS were made
 * and at least SECONDS have passed (a load for the whole time, not a
 * burst), each one of these, chosen by a splitmix64 PRNG
 * seeded from SEED and the connection's number (the same connections on
 * every machine):
 *   clean       a few messages, each read back whole, then close;
 *   half-close  messages, shutdown(SHUT_WR), then every echoed byte up
 *               to the server's end of file;
 *   close-read  a message, part of its echo read, then close with the
 *               rest unread (the server's write may fail: EPIPE);
 *   reset       the same, with SO_LINGER {1, 0}: close sends a reset;
 *   idle        connect and close at once.
 * Every byte that comes back is compared with the byte sent at its
 * place: the echo must be exactly a prefix of what was sent, and in the
 * clean and half-close cases all of it (everything sent before the
 * client's own close or shutdown was acknowledged by the server's
 * reading it, so all of it must arrive). The closing line:
 *   churn: N connections (clean a, half-close b, close-read c, reset d,
 *   idle e), N bytes sent, N echoed and checked, N lost, N wrong,
 *   N failed connects
 * and the exit status is 1 if any byte was lost or wrong, or a
 * connection could not be made (the server is expected to take them
 * all: a refused or timed-out connect means it stopped serving). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { CLEAN, HALF, CLOSE_READ, RESET, IDLE, NKINDS };
static const char *const kind_names[NKINDS] = {"clean", "half-close",
                                               "close-read", "reset", "idle"};

static int port, conns;
static double deadline;
static uint64_t seed;
static atomic_int next_conn;
static atomic_long done_kind[NKINDS];
static atomic_llong sent_total, echoed_total, lost_total, wrong_total;
static atomic_int connect_failed;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The byte at position k of connection c's stream. */
static unsigned char byte_at(int c, size_t k)
{
    return (unsigned char)mix(seed ^ ((uint64_t)c << 32) ^ k);
}

static bool send_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads up to `want` bytes (or to end of file when want is 0) and checks
 * each against the stream from position *pos. Returns false on an error
 * or a timeout. */
static bool read_check(int fd, int c, size_t *pos, size_t want, bool to_eof,
                       long long *wrong)
{
    unsigned char buf[4096];
    size_t got = 0;
    while (to_eof || got < want) {
        size_t ask = sizeof(buf);
        if (!to_eof && want - got < ask) {
            ask = want - got;
        }
        ssize_t r = recv(fd, buf, ask, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return false;
        }
        if (r == 0) {
            return to_eof;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != byte_at(c, *pos + (size_t)i)) {
                (*wrong)++;
            }
        }
        *pos += (size_t)r;
        got += (size_t)r;
    }
    return true;
}

static void one(int c)
{
    uint64_t r = mix(seed * 1000003u + (uint64_t)c);
    int pick = (int)(r % 100);
    int kind = pick < 50 ? CLEAN : pick < 65 ? HALF : pick < 80 ? CLOSE_READ
                                               : pick < 95 ? RESET : IDLE;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        atomic_fetch_add(&connect_failed, 1);
        close(fd);
        return;
    }
    unsigned char msg[9000];
    size_t pos_out = 0, pos_in = 0;
    long long wrong = 0, lost = 0;
    int messages = 1 + (int)((r >> 8) % 4);
    bool ok = true;
    switch (kind) {
    case CLEAN:
    case HALF:
        for (int m = 0; m < messages && ok; m++) {
            size_t len = 1 + (size_t)(mix(r + (uint64_t)m) % sizeof(msg));
            for (size_t k = 0; k < len; k++) {
                msg[k] = byte_at(c, pos_out + k);
            }
            ok = send_all(fd, msg, len);
            if (ok) {
                pos_out += len;
            }
            if (ok && kind == CLEAN) {
                ok = read_check(fd, c, &pos_in, len, false, &wrong);
            }
        }
        if (kind == HALF) {
            shutdown(fd, SHUT_WR);
            ok = read_check(fd, c, &pos_in, 0, true, &wrong) && ok;
        }
        /* Everything sent before the close or shutdown comes back. */
        if (pos_in < pos_out) {
            lost += (long long)(pos_out - pos_in);
        }
        break;
    case CLOSE_READ:
    case RESET: {
        size_t len = 100 + (size_t)((r >> 16) % (sizeof(msg) - 100));
        for (size_t k = 0; k < len; k++) {
            msg[k] = byte_at(c, k);
        }
        if (send_all(fd, msg, len)) {
            pos_out = len;
            read_check(fd, c, &pos_in, len / 3, false, &wrong);
        }
        if (kind == RESET) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        break;
    }
    default:
        break;
    }
    close(fd);
    atomic_fetch_add(&done_kind[kind], 1);
    atomic_fetch_add(&sent_total, (long long)pos_out);
    atomic_fetch_add(&echoed_total, (long long)pos_in);
    atomic_fetch_add(&lost_total, lost);
    atomic_fetch_add(&wrong_total, wrong);
    if (lost || wrong) {
        fprintf(stderr, "churn: connection %d (%s): %lld bytes lost, %lld "
                        "wrong (%zu sent, %zu back)\n",
                c, kind_names[kind], lost, wrong, pos_out, pos_in);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        int c = atomic_fetch_add(&next_conn, 1);
        if (c >= conns && now() > deadline) {
            break;
        }
        one(c);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: churn PORT CONNS SECONDS [PARALLEL] [SEED]\n");
        return 2;
    }
    port = atoi(argv[1]);
    conns = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int parallel = argc > 4 ? atoi(argv[4]) : 64;
    seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
    if (parallel < 1 || parallel > 1024) {
        parallel = 64;
    }
    deadline = now() + seconds;
    pthread_t t[1024];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < parallel; i++) {
        pthread_create(&t[i], &attr, worker, NULL);
    }
    for (int i = 0; i < parallel; i++) {
        pthread_join(t[i], NULL);
    }
    long total = 0;
    for (int k = 0; k < NKINDS; k++) {
        total += done_kind[k];
    }
    printf("churn: %ld connections (clean %ld, half-close %ld, close-read "
           "%ld, reset %ld, idle %ld), %lld bytes sent, %lld echoed and "
           "checked, %lld lost, %lld wrong, %d failed connects\n",
           total, (long)done_kind[CLEAN], (long)done_kind[HALF],
           (long)done_kind[CLOSE_READ], (long)done_kind[RESET],
           (long)done_kind[IDLE], (long long)sent_total,
           (long long)echoed_total, (long long)lost_total,
           (long long)wrong_total, (int)connect_failed);
    return lost_total || wrong_total || connect_failed ? 1 : 0;
}
