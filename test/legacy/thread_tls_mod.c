/* SPDX-License-Identifier: MIT */
/* For test/legacy/thread_tls.c: a module loaded with dlopen, whose TLS
 * is dynamic (reached through __tls_get_addr and the thread's DTV). */
static __thread int counter;

int tlsmod_bump(int by);

int tlsmod_bump(int by)
{
    counter += by;
    return counter;
}
