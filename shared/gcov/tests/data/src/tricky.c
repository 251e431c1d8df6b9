#include <setjmp.h>
#include <stdlib.h>
#include "tricky.h"

/* Two functions generated on one line: gcov "group functions". */
#define MAKE(name, k) static int name(int x) { if (x > 3) return x * k; return k; }
MAKE(f1, 2) MAKE(f2, 3)

int other(int);

static jmp_buf jb;
static void jumper(int n) { if (n > 2) longjmp(jb, 1); }

static int never(int x)
{
    return x * 7; /* LCOV_EXCL_LINE */
}

int main(int argc, char **argv)
{
    int s = 0;
    for (int i = 0; i < 10; i++) {
        s += f1(i) + f2(i);
        if (i % 3 == 0)
            s += helper(i);
    }
    if (setjmp(jb) == 0) {
        for (int k = 0; k < 5; k++)
            jumper(k);
    }
    int n = argc > 1 ? atoi(argv[1]) : 3;
    while (s > 100) s /= 2;
    switch (n) {
    case 1: s++; break;
    case 2: s--; break;
    default: s += other(n);
    }
    if (s == -1) s = never(s);
    return s == 12345;
}
