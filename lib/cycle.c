/* SPDX-License-Identifier: MIT */
/* Deadlock cycles, reported the moment they close (lib/cycle.h).
 *
 * The hub's deadlock report (lib/hub.c) comes only when nothing at all
 * is left that could wake a greenlet: two threads locking two mutexes in
 * opposite orders while main sleeps in a loop never get it, though the
 * runtime knows who waits for whom. Here the wait that closes a cycle
 * finds it: before a join or a wait for an owned lock parks, its site
 * follows the wait-for chain from the greenlet it awaits, through the
 * wait descriptors (lib/internal.h): a PARKED greenlet with wait_on set
 * waits for that greenlet's end, one with wait_owner set for the current
 * owner of its lock (read through the lock's own owner field, so a
 * hand-off to another waiter is seen). The chain stops at a greenlet that
 * is not parked (it may still run and release), at one of another OS
 * thread (whose fields this thread may not read), or after MAX_CHAIN
 * steps; if it comes back to the caller, the cycle is closed now, by this
 * wait, and nothing else can ever end it.
 *
 * The report is one warning line per member: id, name, the call it waits
 * in, the object (a data symbol's name when dladdr knows one: -rdynamic)
 * and whom it waits for; the closing caller's backtrace (only its stack
 * is live; the others are as the dump shows them). The API's wait then
 * returns -EDEADLK, which ends the cycle; the preload's waits on, as the
 * native call would, and a member that re-waits (a spurious wake-up, a
 * deadline's loop) meets the same cycle again: a small table of the
 * cycles told (a hash of the members' ids and objects) keeps that to one
 * report. */
#include "cycle.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define MAX_CHAIN 32   /* members followed before giving up */
#define TOLD_N 16      /* cycles remembered as told (preload mode) */
#define FRAMES 16

/* What PARKED g waits for, or NULL. */
static const struct greenlet *awaits(const struct greenlet *g,
                                     const struct green__thread *t)
{
    if (g == NULL || g->thread != t || g->state != GREEN__PARKED) {
        return NULL;
    }
    if (g->wait_on != NULL) {
        return g->wait_on;
    }
    return green__wait_owner(g);
}

static unsigned long mix(unsigned long x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdUL;
    x ^= x >> 33;
    return x;
}

/* Whether the cycle with this signature was told already; marks it told.
 * Any OS thread may ask: a spin flag guards the table. */
static bool told(unsigned long sig)
{
    static unsigned long table[TOLD_N];
    static unsigned next;
    static int lock;
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) {
    }
    bool seen = false;
    for (unsigned i = 0; i < TOLD_N && !seen; i++) {
        seen = table[i] == sig;
    }
    if (!seen) {
        table[next] = sig;
        next = (next + 1) % TOLD_N;
    }
    __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    return seen;
}

/* "#3 "name"" (the name's bytes that are not printable as '?'). */
static void label(char *buf, size_t len, const struct greenlet *g)
{
    int n = snprintf(buf, len, "#%lu", g->id);
    if (g->name == NULL || n < 0 || (size_t)n >= len) {
        return;
    }
    size_t o = (size_t)n;
    if (o + 2 < len) {
        buf[o++] = ' ';
        buf[o++] = '"';
    }
    for (const char *s = g->name; *s != '\0' && o + 2 < len; s++) {
        unsigned char c = (unsigned char)*s;
        buf[o++] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
    }
    if (o + 1 < len) {
        buf[o++] = '"';
    }
    buf[o] = '\0';
}

/* The call's name: what without its trailing " on". */
static int call_len(const char *what)
{
    size_t n = what != NULL ? strlen(what) : 0;
    if (n > 3 && strcmp(what + n - 3, " on") == 0) {
        n -= 3;
    }
    return (int)n;
}

/* obj as "mutex_a (0x...)" where it is a data symbol's start, else "0x..". */
static void object_text(char *buf, size_t len, const void *obj)
{
    Dl_info di;
    if (obj != NULL && dladdr(obj, &di) != 0 && di.dli_sname != NULL &&
        di.dli_saddr == obj) {
        snprintf(buf, len, "%s (%p)", di.dli_sname, obj);
    } else {
        snprintf(buf, len, "%p", obj);
    }
}

/* The running caller's frames outside libgreen, as " <- "-joined text. */
static void backtrace_text(char *buf, size_t len)
{
    void *frames[FRAMES];
    int n = backtrace(frames, FRAMES);
    Dl_info self, di;
    const void *own = dladdr((void *)green__cycle_closes, &self) != 0
                          ? self.dli_fbase : NULL;
    size_t o = 0;
    buf[0] = '\0';
    int shown = 0;
    for (int i = 1; i < n && shown < 6 && o + 1 < len; i++) {
        const char *pc = (const char *)frames[i] - 1;
        if (dladdr(pc, &di) == 0 || di.dli_fbase == own) {
            continue; /* libgreen's own frames: the wait itself */
        }
        const char *obj = di.dli_fname != NULL ? strrchr(di.dli_fname, '/')
                                               : NULL;
        obj = obj != NULL ? obj + 1
                          : (di.dli_fname != NULL && di.dli_fname[0] != '\0'
                                 ? di.dli_fname : "program");
        int w;
        if (di.dli_sname != NULL && di.dli_saddr != NULL) {
            w = snprintf(buf + o, len - o, "%s%s+0x%lx (%s)",
                         shown > 0 ? " <- " : "", di.dli_sname,
                         (unsigned long)((const char *)frames[i] -
                                         (const char *)di.dli_saddr), obj);
        } else {
            w = snprintf(buf + o, len - o, "%s%s+0x%lx",
                         shown > 0 ? " <- " : "", obj,
                         (unsigned long)((const char *)frames[i] -
                                         (const char *)di.dli_fbase));
        }
        if (w < 0) {
            break;
        }
        o += (size_t)w;
        shown++;
    }
}

/* One member's line: who, the call, the object, whom it waits for. */
static void member(const struct greenlet *g, const char *what,
                   const void *obj, const struct greenlet *next, bool join,
                   const char *at)
{
    char who[96], whom[96], o[128];
    label(who, sizeof(who), g);
    label(whom, sizeof(whom), next);
    object_text(o, sizeof(o), obj);
    green__log(GREEN_LOG_WARNING, "  %s waits in %.*s on %s, %s %s%s%s",
               who, call_len(what), what != NULL ? what : "a wait", o,
               join ? "for the end of" : "held by", whom,
               at != NULL ? "; at " : "", at != NULL ? at : "");
}

bool green__cycle_closes(struct greenlet *self, const struct greenlet *awaited,
                         const char *what, const void *obj,
                         enum green__cycle_mode mode)
{
    const struct green__thread *t = self->thread;
    const struct greenlet *chain[MAX_CHAIN];
    size_t n = 0;
    for (const struct greenlet *g = awaited; g != self; g = awaits(g, t)) {
        if (g == NULL || n == MAX_CHAIN || g->thread != t ||
            g->state != GREEN__PARKED) {
            return false;
        }
        chain[n++] = g;
    }
    if (n == 0) {
        return false; /* waiting for itself: the sites' own EDEADLK */
    }
    if (mode == GREEN__CYCLE_WAIT) {
        unsigned long sig = mix(self->id ^ (unsigned long)obj);
        for (size_t i = 0; i < n; i++) {
            sig += mix(chain[i]->id ^ (unsigned long)chain[i]->wait_obj);
        }
        if (told(sig)) {
            return true;
        }
    }
    if (!green__log_on(GREEN_LOG_WARNING)) {
        return true;
    }
    char who[96], at[640];
    label(who, sizeof(who), self);
    green__log(GREEN_LOG_WARNING, "deadlock cycle: %zu green threads wait "
               "for each other, closed now by %s (%s):", n + 1, who,
               mode == GREEN__CYCLE_FAIL
                   ? "its wait fails with EDEADLK"
                   : "the program waits on, as it would natively");
    backtrace_text(at, sizeof(at));
    member(self, what, obj, awaited, self->wait_on != NULL,
           at[0] != '\0' ? at : NULL);
    for (size_t i = 0; i < n; i++) {
        const struct greenlet *g = chain[i];
        member(g, g->wait_what, g->wait_obj, i + 1 < n ? chain[i + 1] : self,
               g->wait_on != NULL, NULL);
    }
    return true;
}
