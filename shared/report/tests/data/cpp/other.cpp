// A second translation unit with the same template instances as main.cpp: each unit has its own
// copy of their counters, and the report sums them as gcov does.
#include "ring.hpp"

int other_sum(int n) {
    geo::Ring<int, 4> r;
    for (int i = 0; i < n; ++i) r.push(geo::clamp_to(i, 0, 2));
    return r.sum();
}
