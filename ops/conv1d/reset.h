// Tap ranges of the causal conv when packed sequences restart at `reset` positions, shared by
// the CPU and CUDA kernels. reset_row is reset[b, :] (length L) or null (one sequence per row).
#pragma once
#include <cstdint>

#include "core/dtype.h"  // COIL_HD

namespace coil::conv1d_detail {

// First tap k of out[t] (input time t - (K-1) + k) that lies inside t's sequence: not before
// time 0, nor before the latest reset at or before t.
COIL_HD int64_t first_tap(int64_t t, int64_t K, const bool* reset_row) {
  int64_t lo = t - (K - 1) < 0 ? 0 : t - (K - 1);
  if (reset_row != nullptr)
    for (int64_t s = t; s > lo; --s)
      if (reset_row[s]) {
        lo = s;
        break;
      }
  return lo - (t - (K - 1));
}

// Last output time that reads input time s: not after L-1, nor at or after the next reset.
COIL_HD int64_t last_reader(int64_t s, int64_t K, int64_t L, const bool* reset_row) {
  int64_t hi = s + K - 1 < L - 1 ? s + K - 1 : L - 1;
  if (reset_row != nullptr)
    for (int64_t t = s + 1; t <= hi; ++t)
      if (reset_row[t]) {
        hi = t - 1;
        break;
      }
  return hi;
}

}  // namespace coil::conv1d_detail
