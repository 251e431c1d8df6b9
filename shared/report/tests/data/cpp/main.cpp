// Uses the templates of ring.hpp with two types, a lambda, an anonymous namespace, an operator
// and a C function, so the report has every kind of name gcc records.
#include <cstdio>

#include "ring.hpp"

namespace {
int twice(int x) { return 2 * x; }
}  // namespace

struct Meters {
    double v;
};

Meters operator+(Meters a, Meters b) { return Meters{a.v + b.v}; }

extern "C" int plain_c(int x) { return x + 1; }

void never_called(geo::Ring<long, 3>& r) { r.push(1); }

int other_sum(int n);

int main(int argc, char**) {
    geo::Ring<int, 4> r;
    for (int i = 0; i < 6; ++i) r.push(geo::clamp_to(i * argc, 1, 4));
    geo::Ring<double, 2> d;
    d.push(geo::clamp_to(2.5, 0.0, 1.0));
    int big = r.count_if([](int v) { return v > 2; });
    Meters m = Meters{1.0} + Meters{2.0};
    std::printf("%d %g %d %d %g %d\n", r.sum(), d.sum(), twice(plain_c(argc)), big, m.v,
                other_sum(argc + 4));
    return r.size() == 4 ? 0 : 1;
}
