/* SPDX-License-Identifier: MIT */
/* The differential fuzzer's interpreter: a program is a list of
 * operations (struct fuzz_op), each run by one of up to four threads, and
 * engine.c runs such a list and prints one line per operation. The
 * generator (gen.c) makes lists from a seed; fuzzprog.c runs a generated
 * list; each minimised reproducer in test/legacy/fuzz_*.c runs a list
 * written out as a C table. All of them are built WITHOUT libgreen and
 * run natively and under LD_PRELOAD=libgreen.so; the two outputs must be
 * the same bytes.
 *
 * An operation names its thread (t), up to two objects (slot s with end
 * e, slot s2 with end e2) and three integer parameters whose meaning
 * depends on the kind (the table in engine.c says which). Objects live
 * in slots that creation operations fill; an operation whose object is
 * missing (its creation was dropped by the minimiser, or it was closed)
 * prints "skip", so that any sublist of a program is still a valid,
 * deterministic program. idx is the operation's index in the generated
 * list: it is printed, so a sublist's lines are comparable with the
 * whole's. */
#ifndef FUZZ_ENGINE_H
#define FUZZ_ENGINE_H

#include <stdint.h>
#include <stdio.h>

#define FUZZ_MAX_OPS 4096
#define FUZZ_SLOTS 12
#define FUZZ_ENDS 4    /* ends 0 and 1 are the object's own; 2 and 3 dups */
#define FUZZ_THREADS 4 /* thread 0 is main */

/* The operation kinds. Keep fuzz_kind_names in engine.c in this order. */
#define FUZZ_KINDS(X)                                                     \
    /* making objects: slot s */                                          \
    X(MK_PIPE)       /* a: pipe2 flags (0, O_NONBLOCK, O_CLOEXEC) */      \
    X(MK_SOCKPAIR)   /* a: 0 stream, 1 dgram, 2 seqpacket; b: nonblock */ \
    X(MK_TCP)        /* a connected loopback TCP pair: 0 client, 1 server */ \
    X(MK_UDP)        /* two connected loopback UDP sockets */             \
    X(MK_FIFO)       /* a FIFO in the temp dir: 0 read, 1 write */        \
    X(MK_LISTEN)     /* a loopback TCP listener at end 0 */               \
    X(MK_EPOLL)      /* an epoll fd at end 0 */                           \
    X(MK_MUTEX)                                                           \
    X(MK_COND)       /* a condition variable and its own mutex */         \
    X(MK_SEM)        /* a: the initial value */                           \
    /* connections: s the listener, s2 the slot to fill */                \
    X(CONNECT)       /* fills s2's end 0 */                               \
    X(ACCEPT)        /* fills s2's end 1; a: accept4 flags */             \
    /* data: (s, e); a: bytes; b: flags */                                \
    X(READ)                                                               \
    X(READV)                                                              \
    X(RECV)                                                               \
    X(RECVFROM)                                                           \
    X(RECVMSG)                                                            \
    X(WRITE)                                                              \
    X(WRITEV)                                                             \
    X(SEND)                                                               \
    X(SENDTO)                                                             \
    X(SENDMSG)                                                            \
    X(DRAIN)         /* non-blocking reads until nothing comes */         \
    X(ZREAD)         /* read of 0 bytes */                                \
    /* fd state: (s, e) */                                                \
    X(SETNB)         /* a: on; b: 0 fcntl, 1 ioctl FIONBIO */             \
    X(GETFL)                                                              \
    X(SETCLOEXEC)    /* a: on */                                          \
    X(GETFD)                                                              \
    X(TIMEO)         /* a: 0 SO_RCVTIMEO, 1 SO_SNDTIMEO; b: ms */         \
    X(SHUTDOWN)      /* a: how */                                         \
    X(LINGER0)       /* SO_LINGER {1, 0}: close resets */                 \
    X(SOERROR)       /* getsockopt SO_ERROR */                            \
    X(FIONREAD)                                                           \
    X(CLOSE)                                                              \
    X(DUP)           /* into end e2 of the same slot */                   \
    X(DUP2)          /* onto a fixed high number, as end e2 */            \
    X(DUP3)          /* the same with O_CLOEXEC */                        \
    X(DUPFD)         /* fcntl F_DUPFD(_CLOEXEC) >= 700; a: cloexec */     \
    X(BADFD)         /* a: 0 read, 1 write, 2 close, 3 poll, on fd 999 */ \
    /* waiting: up to three (slot, end, events) in a, b, c (fuzz_pfd) */  \
    X(POLL)          /* e: timeout class (fuzz_timeout) */                \
    X(PPOLL)                                                              \
    X(SELECT)                                                             \
    X(PSELECT)                                                            \
    X(EPOLL_CTL)     /* s epoll, (s2, e2); a: op; b: events */            \
    X(EPOLL_WAIT)    /* s epoll; a: max events; e: timeout class */       \
    /* time */                                                            \
    X(USLEEP)        /* a: microseconds (short) */                        \
    X(NANOSLEEP)     /* a: microseconds; 150 ms and more may block */     \
    X(CLOCKSLEEP)    /* a: microseconds; b: 1 TIMER_ABSTIME */            \
    X(SLEEP0)                                                             \
    X(YIELD)                                                              \
    /* synchronisation: slot s */                                         \
    X(LOCK)                                                               \
    X(TRYLOCK)                                                            \
    X(TIMEDLOCK)                                                          \
    X(UNLOCK)                                                             \
    X(COND_LOCK)     /* the condition variable's own mutex */             \
    X(COND_UNLOCK)                                                        \
    X(COND_WAIT)                                                          \
    X(COND_TIMEDWAIT)                                                     \
    X(COND_SIGNAL)                                                        \
    X(COND_BROADCAST)                                                     \
    X(SEM_POST)                                                           \
    X(SEM_WAIT)                                                           \
    X(SEM_TRYWAIT)                                                        \
    X(SEM_TIMEDWAIT)                                                      \
    X(SEM_GETVALUE)                                                       \
    /* signals (to the main thread) */                                    \
    X(SIGACTION)     /* a: 0 SIGUSR1, 1 SIGALRM; b: SA_RESTART */         \
    X(KILL_MAIN)     /* pthread_kill(main, SIGUSR1), then waits for it */ \
    X(ALARM)         /* setitimer(ITIMER_REAL, a us), then waits */       \
    X(RAISE)         /* raise(SIGUSR1) (main only) */                     \
    X(SIGCOUNT)      /* prints the handlers run so far */                 \
    /* behind flags (known differences, or calls not yet green) */        \
    X(FORK)          /* child writes to (s, e) and exits a; waitpid */    \
    X(FORK_WAIT)     /* child exits after reading (s, e); waitpid */      \
    X(STDIO_WRITE)   /* fdopen(s, e) "w", fputs a bytes, fflush */        \
    X(STDIO_READ)    /* fdopen(s, e) "r", fgets */                        \
    X(TLS_SET)       /* a __thread variable = a */                        \
    X(TLS_GET)                                                            \
    X(GETTID_SAME)   /* whether gettid() is main's */                     \
    X(FLOCK)         /* flock(LOCK_EX) on the temp dir's lock file */     \
    X(FUNLOCK)                                                            \
    X(KILL_THREAD)   /* pthread_kill(thread a, SIGUSR1) */

enum fuzz_kind {
#define FUZZ_ENUM(k) FUZZ_##k,
    FUZZ_KINDS(FUZZ_ENUM)
#undef FUZZ_ENUM
    FUZZ_NKINDS
};

/* Timeout classes of the waiting operations (op.e): 0 none (do not
 * wait), 1 long (150 ms: a wait nothing ends runs out), 2 forever (the
 * engine ends it itself if nothing else does). */
enum fuzz_timeout { FUZZ_T_ZERO, FUZZ_T_LONG, FUZZ_T_FOREVER };

/* The long timeout, in milliseconds. Everything an operation waits for
 * happens within a few milliseconds or not at all, so 150 ms leaves a
 * wide margin either way. */
#define FUZZ_LONG_MS 150

/* One (slot, end, poll events) of a waiting operation, packed in an int:
 * 0 means none. */
#define FUZZ_PFD(s, e, ev) (((s) + 1) << 16 | (e) << 12 | (ev))
#define FUZZ_PFD_S(p) (((p) >> 16) - 1)
#define FUZZ_PFD_E(p) (((p) >> 12) & 0xf)
#define FUZZ_PFD_EV(p) ((p) & 0xfff)

struct fuzz_op {
    uint16_t idx;  /* index in the generated list (printed) */
    uint8_t kind;  /* enum fuzz_kind */
    uint8_t t;     /* the thread that runs it */
    int8_t s, e, s2, e2;
    int32_t a, b, c;
};

/* Feature flags: what the generator may use. The default set is what the
 * preload claims to handle today; each other flag turns on calls or
 * patterns with a known difference (or not interposed yet), so that the
 * fuzzer can be pointed at them once they land. */
#define FUZZ_FLAGS(X)                                                     \
    X(FORK, "fork", "fork + waitpid (the child exits at once)")           \
    X(WAITPID, "waitpid", "waitpid for a child that waits on the parent") \
    X(STDIO, "stdio", "stdio streams on pipes and sockets")               \
    X(CLOSEWAIT, "closewait", "close an fd another thread waits on")      \
    X(TLS, "tls", "__thread variables across threads")                    \
    X(GETTID, "gettid", "gettid() in other threads")                      \
    X(FLOCK, "flock", "flock contended between threads")                  \
    X(KILLTHREAD, "killthread", "signals to threads other than main")

enum fuzz_flag {
#define FUZZ_FLAG_ENUM(n, word, what) FUZZ_F_##n##_BIT,
    FUZZ_FLAGS(FUZZ_FLAG_ENUM)
#undef FUZZ_FLAG_ENUM
    FUZZ_NFLAGS
};
#define FUZZ_F(n) (1u << FUZZ_F_##n##_BIT)

/* Parses "fork,stdio" (or "all", or "") into *flags; -1 on an unknown
 * word (named on stderr). */
int fuzz_parse_flags(const char *s, unsigned *flags);

/* The kind's name ("READ"). */
const char *fuzz_kind_name(int kind);

/* Runs ops[0..n) with `threads` threads (1 to 4), printing a line per
 * operation on stdout in list order, then "end ...". Returns the exit
 * status: 0, or 3 when an operation never ended (the line "STUCK"
 * says which). `flags` only says which behaviours the engine may use. */
int fuzz_run(const struct fuzz_op *ops, int n, int threads, unsigned flags);

/* Makes a program from a seed: up to `len` operations into out (which
 * holds FUZZ_MAX_OPS), using the calls `flags` allows. Returns the count
 * and the number of threads in *threads. Deterministic on every machine:
 * its own PRNG (splitmix64), no rand(). */
int fuzz_generate(uint64_t seed, int len, unsigned flags,
                  struct fuzz_op *out, int *threads);

/* Writes ops as a C initialiser, one operation a line with a comment. */
void fuzz_emit_c(FILE *f, const struct fuzz_op *ops, int n);

/* One operation in words ("t1 READ s3.0 100"), into buf. */
void fuzz_describe(const struct fuzz_op *op, char *buf, size_t len);

#endif
