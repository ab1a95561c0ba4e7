// Building blocks of the fused row kernels (softmax, log_softmax, cross_entropy): a warp per row
// for short rows, a block per row for long ones; 16-byte vector accesses after a scalar head up
// to the first aligned column; fixed-shape reductions (no atomics), so results are bitwise
// reproducible.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/cuda/launch.cuh"

namespace coil::cuda::rows {

template <class T, int W>
struct alignas(sizeof(T) * W) Pack {
  static constexpr int kWidth = W;
  T v[W];
};

template <class T>
inline constexpr int kVec = 16 / int(sizeof(T));  // elements per 16-byte access

// Launch shapes. Short rows: a warp each, 8 rows per 256-thread block. Long rows: one 512-thread
// block each (a few blocks per SM keep enough 16-byte loads in flight to saturate HBM).
struct WarpPerRow {
  static constexpr int kRowThreads = 32, kBlock = 256;
};
struct BlockPerRow {
  static constexpr int kRowThreads = 512, kBlock = 512;
};
inline constexpr int64_t kWarpMaxCols = 1024;

template <class P>
struct Group {
  static constexpr int kRowsPerBlock = P::kBlock / P::kRowThreads;
  __device__ static int lane() { return int(threadIdx.x) % P::kRowThreads; }
  __device__ static int64_t row() {
    return int64_t(blockIdx.x) * kRowsPerBlock + int64_t(threadIdx.x) / P::kRowThreads;
  }
  static unsigned blocks(int64_t rows) {
    return unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  }
};

// True when every pointer has the same offset from a 16-byte boundary, so one scalar head per
// row aligns all of them (rows start at the same column in each array).
inline bool same_alignment(std::initializer_list<const void*> ptrs) {
  uintptr_t first = reinterpret_cast<uintptr_t>(*ptrs.begin()) % 16;
  for (const void* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != first) return false;
  return true;
}

__device__ __forceinline__ float fast_exp(float x) { return __expf(x); }
__device__ __forceinline__ double fast_exp(double x) { return ::exp(x); }
__device__ __forceinline__ float precise_log(float x) { return ::logf(x); }
__device__ __forceinline__ double precise_log(double x) { return ::log(x); }

// Running max and sum of exp(x - max) (online softmax statistics).
template <class T>
struct MaxSum {
  T m, s;
};

template <class T>
__device__ __forceinline__ MaxSum<T> max_sum_identity() {
  return {-std::numeric_limits<T>::infinity(), T(0)};
}

// Folds W values into the running statistics: one rescale per chunk, not per element. While the
// max is still -inf nothing is added (exp(-inf - -inf) would be NaN; those terms are 0 anyway).
// NaN inputs make the sum NaN, so they propagate to every output of the row.
template <class T, int W>
__device__ __forceinline__ void absorb(MaxSum<T>& a, const T (&v)[W]) {
  T cm = v[0];
#pragma unroll
  for (int k = 1; k < W; ++k) cm = fmax(cm, v[k]);
  if (cm > a.m) {
    a.s *= fast_exp(a.m - cm);
    a.m = cm;
  }
  if (a.m != -std::numeric_limits<T>::infinity()) {
#pragma unroll
    for (int k = 0; k < W; ++k) a.s += fast_exp(v[k] - a.m);
  }
}

struct CombineMaxSum {
  template <class T>
  __device__ __forceinline__ MaxSum<T> operator()(MaxSum<T> a, MaxSum<T> b) const {
    T m = fmax(a.m, b.m);
    if (m == -std::numeric_limits<T>::infinity()) return a;
    return {m, a.s * fast_exp(a.m - m) + b.s * fast_exp(b.m - m)};
  }
};

struct Plus {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

template <class T>
__device__ __forceinline__ T shfl_down(T v, int d) {
  return __shfl_down_sync(0xffffffffu, v, d);
}
template <class T>
__device__ __forceinline__ MaxSum<T> shfl_down(MaxSum<T> v, int d) {
  return {shfl_down(v.m, d), shfl_down(v.s, d)};
}
template <class T>
__device__ __forceinline__ T shfl_first(T v) {
  return __shfl_sync(0xffffffffu, v, 0);
}
template <class T>
__device__ __forceinline__ MaxSum<T> shfl_first(MaxSum<T> v) {
  return {shfl_first(v.m), shfl_first(v.s)};
}

// Reduces v over the threads of one row with `op` in a fixed tree and gives every one of them
// the result. Block rows pass warp partials through `smem` (kBlock / 32 entries): every thread
// of the block must call this, including threads of rows past the end.
template <class P, class Acc, class Op>
__device__ __forceinline__ Acc group_reduce(Acc v, Op op, Acc* smem) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v = op(v, shfl_down(v, d));
  v = shfl_first(v);
  if constexpr (P::kRowThreads > 32) {
    constexpr int kWarps = P::kRowThreads / 32;
    const int warp = int(threadIdx.x) / 32, first = warp / kWarps * kWarps;
    __syncthreads();  // readers of the previous reduction are done with smem
    if (threadIdx.x % 32 == 0) smem[warp] = v;
    __syncthreads();
    v = smem[first];
    for (int w = 1; w < kWarps; ++w) v = op(v, smem[first + w]);
  }
  return v;
}

// One sweep over columns [0, n) of a row by thread `t` of `nt`: f(packs, col) gets, for each of
// the K inputs, W consecutive values starting at col (packs[k].v[0..W)). Columns before in[0]'s
// first 16-byte boundary and after the last full vector go one by one (W = 1); the rest as
// 16-byte vectors, kUnroll of them loaded before any is used so that many loads are in flight.
// With vec == false every column goes one by one (inputs not equally aligned).
template <int K, int kUnroll, class T, class F>
__device__ __forceinline__ void row_pass(const T* const (&in)[K], int64_t n, bool vec, int t,
                                         int nt, F&& f) {
  constexpr int V = kVec<T>;
  int64_t head = n;
  if (vec) {
    const int mis = int(reinterpret_cast<uintptr_t>(in[0]) % 16);
    const int64_t to_boundary = mis ? (16 - mis) / int(sizeof(T)) : 0;
    head = to_boundary < n ? to_boundary : n;
  }
  for (int64_t c = t; c < head; c += nt) {
    Pack<T, 1> p[K];
#pragma unroll
    for (int k = 0; k < K; ++k) p[k].v[0] = in[k][c];
    f(p, c);
  }
  const int64_t nvec = (n - head) / V;
  int64_t v = t;
  for (; v + int64_t(kUnroll - 1) * nt < nvec; v += int64_t(kUnroll) * nt) {
    Pack<T, V> p[kUnroll][K];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
#pragma unroll
      for (int k = 0; k < K; ++k)
        p[u][k] = *reinterpret_cast<const Pack<T, V>*>(in[k] + head + (v + int64_t(u) * nt) * V);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) f(p[u], head + (v + int64_t(u) * nt) * V);
  }
  for (; v < nvec; v += nt) {
    Pack<T, V> p[K];
#pragma unroll
    for (int k = 0; k < K; ++k) p[k] = *reinterpret_cast<const Pack<T, V>*>(in[k] + head + v * V);
    f(p, head + v * V);
  }
  for (int64_t c = head + nvec * V + t; c < n; c += nt) {
    Pack<T, 1> p[K];
#pragma unroll
    for (int k = 0; k < K; ++k) p[k].v[0] = in[k][c];
    f(p, c);
  }
}

// out[0, n) = value by thread `t` of `nt`, 16-byte stores after a scalar head; nothing is read.
template <class T>
__device__ __forceinline__ void row_fill(T* out, int64_t n, T value, int t, int nt) {
  constexpr int V = kVec<T>;
  const int mis = int(reinterpret_cast<uintptr_t>(out) % 16);
  const int64_t to_boundary = mis ? (16 - mis) / int(sizeof(T)) : 0;
  const int64_t head = to_boundary < n ? to_boundary : n, nvec = (n - head) / V;
  for (int64_t c = t; c < head; c += nt) out[c] = value;
  Pack<T, V> p;
#pragma unroll
  for (int j = 0; j < V; ++j) p.v[j] = value;
  for (int64_t v = t; v < nvec; v += nt) *reinterpret_cast<Pack<T, V>*>(out + head + v * V) = p;
  for (int64_t c = head + nvec * V + t; c < n; c += nt) out[c] = value;
}

// Width of the packs a row_pass callback received.
template <class Packs>
inline constexpr int pack_width = std::remove_cvref_t<decltype(std::declval<Packs>()[0])>::kWidth;

// Stores W values at out + col (aligned like the inputs whenever W > 1).
template <class T, int W>
__device__ __forceinline__ void store(T* out, int64_t col, const Pack<T, W>& p) {
  *reinterpret_cast<Pack<T, W>*>(out + col) = p;
}

}  // namespace coil::cuda::rows
