/* SPDX-License-Identifier: MIT */
/* Two greenlets switching to each other, the classic greenlet example.
 * gr1 prints 1 and 2, gr2 prints 3 and 4; switching back and forth
 * interleaves them as 1 3 2 4. Each switch carries a value to the other
 * side, and a greenlet that returns hands its result to its parent (main). */
#include <green.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static greenlet_t *gr1, *gr2;

static void *must(int r, void *value, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        exit(1);
    }
    return value;
}

/* Switches to `to` with msg; returns the text the next switch back
 * carries. */
static const char *say(greenlet_t *to, const char *msg)
{
    void *back = NULL;
    must(greenlet_switch(to, (void *)msg, &back), NULL, "switch");
    return back != NULL ? back : "(nothing)";
}

static void *test1(void *arg)
{
    printf("1  gr1 starts with \"%s\"\n", (const char *)arg);
    const char *got = say(gr2, "hello from gr1");
    printf("2  gr1 resumed with \"%s\"\n", got);
    got = say(gr2, "bye from gr1");
    printf("   gr1 resumed by main with \"%s\"\n", got);
    return "gr1's result";
}

static void *test2(void *arg)
{
    printf("3  gr2 starts with \"%s\"\n", (char *)arg);
    const char *got = say(gr1, "hello from gr2");
    printf("4  gr2 resumed with \"%s\"\n", got);
    return "gr2's result"; /* goes to gr2's parent: main */
}

int main(void)
{
    must(greenlet_new(&gr1, test1, NULL, 0), NULL, "greenlet_new");
    must(greenlet_new(&gr2, test2, NULL, 0), NULL, "greenlet_new");
    const char *r = say(gr1, "go");
    printf("   main got \"%s\" (gr2 dead: %s)\n", r,
           greenlet_dead(gr2) ? "yes" : "no");
    r = say(gr1, "finish");
    printf("   main got \"%s\" (gr1 dead: %s)\n", r,
           greenlet_dead(gr1) ? "yes" : "no");
    greenlet_free(gr1);
    greenlet_free(gr2);
    return 0;
}
