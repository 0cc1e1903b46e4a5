/* SPDX-License-Identifier: MIT */
/* Green stdio's thread-per-connection server: each connection's thread
 * wraps its socket in two streams (fdopen, "r" and "w" on a dup) and
 * echoes lines with fgets, fputs and fflush. In the same process a client
 * opens 1,000 connections (STDIO_CONNS=N to change), and only once every
 * one is connected and every server thread waits in fgets does it send a
 * line on each (fprintf and fflush on streams of its own), then reads
 * every echo (fgets), three rounds, the last of them lines longer than
 * the streams' buffers. So all 1,000 server threads wait in fgets at
 * once: before green stdio the first fgets blocked the OS thread under
 * the preload, and no client ever connected. The ticker must run while
 * they all wait. Prints counts only. */
#include "stdio_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

static int nconns = 1000;
static int listen_fd;
static struct sockaddr_in addr;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int accepted, waiting, served, bad_lines;
static long echoed;

static pthread_attr_t small;

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    FILE *in = fdopen(fd, "r");
    FILE *out = fdopen(dup(fd), "w");
    LEGACY_CHECK(in != NULL && out != NULL);
    char line[512];
    long bytes = 0;
    int first = 1;
    for (;;) {
        if (first) {
            pthread_mutex_lock(&mu);
            waiting++;
            pthread_cond_broadcast(&cv);
            pthread_mutex_unlock(&mu);
            first = 0;
        }
        if (fgets(line, sizeof(line), in) == NULL) {
            break;
        }
        LEGACY_CHECK(fputs(line, out) >= 0);
        if (strchr(line, '\n') != NULL) {
            LEGACY_CHECK(fflush(out) == 0);
        }
        bytes += (long)strlen(line);
    }
    LEGACY_CHECK(feof(in) && !ferror(in));
    fclose(in);
    fclose(out);
    pthread_mutex_lock(&mu);
    served++;
    echoed += bytes;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (int i = 0; i < nconns; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        LEGACY_CHECK(fd >= 0);
        pthread_t t;
        LEGACY_CHECK(pthread_create(&t, &small, serve, (void *)(long)fd) == 0);
        pthread_detach(t);
        pthread_mutex_lock(&mu);
        accepted++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    LEGACY_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t need = (rlim_t)nconns * 4 + 64;
    if (rl.rlim_cur >= need) {
        return;
    }
    if (rl.rlim_max < need) {
        struct rlimit more = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) {
            return;
        }
        need = rl.rlim_max;
    }
    rl.rlim_cur = need;
    LEGACY_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    LEGACY_CHECK(need >= (rlim_t)nconns * 4 + 64);
}

/* The line round r sends on connection i. */
static void make_line(int r, int i, char *buf, size_t size)
{
    if (r < 2) {
        snprintf(buf, size, "round %d connection %d\n", r, i);
        return;
    }
    size_t len = 5000 + (size_t)i % 300; /* longer than a stream's buffer */
    LEGACY_CHECK(len + 2 <= size);
    int n = snprintf(buf, size, "long %d:", i);
    for (size_t k = (size_t)n; k < len; k++) {
        buf[k] = (char)('a' + (i + k) % 26);
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
}

static void group_server(void)
{
    const char *env = getenv("STDIO_CONNS");
    if (env != NULL) {
        nconns = atoi(env);
    }
    raise_fd_limit();
    LEGACY_CHECK(pthread_attr_init(&small) == 0);
    LEGACY_CHECK(pthread_attr_setstacksize(&small, 64 * 1024) == 0);

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(listen_fd >= 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(addr);
    LEGACY_CHECK(bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    LEGACY_CHECK(getsockname(listen_fd, (struct sockaddr *)&addr, &alen) == 0);
    LEGACY_CHECK(listen(listen_fd, 4096) == 0);
    pthread_t acc;
    LEGACY_CHECK(pthread_create(&acc, NULL, accept_loop, NULL) == 0);

    FILE **rd = calloc((size_t)nconns, sizeof(*rd));
    FILE **wr = calloc((size_t)nconns, sizeof(*wr));
    LEGACY_CHECK(rd != NULL && wr != NULL);
    for (int i = 0; i < nconns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        LEGACY_CHECK(fd >= 0);
        LEGACY_CHECK(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
        rd[i] = fdopen(fd, "r");
        wr[i] = fdopen(dup(fd), "w");
        LEGACY_CHECK(rd[i] != NULL && wr[i] != NULL);
    }
    pthread_mutex_lock(&mu);
    while (waiting < nconns) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    LEGACY_CHECK(pthread_join(acc, NULL) == 0);

    su_ticker_start();
    int t0 = su_ticks;
    su_nap(50);
    su_ticked("the wait of every server thread in fgets", t0, 5);
    su_ticker_end();

    static char buf[6000], got[6000];
    long sent = 0;
    int good = 0;
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < nconns; i++) {
            make_line(r, i, buf, sizeof(buf));
            LEGACY_CHECK(fprintf(wr[i], "%s", buf) == (int)strlen(buf));
            LEGACY_CHECK(fflush(wr[i]) == 0);
            sent += (long)strlen(buf);
        }
        for (int i = 0; i < nconns; i++) {
            make_line(r, i, buf, sizeof(buf));
            LEGACY_CHECK(fgets(got, sizeof(got), rd[i]) != NULL);
            good += strcmp(got, buf) == 0;
        }
    }
    for (int i = 0; i < nconns; i++) {
        LEGACY_CHECK(fclose(wr[i]) == 0);
        shutdown(fileno(rd[i]), SHUT_WR);
    }
    pthread_mutex_lock(&mu);
    while (served < nconns) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < nconns; i++) {
        LEGACY_CHECK(fgets(got, sizeof(got), rd[i]) == NULL && feof(rd[i]));
        fclose(rd[i]);
    }
    close(listen_fd);
    su_say("connections %d, all waiting in fgets at once: %s",
           nconns == 1000 ? 1000 : -1, su_yes(waiting == nconns));
    su_say("echoes right: %d of %d, bad lines %d", good, 3 * nconns,
           bad_lines);
    su_say("served %d of %d, echoed all bytes: %s", served, nconns,
           su_yes(echoed == sent));
    LEGACY_CHECK(good == 3 * nconns);
    free(rd);
    free(wr);
}

int main(int argc, char **argv)
{
    static const struct su_group groups[] = {{"server", group_server, 0}};
    return su_main(argc, argv, groups, 1);
}
