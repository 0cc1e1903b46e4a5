/* SPDX-License-Identifier: MIT */
/* A tiny DNS server for the tests: UDP on 127.0.0.1, an ephemeral port, in
 * a child process that stops by itself (after `lifetime` seconds, or when
 * its parent dies). Plain libc only, so that the legacy programs can use
 * it too (they include fake_dns.c).
 *
 * Its zone (names match without regard to case; "x.test." = "x.test"):
 *   one.test     A 192.0.2.10
 *   two.test     A 192.0.2.20, 192.0.2.21; AAAA 2001:db8::20, fd00::20
 *   six.test     AAAA 2001:db8::6
 *   alias.test   CNAME one.test (then one.test's records)
 *   nodata.test  no records (NOERROR, empty answer)
 *   fail.test    SERVFAIL
 *   h<N>.test    A 10.0.<N/256>.<N%256>, for N < 65536
 *   slow*.test   A 192.0.2.99, answered 3 s later than the rest
 *   drop.test    never answered
 *   10.2.0.192.in-addr.arpa  PTR one.test
 *   anything else: NXDOMAIN.
 * Every answer waits `delay` seconds (each on its own clock, so queries
 * that arrive together are answered together). */
#ifndef GREEN_TEST_FAKE_DNS_H
#define GREEN_TEST_FAKE_DNS_H

#include <sys/types.h>

/* Starts the server. Returns the child's pid (> 0) and the port in *port,
 * or -1 on error. */
pid_t fake_dns_start(double delay, double lifetime, int *port);

/* Stops the server and reaps it. */
void fake_dns_stop(pid_t pid);

#endif
