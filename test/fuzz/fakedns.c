/* SPDX-License-Identifier: MIT */
/* The tests' fake DNS server (test/fake_dns.c) as a process of its own,
 * for the fault sweep: the scenario under faults must not carry the
 * server inside it (its calls would count and fail too).
 *
 *   fakedns SECONDS    prints "127.0.0.1:PORT" and serves for SECONDS */
#include "../fake_dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    double life = argc > 1 ? atof(argv[1]) : 60;
    int port = 0;
    pid_t pid = fake_dns_start(0.0, life, &port);
    if (pid < 0) {
        perror("fakedns");
        return 1;
    }
    printf("127.0.0.1:%d\n", port);
    fflush(stdout);
    /* The server dies with this process (PR_SET_PDEATHSIG). */
    sleep((unsigned)life + 1);
    fake_dns_stop(pid);
    return 0;
}
