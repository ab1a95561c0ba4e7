// Element i of a random tensor, shared by the CPU and CUDA fills so both give the same bits.
// kind 0: uniform in [lo, hi) (one word); 1: normal with mean lo, stddev hi (two words);
// 2: integers in [lo, hi) (two words).
#pragma once
#include "core/elementwise_math.h"
#include "core/philox.h"

namespace coil {

template <class T>
COIL_HD T random_value(uint64_t seed, uint64_t offset, uint64_t i, int kind, double lo, double hi) {
  if (kind == 0) {
    double u = philox::uniform(philox::word(seed, offset, i));
    double v = lo + (hi - lo) * u;
    return math::cast<T, double>(v < hi ? v : lo);
  }
  uint32_t w0 = philox::word(seed, offset, 2 * i), w1 = philox::word(seed, offset, 2 * i + 1);
  if (kind == 1) return math::cast<T, double>(lo + hi * philox::normal(w0, w1));
  uint64_t bits = (uint64_t(w0) << 32) | w1;
  uint64_t range = uint64_t(int64_t(hi) - int64_t(lo));
  return math::cast<T, int64_t>(int64_t(lo) + int64_t(bits % range));
}

}  // namespace coil
