// OpenMP drivers for elementwise kernels: split the flat index range into chunks, one per thread,
// and walk each chunk in runs along the innermost dimension with per-operand strides.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "core/strided_loop.h"

namespace coil::cpu {

inline constexpr int64_t kParallelGrain = 32768;  // below this, threads cost more than they save

// Calls f(const int64_t* offsets, int64_t n) once per run of n consecutive elements along the
// innermost dimension; offsets[k] is operand k's first element, which then steps by
// L.strides[k][L.ndim - 1]. Kernels test those strides once per run, so the common contiguous
// case becomes a plain loop the compiler vectorises.
template <int N, class F>
void for_each_run(const StridedLoop<N>& L, F&& f) {
  if (L.numel <= 0) return;
  const int nd = L.ndim;
  const int64_t inner = L.sizes[nd - 1];
  auto run_chunk = [&](int64_t begin, int64_t end) {
    int64_t idx[kMaxDims];
    int64_t off[N];
    int64_t rem = begin;
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = nd - 1; d >= 0; --d) {
      idx[d] = rem % L.sizes[d];
      rem /= L.sizes[d];
      for (int k = 0; k < N; ++k) off[k] += idx[d] * L.strides[k][d];
    }
    int64_t i = begin;
    while (i < end) {
      int64_t run = std::min(end - i, inner - idx[nd - 1]);
      f(static_cast<const int64_t*>(off), run);
      i += run;
      // advance the odometer by `run` along the innermost dim, carrying outward
      for (int k = 0; k < N; ++k) off[k] += run * L.strides[k][nd - 1];
      idx[nd - 1] += run;
      for (int d = nd - 1; d > 0 && idx[d] == L.sizes[d]; --d) {
        for (int k = 0; k < N; ++k) off[k] += L.strides[k][d - 1] - L.sizes[d] * L.strides[k][d];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  };
  if (L.numel < kParallelGrain || omp_in_parallel()) {
    run_chunk(0, L.numel);
    return;
  }
#pragma omp parallel
  {
    // Chunks are multiples of 16 elements so contiguous runs start on 64-byte boundaries.
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t chunk = ((L.numel + nt - 1) / nt + 15) / 16 * 16;
    int64_t b = std::min(L.numel, t * chunk), e = std::min(L.numel, b + chunk);
    if (b < e) run_chunk(b, e);
  }
}

// Calls f(const int64_t* offsets) once per element; offsets[k] is operand k's element offset.
template <int N, class F>
void for_each_element(const StridedLoop<N>& L, F&& f) {
  for_each_run(L, [&](const int64_t* off, int64_t n) {
    int64_t cur[N];
    for (int k = 0; k < N; ++k) cur[k] = off[k];
    for (int64_t j = 0; j < n; ++j) {
      f(static_cast<const int64_t*>(cur));
      for (int k = 0; k < N; ++k) cur[k] += L.strides[k][L.ndim - 1];
    }
  });
}

// Sum of f(i) over i in [0, n), in double, over 8 interleaved partial sums: a fixed order that
// depends only on n and that the compiler vectorises (a single running sum cannot be reordered).
template <class F>
double lane_sum(int64_t n, F&& f) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += f(i + k);
  for (int k = 0; i < n; ++i, ++k) acc[k] += f(i);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Parallel loop over [0, n) for kernels that do their own indexing.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
#pragma omp parallel for schedule(static) if (n > grain && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace coil::cpu
