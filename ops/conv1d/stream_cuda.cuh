// Streaming CUDA kernels of the causal depthwise conv for K <= kMaxStreamTaps (Mamba's K = 4):
// each thread owns V adjacent channels of one batch row over a run of S consecutive times and
// keeps the last taps in registers, so every input is read once (plus K - 1 halo times per run)
// with V-wide accesses and no per-element index division. The one-thread-per-element kernels of
// cuda.cu read each input K times through the caches and divide 64-bit indices per element
// (H100, row 4 of issue 9: 2.7x the bytes floor forward, 4.9x for the weight gradient; these
// kernels 1.2x and 1.6x: bench/RESULTS.md, "models"). Sums run in the same order as those kernels' (taps oldest to newest), so y and dx
// are bitwise equal to theirs; a reset at time s empties the window before x[s] enters it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace coil::cuda::conv1d_stream {

inline constexpr int kMaxStreamTaps = 8;

// V elements of T moved as one access.
template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <class T, int V>
__device__ __forceinline__ Vec<T, V> load(const T* p) {
  return *reinterpret_cast<const Vec<T, V>*>(p);
}
template <class T, int V>
__device__ __forceinline__ void store(T* p, const Vec<T, V>& x) {
  *reinterpret_cast<Vec<T, V>*>(p) = x;
}

// The window of the last KM inputs (win[KM - 1] newest) and how many of them count (since the
// row's start or the last reset, at most K).
template <class T, int V, int KM>
struct Window {
  Vec<T, V> win[KM];
  int valid = 0;
  __device__ __forceinline__ void push(const Vec<T, V>& x, int K) {
#pragma unroll
    for (int k = 0; k + 1 < KM; ++k) win[k] = win[k + 1];
    win[KM - 1] = x;
    valid = valid < K ? valid + 1 : K;
  }
};

// Taps w[c, K - KM + k'] of channels c0 .. c0 + V - 1 at slot k' (zero below KM - K, never read).
template <class T, int V, int KM>
__device__ __forceinline__ void load_taps(T (&wk)[KM][V], const T* w, int64_t c0, int K) {
#pragma unroll
  for (int k = 0; k < KM; ++k)
#pragma unroll
    for (int v = 0; v < V; ++v) wk[k][v] = k >= KM - K ? w[(c0 + v) * K + (K - KM + k)] : T(0);
}

// acc += the valid taps' products, oldest first (the order of cuda.cu's kernels).
template <class T, int V, int KM>
__device__ __forceinline__ void dot(T (&acc)[V], const T (&wk)[KM][V], const Window<T, V, KM>& w) {
#pragma unroll
  for (int k = 0; k < KM; ++k)
    if (k >= KM - w.valid)
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] += wk[k][v] * w.win[k].v[v];
}

// The run of thread i: channel vector cv (fastest), run seg of S times, batch row b.
struct Run {
  int64_t b, t0, t1, c0;
  __device__ Run(int64_t i, int64_t CV, int64_t runs, int64_t L, int S, int V) {
    const int64_t cv = i % CV, rest = i / CV, seg = rest % runs;
    b = rest / runs, t0 = seg * S, c0 = cv * V;
    t1 = t0 + S < L ? t0 + S : L;
  }
};

// out (B, L, C) from x (B, L, C), weight (C, K), bias (C) or null, reset (B, L) or null.
template <class T, int V, int KM>
__global__ void __launch_bounds__(256)
    forward_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ w,
                   const T* __restrict__ bias, const bool* __restrict__ reset, int64_t B, int64_t L,
                   int64_t C, int K, int S) {
  const int64_t CV = C / V, runs = (L + S - 1) / S;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * runs * CV) return;
  const Run run(i, CV, runs, L, S, V);
  T wk[KM][V], b0[V];
  load_taps(wk, w, run.c0, K);
#pragma unroll
  for (int v = 0; v < V; ++v) b0[v] = bias ? bias[run.c0 + v] : T(0);
  const bool* rr = reset ? reset + run.b * L : nullptr;
  const T* xb = x + run.b * L * C + run.c0;
  T* ob = out + run.b * L * C + run.c0;
  Window<T, V, KM> win;
  const int64_t s0 = run.t0 - (K - 1) > 0 ? run.t0 - (K - 1) : 0;
#pragma unroll 2
  for (int64_t s = s0; s < run.t1; ++s) {
    if (rr && rr[s]) win.valid = 0;
    win.push(load<T, V>(xb + s * C), K);
    if (s >= run.t0) {
      Vec<T, V> acc;
#pragma unroll
      for (int v = 0; v < V; ++v) acc.v[v] = b0[v];
      dot(acc.v, wk, win);
      store<T, V>(ob + s * C, acc);
    }
  }
}

// dx[b, s, c] = sum of w[c, K - 1 - j] * g[b, s + j, c] over the output times s + j that read s
// (before L and the next reset), j from the farthest down (cuda.cu's order): the window runs
// backwards in time, and the same slot-to-tap map as the forward applies.
template <class T, int V, int KM>
__global__ void __launch_bounds__(256)
    input_grad_kernel(T* __restrict__ dx, const T* __restrict__ g, const T* __restrict__ w,
                      const bool* __restrict__ reset, int64_t B, int64_t L, int64_t C, int K,
                      int S) {
  const int64_t CV = C / V, runs = (L + S - 1) / S;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * runs * CV) return;
  const Run run(i, CV, runs, L, S, V);
  T wk[KM][V];
  load_taps(wk, w, run.c0, K);
  const bool* rr = reset ? reset + run.b * L : nullptr;
  const T* gb = g + run.b * L * C + run.c0;
  T* db = dx + run.b * L * C + run.c0;
  Window<T, V, KM> win;
  const int64_t s_last = run.t1 - 1 + (K - 1) < L - 1 ? run.t1 - 1 + (K - 1) : L - 1;
#pragma unroll 2
  for (int64_t s = s_last; s >= run.t0; --s) {
    if (rr && s < s_last && rr[s + 1]) win.valid = 0;  // outputs from s + 1 on start afresh
    win.push(load<T, V>(gb + s * C), K);
    if (s < run.t1) {
      Vec<T, V> acc;
#pragma unroll
      for (int v = 0; v < V; ++v) acc.v[v] = T(0);
      dot(acc.v, wk, win);
      store<T, V>(db + s * C, acc);
    }
  }
}

inline constexpr int kParamCols = 32, kParamRuns = 8;

// Weight and bias gradient partials: block (kParamCols channel vectors, kParamRuns runs of S
// times) covers kParamRuns * S times of one batch row; each thread sums g * x over its run per
// tap (x's window in registers) and g, and the block adds its runs in a fixed order into
// partial (chunks = B * ceil(L / (kParamRuns * S)), K + 1, C), which param_final_kernel sums.
template <class T, int V, int KM>
__global__ void __launch_bounds__(kParamCols* kParamRuns)
    param_partial_kernel(T* __restrict__ partial, const T* __restrict__ g, const T* __restrict__ x,
                         const bool* __restrict__ reset, int64_t L, int64_t C, int K, int S) {
  __shared__ T red[kParamRuns][kParamCols][V];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t chunks_per_row = (L + int64_t(kParamRuns) * S - 1) / (int64_t(kParamRuns) * S);
  const int64_t chunk = blockIdx.y, b = chunk / chunks_per_row;
  const int64_t t0 = (chunk % chunks_per_row) * kParamRuns * S + int64_t(ty) * S;
  const int64_t t1 = t0 + S < L ? t0 + S : L;
  const int64_t c0 = (int64_t(blockIdx.x) * kParamCols + tx) * V;
  const bool active = c0 < C;  // C is a multiple of V
  T acc[KM + 1][V];
#pragma unroll
  for (int k = 0; k <= KM; ++k)
#pragma unroll
    for (int v = 0; v < V; ++v) acc[k][v] = T(0);
  if (active && t0 < L) {
    const bool* rr = reset ? reset + b * L : nullptr;
    const T* xb = x + b * L * C + c0;
    const T* gb = g + b * L * C + c0;
    Window<T, V, KM> win;
    const int64_t s0 = t0 - (K - 1) > 0 ? t0 - (K - 1) : 0;
#pragma unroll 2
    for (int64_t s = s0; s < t1; ++s) {
      if (rr && rr[s]) win.valid = 0;
      win.push(load<T, V>(xb + s * C), K);
      if (s >= t0) {
        const Vec<T, V> gv = load<T, V>(gb + s * C);
#pragma unroll
        for (int k = 0; k < KM; ++k)
          if (k >= KM - win.valid)
#pragma unroll
            for (int v = 0; v < V; ++v) acc[k][v] += gv.v[v] * win.win[k].v[v];
#pragma unroll
        for (int v = 0; v < V; ++v) acc[KM][v] += gv.v[v];
      }
    }
  }
  // Slot j < K of the output is tap j (slot KM - K + j here); slot K is the bias.
  const int64_t J = K + 1;
  for (int j = 0; j < J; ++j) {  // uniform across the block: the barriers are safe
    const int k = j < K ? KM - K + j : KM;
#pragma unroll
    for (int q = 0; q <= KM; ++q)  // registers stay registers: no dynamic index into acc
      if (q == k)
#pragma unroll
        for (int v = 0; v < V; ++v) red[ty][tx][v] = acc[q][v];
    __syncthreads();
    if (ty == 0 && active) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        T sum = red[0][tx][v];
        for (int y = 1; y < kParamRuns; ++y) sum += red[y][tx][v];
        partial[(chunk * J + j) * C + c0 + v] = sum;
      }
    }
    __syncthreads();
  }
}

}  // namespace coil::cuda::conv1d_stream
