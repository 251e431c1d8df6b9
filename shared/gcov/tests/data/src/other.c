#include "tricky.h"

int other(int n)
{
    int t = 0;
    do { t += helper(n); n--; } while (n > 0); /* GCOVR_EXCL_START */
    return t;
} /* GCOVR_EXCL_STOP */
