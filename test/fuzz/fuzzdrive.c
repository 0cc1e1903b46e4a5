/* SPDX-License-Identifier: MIT */
/* The differential fuzzer's driver: runs fuzzprog for seed after seed,
 * natively and under LD_PRELOAD=libgreen.so, compares the two outputs
 * and exit statuses, and minimises every difference into a reproducer.
 *
 *   fuzzdrive --prog FUZZPROG --lib LIBGREEN_SO [--seconds S] [--seed N]
 *             [--count N] [--len L] [--flags LIST] [--timeout S]
 *             [--repro-dir DIR] [--meson FILE] [--known FILE]
 *             [--min-seconds S] [--verbose]
 *
 * Seeds go up from --seed (1) until --count programs ran or --seconds
 * (60) passed; each program has --len (60) operations of the families
 * --flags allows (fuzzprog's flags). The closing line is
 *   N programs, N differences
 * and the exit status is 1 if a difference was found that --known does
 * not list, 0 otherwise.
 *
 * A difference is: different standard output, or a different exit
 * status. Before anything is blamed on libgreen the native run is made
 * again: if the two native runs differ, the program is the fuzzer's
 * fault (counted as "native nondeterminism", never as a difference).
 * A program that fails natively (status 3: an operation never ended;
 * the fuzzer made a program that cannot finish) is counted as "invalid"
 * and skipped. A difference the same program does not show on a second
 * run under the preload is "flaky": reported, not counted (nothing to
 * minimise; most likely one of the engine's timing margins).
 *
 * Signature. What a difference is, in one line: the kind of the first
 * operation whose line differs, what it printed natively and what under
 * the preload ("READV: 0 -> STUCK"). --known FILE lists signatures
 * already reproduced (one per line: SIGNATURE, a tab, the reproducer's
 * name, a tab, what it shows); a difference with a known signature is
 * counted and reported but neither minimised again nor a failure. A
 * listed signature with a '*' is a pattern (fnmatch(3)): "FORK_WAIT:
 * exit * -> signal 11" is one difference whatever status the child
 * would have exited with.
 *
 * Minimising. Delta debugging (Zeller's ddmin) over the list of kept
 * operations: fuzzprog --keep replays any sublist deterministically
 * (an operation whose object is gone prints "skip"). A candidate counts
 * when it runs natively with status 0 and shows the same signature
 * under the preload. The first candidate tried is the prefix up to a
 * few operations past the first differing one. The result is confirmed
 * (native twice, identical; the preload still differs) and written as
 * DIR/fuzz_SEED.c, a stand-alone program that runs exactly those
 * operations through engine.c, and a line in --meson FILE (before the
 * marker line "# fuzzdrive: new reproducers above this line") so that
 * differential.sh runs it natively and under the preload, with
 * should_fail: true until the difference is fixed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *prog, *lib, *flags = "", *repro_dir, *meson_file,
                  *known_file;
static double timeout_s = 30, min_seconds = 600;
static int len = 60;
static bool verbose;
static char tmp[256];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- running one program ---------------------------------------------- */

struct run {
    int status;  /* exit code, 128 + signal, or 124 (killed by the limit) */
    char *out;   /* standard output */
    size_t len;
};

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    if (f == NULL) {
        return calloc(1, 1);
    }
    for (;;) {
        if (*n + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            buf = realloc(buf, cap);
            if (buf == NULL) {
                fclose(f);
                return NULL;
            }
        }
        size_t r = fread(buf + *n, 1, 4096, f);
        *n += r;
        if (r == 0) {
            break;
        }
    }
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

/* Starts fuzzprog SEED LEN [--flags F] [--keep K], natively or preloaded,
 * with stdout into tmp/NAME.out. */
static pid_t start(unsigned long seed, const char *keep, bool preload,
                   const char *name)
{
    char seed_s[32], len_s[16], out[300], err[300];
    snprintf(seed_s, sizeof(seed_s), "%lu", seed);
    snprintf(len_s, sizeof(len_s), "%d", len);
    snprintf(out, sizeof(out), "%s/%s.out", tmp, name);
    snprintf(err, sizeof(err), "%s/%s.err", tmp, name);
    pid_t pid = fork();
    if (pid != 0) {
        return pid;
    }
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0) {
        _exit(126);
    }
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    setpgid(0, 0);
    const char *argv[10];
    int a = 0;
    argv[a++] = prog;
    argv[a++] = seed_s;
    argv[a++] = len_s;
    if (flags[0] != '\0') {
        argv[a++] = "--flags";
        argv[a++] = flags;
    }
    if (keep != NULL) {
        argv[a++] = "--keep";
        argv[a++] = keep;
    }
    argv[a] = NULL;
    if (preload) {
        const char *pre = getenv("GREEN_TEST_PRELOAD");
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s%s%s", pre && *pre ? pre : "",
                 pre && *pre ? ":" : "", lib);
        setenv("LD_PRELOAD", buf, 1);
    } else {
        unsetenv("LD_PRELOAD");
    }
    execv(prog, (char *const *)argv);
    _exit(127);
}

/* Waits for pids[0..n) (killing any past the limit) into runs[]. */
static void finish(pid_t *pids, const char **names, struct run *runs, int n)
{
    double end = now() + timeout_s;
    int left = n;
    for (int i = 0; i < n; i++) {
        runs[i].status = -1;
    }
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            if (runs[i].status != -1) {
                continue;
            }
            int st;
            pid_t w = waitpid(pids[i], &st, WNOHANG);
            if (w == pids[i]) {
                runs[i].status = WIFEXITED(st) ? WEXITSTATUS(st)
                                               : 128 + WTERMSIG(st);
                left--;
            } else if (now() > end) {
                kill(-pids[i], SIGKILL);
                kill(pids[i], SIGKILL);
                waitpid(pids[i], &st, 0);
                runs[i].status = 124;
                left--;
            }
        }
        if (left > 0) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        char path[300];
        snprintf(path, sizeof(path), "%s/%s.out", tmp, names[i]);
        runs[i].out = slurp(path, &runs[i].len);
    }
}

static void run_free(struct run *r)
{
    free(r->out);
    r->out = NULL;
}

/* Runs the program natively and preloaded, at the same time (the
 * engine's margins are wide enough for a second process beside it). */
static void run_pair(unsigned long seed, const char *keep, struct run *nat,
                     struct run *pre)
{
    const char *names[2] = {"native", "preload"};
    pid_t pids[2] = {start(seed, keep, false, names[0]),
                     start(seed, keep, true, names[1])};
    struct run runs[2];
    finish(pids, names, runs, 2);
    *nat = runs[0];
    *pre = runs[1];
}

static void run_one(unsigned long seed, const char *keep, bool preload,
                    struct run *r)
{
    const char *names[1] = {preload ? "preload1" : "native1"};
    pid_t pid = start(seed, keep, preload, names[0]);
    finish(&pid, names, r, 1);
}

static bool same(const struct run *a, const struct run *b)
{
    return a->status == b->status && a->len == b->len &&
           memcmp(a->out, b->out, a->len) == 0;
}

/* ---- signatures -------------------------------------------------------- */

/* Line i of out (0-based) into buf, or "" past the end; false then. */
static bool line_at(const char *out, int i, char *buf, size_t n)
{
    const char *p = out;
    for (int k = 0; k < i && p != NULL; k++) {
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    if (p == NULL || *p == '\0') {
        buf[0] = '\0';
        return false;
    }
    size_t l = strcspn(p, "\n");
    if (l >= n) {
        l = n - 1;
    }
    memcpy(buf, p, l);
    buf[l] = '\0';
    return true;
}

/* A line "IDX tT KIND sS.E   RESULT": its kind and its result. */
static void split_line(const char *line, char *kind, char *result, int *idx)
{
    kind[0] = result[0] = '\0';
    *idx = -1;
    if (strncmp(line, "STUCK ", 6) == 0) {
        int t;
        char k[40];
        if (sscanf(line + 6, "%d t%d %39s", idx, &t, k) == 3) {
            size_t kl = strcspn(k, ":");
            memcpy(kind, k, kl);
            kind[kl] = '\0';
        }
        strcpy(result, "STUCK");
        return;
    }
    int t;
    char k[40], obj[40];
    int used = 0;
    if (sscanf(line, "%d t%d %39s %39s %n", idx, &t, k, obj, &used) >= 4 &&
        used > 0) {
        strcpy(kind, k);
        snprintf(result, 100, "%s", line + used);
    } else {
        snprintf(kind, 40, "-");
        snprintf(result, 100, "%s", line);
    }
}

/* The signature of a difference, and the index of its first differing
 * operation (-1 if none). */
static int signature(const struct run *nat, const struct run *pre, char *sig,
                     size_t n)
{
    /* An operation that never ended under the preload: that one (its
     * line comes before those of operations still outstanding). */
    const char *st = strstr(pre->out, "\nSTUCK ");
    if (st != NULL) {
        char l[512], k[40], r[100];
        int idx;
        line_at(st + 1, 0, l, sizeof(l));
        split_line(l, k, r, &idx);
        for (int i = 0; idx >= 0; i++) {
            char a[512], ka[40], ra[100];
            int ia;
            if (!line_at(nat->out, i, a, sizeof(a))) {
                break;
            }
            split_line(a, ka, ra, &ia);
            if (ia == idx && strncmp(a, "STUCK", 5) != 0) {
                snprintf(sig, n, "%s: %s -> STUCK", k, ra);
                return idx;
            }
        }
    }
    for (int i = 0;; i++) {
        char a[512], b[512];
        bool ha = line_at(nat->out, i, a, sizeof(a));
        bool hb = line_at(pre->out, i, b, sizeof(b));
        if (!ha && !hb) {
            snprintf(sig, n, "status: %d -> %d", nat->status, pre->status);
            return -1;
        }
        if (ha && hb && strcmp(a, b) == 0) {
            continue;
        }
        char ka[40], ra[100], kb[40], rb[100];
        int ia, ib;
        split_line(a, ka, ra, &ia);
        split_line(b, kb, rb, &ib);
        if (!hb) {
            snprintf(rb, sizeof(rb), "died (status %d)", pre->status);
        }
        snprintf(sig, n, "%s: %s -> %s", ka[0] ? ka : kb, ha ? ra : "<end>",
                 rb);
        return ia >= 0 ? ia : ib;
    }
}

static bool known(const char *sig, char *name, size_t n)
{
    if (known_file == NULL) {
        return false;
    }
    FILE *f = fopen(known_file, "r");
    if (f == NULL) {
        return false;
    }
    char line[1024];
    bool hit = false;
    while (!hit && fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        char *tab = strchr(line, '\t');
        if (tab == NULL) {
            continue;
        }
        *tab = '\0';
        if (strcmp(line, sig) == 0 ||
            (strchr(line, '*') != NULL && fnmatch(line, sig, 0) == 0)) {
            hit = true;
            char *rest = tab + 1;
            size_t l = strcspn(rest, "\t\n");
            snprintf(name, n, "%.*s", (int)l, rest);
        }
    }
    fclose(f);
    return hit;
}

/* ---- minimising ----------------------------------------------------- */

static int tests_run;

/* "0-3,7" for the sorted indices v[0..n). */
static char *keep_string(const int *v, int n)
{
    size_t cap = (size_t)n * 12 + 2;
    char *s = malloc(cap);
    size_t k = 0;
    s[0] = '\0';
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1) {
            j++;
        }
        k += (size_t)snprintf(s + k, cap - k, "%s%d", k ? "," : "", v[i]);
        if (j > i) {
            k += (size_t)snprintf(s + k, cap - k, "-%d", v[j]);
        }
        i = j + 1;
    }
    if (n == 0) {
        /* an empty list: keep an index no program has */
        snprintf(s, cap, "%d", 99999);
    }
    return s;
}

/* Whether the sublist v[0..n) shows the difference `sig`. */
static bool shows(unsigned long seed, const int *v, int n, const char *sig)
{
    char *keep = keep_string(v, n);
    struct run nat, pre;
    run_pair(seed, keep, &nat, &pre);
    tests_run++;
    bool hit = false;
    if (nat.status == 0 && !same(&nat, &pre)) {
        char s[512];
        signature(&nat, &pre, s, sizeof(s));
        hit = strcmp(s, sig) == 0;
    }
    if (verbose) {
        say("fuzz:   try %d ops (%s): %s\n", n, keep, hit ? "yes" : "no");
    }
    run_free(&nat);
    run_free(&pre);
    free(keep);
    return hit;
}

/* ddmin: the smallest sublist of v[0..*n) found that still shows sig. */
static void ddmin(unsigned long seed, int *v, int *n, const char *sig,
                  double deadline)
{
    int *c = malloc((size_t)*n * sizeof(int));
    int chunks = 2;
    while (*n >= 2 && now() < deadline) {
        bool reduced = false;
        int size = (*n + chunks - 1) / chunks;
        /* each chunk alone, then each complement */
        for (int pass = 0; pass < 2 && !reduced; pass++) {
            for (int i = 0; i < chunks && !reduced && now() < deadline; i++) {
                int lo = i * size, hi = lo + size > *n ? *n : lo + size;
                if (lo >= hi) {
                    continue;
                }
                int m = 0;
                for (int k = 0; k < *n; k++) {
                    bool in = k >= lo && k < hi;
                    if (pass == 0 ? in : !in) {
                        c[m++] = v[k];
                    }
                }
                if (m == 0 || m == *n || !shows(seed, c, m, sig)) {
                    continue;
                }
                memcpy(v, c, (size_t)m * sizeof(int));
                *n = m;
                chunks = pass == 0 ? 2 : (chunks - 1 < 2 ? 2 : chunks - 1);
                reduced = true;
            }
        }
        if (!reduced) {
            if (chunks >= *n) {
                break;
            }
            chunks = chunks * 2 > *n ? *n : chunks * 2;
        }
    }
    free(c);
}

/* ---- writing a reproducer --------------------------------------------- */

static void c_comment_line(FILE *f, const char *text)
{
    /* No comment terminator inside a comment. */
    fputs(" *   ", f);
    for (const char *p = text; *p; p++) {
        if (p[0] == '*' && p[1] == '/') {
            fputs("* /", f);
            p++;
        } else {
            fputc(*p, f);
        }
    }
    fputc('\n', f);
}

static int write_repro(unsigned long seed, const char *keep, const char *sig,
                       const struct run *nat, const struct run *pre, int first,
                       int nkept)
{
    char path[512], cmd[2048], name[64];
    /* fuzz_SEED, or fuzz_SEED_N when a reproducer of that seed (made by
     * an earlier generator) is there already. */
    snprintf(name, sizeof(name), "fuzz_%lu", seed);
    snprintf(path, sizeof(path), "%s/%s.c", repro_dir, name);
    for (int k = 2; access(path, F_OK) == 0 && k < 100; k++) {
        snprintf(name, sizeof(name), "fuzz_%lu_%d", seed, k);
        snprintf(path, sizeof(path), "%s/%s.c", repro_dir, name);
    }
    snprintf(cmd, sizeof(cmd), "'%s' %lu %d %s%s%s --keep '%s' --table", prog,
             seed, len, flags[0] ? "--flags '" : "", flags,
             flags[0] ? "'" : "", keep);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    char line[512];
    int threads = 1;
    if (fgets(line, sizeof(line), p) == NULL ||
        sscanf(line, "threads=%d", &threads) != 1) {
        pclose(p);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        pclose(p);
        return -1;
    }
    fprintf(f, "/* SPDX-License-Identifier: MIT */\n");
    fprintf(f, "/* A difference the fuzzer found, minimised (written by "
               "test/fuzz/fuzzdrive):\n"
               " * seed %lu, length %d, flags '%s', operations %s of the "
               "generated\n * program (%d of them), %d thread%s.\n *\n",
            seed, len, flags, keep, nkept, threads, threads == 1 ? "" : "s");
    fprintf(f, " * Signature:\n");
    c_comment_line(f, sig);
    fprintf(f, " * The first line that differs, natively and under the "
               "preload:\n");
    char a[512], b[512];
    int ln = 0;
    for (int i = 0;; i++) {
        bool ha = line_at(nat->out, i, a, sizeof(a));
        bool hb = line_at(pre->out, i, b, sizeof(b));
        if (!ha && !hb) {
            break;
        }
        if (!(ha && hb && strcmp(a, b) == 0)) {
            ln = i;
            break;
        }
    }
    line_at(nat->out, ln, a, sizeof(a));
    if (!line_at(pre->out, ln, b, sizeof(b))) {
        snprintf(b, sizeof(b), "(nothing: status %d)", pre->status);
    }
    c_comment_line(f, a);
    c_comment_line(f, b);
    (void)first;
    fprintf(f,
            " *\n * The operations run through test/fuzz/engine.c, which "
            "prints one line\n * each; differential.sh runs this natively "
            "and under the preload and\n * requires the same bytes "
            "(test/legacy/meson.build). What each field\n * means: "
            "test/fuzz/engine.h. */\n");
    fprintf(f, "#include \"../fuzz/engine.h\"\n\n#include <string.h>\n\n");
    fprintf(f, "static const struct fuzz_op ops[] = {\n"
               "    /* idx, kind, thread, s, e, s2, e2, a, b, c */\n");
    while (fgets(line, sizeof(line), p) != NULL) {
        fputs(line, f);
    }
    pclose(p);
    unsigned fl = 0;
    fprintf(f, "};\n\nint main(int argc, char **argv)\n{\n"
               "    if (argc > 1 && strcmp(argv[1], \"list\") == 0) {\n"
               "        return 0; /* one group: the whole program */\n"
               "    }\n"
               "    unsigned flags = 0;\n"
               "    fuzz_parse_flags(\"%s\", &flags);\n"
               "    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), "
               "%d, flags);\n}\n",
            flags, threads);
    (void)fl;
    fclose(f);
    say("fuzz: seed %lu: wrote %s\n", seed, path);
    if (meson_file == NULL) {
        return 0;
    }
    /* The line in the reproducers' list of test/legacy/meson.build. */
    size_t n;
    char *m = slurp(meson_file, &n);
    const char *marker = "# fuzzdrive: new reproducers above this line";
    char *at = m ? strstr(m, marker) : NULL;
    if (at == NULL) {
        say("fuzz: %s has no line '%s': add the reproducer by hand\n",
            meson_file, marker);
        free(m);
        return 0;
    }
    while (at > m && at[-1] != '\n') {
        at--;
    }
    char entry[700];
    char clean[400];
    size_t k = 0;
    for (const char *s = sig; *s && k < sizeof(clean) - 1; s++) {
        clean[k++] = *s == '\'' ? '"' : *s;
    }
    clean[k] = '\0';
    snprintf(entry, sizeof(entry), "  ['%s', true],  # %s\n", name, clean);
    if (strstr(m, entry) == NULL) {
        FILE *w = fopen(meson_file, "w");
        if (w != NULL) {
            fwrite(m, 1, (size_t)(at - m), w);
            fputs(entry, w);
            fputs(at, w);
            fclose(w);
            say("fuzz: seed %lu: added to %s\n", seed, meson_file);
        }
    }
    free(m);
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: fuzzdrive --prog FUZZPROG --lib LIBGREEN_SO [--seconds S] "
            "[--seed N] [--count N]\n"
            "                 [--len L] [--flags LIST] [--timeout S] "
            "[--repro-dir DIR] [--meson FILE]\n"
            "                 [--known FILE] [--min-seconds S] [--verbose]\n");
    return 2;
}

static void cleanup(void)
{
    if (tmp[0] != '\0') {
        static const char *const names[] = {"native", "preload", "native1",
                                            "preload1"};
        char path[300];
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof(path), "%s/%s.out", tmp, names[i]);
            unlink(path);
            snprintf(path, sizeof(path), "%s/%s.err", tmp, names[i]);
            unlink(path);
        }
        rmdir(tmp);
    }
}

int main(int argc, char **argv)
{
    double seconds = 60;
    unsigned long seed = 1, count = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        }
        if (v == NULL) {
            return usage();
        }
        i++;
        if (strcmp(a, "--prog") == 0) prog = v;
        else if (strcmp(a, "--lib") == 0) lib = v;
        else if (strcmp(a, "--seconds") == 0) seconds = atof(v);
        else if (strcmp(a, "--seed") == 0) seed = strtoul(v, NULL, 10);
        else if (strcmp(a, "--count") == 0) count = strtoul(v, NULL, 10);
        else if (strcmp(a, "--len") == 0) len = atoi(v);
        else if (strcmp(a, "--flags") == 0) flags = v;
        else if (strcmp(a, "--timeout") == 0) timeout_s = atof(v);
        else if (strcmp(a, "--repro-dir") == 0) repro_dir = v;
        else if (strcmp(a, "--meson") == 0) meson_file = v;
        else if (strcmp(a, "--known") == 0) known_file = v;
        else if (strcmp(a, "--min-seconds") == 0) min_seconds = atof(v);
        else return usage();
    }
    if (prog == NULL || lib == NULL) {
        return usage();
    }
    snprintf(tmp, sizeof(tmp), "%s/fuzzdrive.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        perror("fuzzdrive: mkdtemp");
        return 2;
    }
    atexit(cleanup);
    say("fuzz: %s, seeds from %lu, %s%lu programs or %.0f s, %d operations "
        "each, flags '%s'\n",
        prog, seed, count ? "" : "up to ", count ? count : 0UL, seconds, len,
        flags);
    double start_t = now();
    unsigned long programs = 0, diffs = 0, fresh = 0, invalid = 0, nondet = 0,
                  flaky = 0;
    char seen[64][512];
    int nseen = 0;
    for (unsigned long s = seed;; s++) {
        if (count ? programs >= count : now() - start_t >= seconds) {
            break;
        }
        struct run nat, pre;
        run_pair(s, NULL, &nat, &pre);
        programs++;
        if (nat.status != 0) {
            invalid++;
            if (verbose) {
                say("fuzz: seed %lu: fails natively (status %d): skipped\n",
                    s, nat.status);
            }
            run_free(&nat);
            run_free(&pre);
            continue;
        }
        if (same(&nat, &pre)) {
            run_free(&nat);
            run_free(&pre);
            if (verbose || programs % 50 == 0) {
                say("fuzz: %lu programs, %lu differences (%.0f s)\n",
                    programs, diffs, now() - start_t);
            }
            continue;
        }
        struct run again;
        run_one(s, NULL, false, &again);
        if (!same(&nat, &again)) {
            nondet++;
            char sig[512];
            signature(&nat, &again, sig, sizeof(sig));
            say("fuzz: seed %lu: two native runs differ (%s): the fuzzer's "
                "fault, skipped\n", s, sig);
            run_free(&nat);
            run_free(&pre);
            run_free(&again);
            continue;
        }
        run_free(&again);
        char sig[512], name[256];
        int first = signature(&nat, &pre, sig, sizeof(sig));
        /* A difference that the same program does not show again under
         * the preload is reported, not counted: nothing to minimise, and
         * most likely a timing margin of the engine's, not libgreen. */
        struct run pre2;
        run_one(s, NULL, true, &pre2);
        bool again_differs = !same(&nat, &pre2);
        run_free(&pre2);
        if (!again_differs) {
            flaky++;
            say("fuzz: seed %lu: a difference that did not come again (%s): "
                "flaky, not counted\n", s, sig);
            run_free(&nat);
            run_free(&pre);
            continue;
        }
        diffs++;
        if (known(sig, name, sizeof(name))) {
            say("fuzz: seed %lu: known difference (%s): %s\n", s, name, sig);
            run_free(&nat);
            run_free(&pre);
            continue;
        }
        fresh++;
        bool dup = false;
        for (int i = 0; i < nseen; i++) {
            dup = dup || strcmp(seen[i], sig) == 0;
        }
        say("fuzz: seed %lu: DIFFERENCE %s\n", s, sig);
        if (dup || repro_dir == NULL) {
            if (dup) {
                say("fuzz: seed %lu: same signature as an earlier seed: not "
                    "minimised again\n", s);
            }
            run_free(&nat);
            run_free(&pre);
            continue;
        }
        if (nseen < 64) {
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", sig);
        }
        /* ops=N from the header line */
        int total = 0;
        const char *h = strstr(nat.out, " ops=");
        if (h != NULL) {
            total = atoi(h + 5);
        }
        int *v = malloc((size_t)(total + 1) * sizeof(int));
        int nv = total;
        for (int i = 0; i < total; i++) {
            v[i] = i;
        }
        tests_run = 0;
        double t0 = now();
        /* First the prefix just past the first differing operation. */
        if (first >= 0 && first + 4 < total) {
            int cut = first + 4;
            if (shows(s, v, cut, sig)) {
                nv = cut;
            }
        }
        ddmin(s, v, &nv, sig, now() + min_seconds);
        char *keep = keep_string(v, nv);
        /* Confirm: native twice the same, the preload still differs. */
        struct run n1, n2, p1;
        run_one(s, keep, false, &n1);
        run_one(s, keep, false, &n2);
        run_one(s, keep, true, &p1);
        bool ok = n1.status == 0 && same(&n1, &n2) && !same(&n1, &p1);
        say("fuzz: seed %lu: minimised %d -> %d operations (--keep %s) in "
            "%d runs, %.0f s%s\n",
            s, total, nv, keep, tests_run, now() - t0,
            ok ? "" : "; NOT confirmed (flaky), no reproducer written");
        if (ok) {
            char msig[512];
            signature(&n1, &p1, msig, sizeof(msig));
            write_repro(s, keep, sig, &n1, &p1, first, nv);
        }
        run_free(&n1);
        run_free(&n2);
        run_free(&p1);
        free(keep);
        free(v);
        run_free(&nat);
        run_free(&pre);
    }
    if (invalid || nondet || flaky) {
        say("fuzz: %lu programs failed natively, %lu ran differently twice "
            "natively, %lu differed once under the preload only (all "
            "skipped)\n", invalid, nondet, flaky);
    }
    say("%lu programs, %lu differences\n", programs, diffs);
    if (diffs > fresh) {
        say("fuzz: %lu of the differences are known (%s)\n", diffs - fresh,
            known_file);
    }
    return fresh > 0 ? 1 : 0;
}
