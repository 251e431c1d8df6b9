/* Code in a header, counted from two translation units. */
static inline int helper(int x)
{
    int r = 0;
    for (int i = 0; i < x; i++) r += i; /* a loop on one line */
    return r;
}
