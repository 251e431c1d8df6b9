// A header of templates, as C++ daemons have them: each instance is its own function, counted
// in every translation unit that uses it.
#pragma once

#include <cstddef>

namespace geo {

template <typename T>
T clamp_to(T v, T lo, T hi) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
}

template <typename T, std::size_t N>
class Ring {
public:
    void push(const T& v) {
        items_[head_] = v;
        head_ = (head_ + 1) % N;
        if (size_ < N) ++size_;
    }

    T sum() const {
        T s{};
        for (std::size_t i = 0; i < size_; ++i) s += items_[i];
        return s;
    }

    template <typename F>
    int count_if(F pred) const {
        int n = 0;
        for (std::size_t i = 0; i < size_; ++i)
            if (pred(items_[i])) ++n;
        return n;
    }

    std::size_t size() const { return size_; }

private:
    T items_[N]{};
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace geo
