// Launch helpers shared by the CUDA kernels: grid sizing, strided offset arithmetic and the
// elementwise drivers (a vectorised path for contiguous operands, a strided path otherwise).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda/context.h"
#include "core/strided_loop.h"

namespace coil::cuda {

int sm_count(int device);

inline constexpr int kBlock = 256;

// Enough blocks to fill the machine for grid-stride loops, never more than the work needs.
inline unsigned grid_for(int64_t work_items, int device, int per_thread = 1) {
  int64_t need = (work_items + int64_t(kBlock) * per_thread - 1) / (int64_t(kBlock) * per_thread);
  int64_t cap = int64_t(sm_count(device)) * 16;
  return unsigned(std::max<int64_t>(1, std::min(need, cap)));
}

// Element offsets of N operands from a flat index, by div/mod over the merged dims. Index is
// int32_t when every offset fits, which makes the divisions much cheaper.
template <int N, class Index>
struct OffsetCalc {
  int ndim;
  Index sizes[kMaxDims];
  Index strides[N][kMaxDims];

  explicit OffsetCalc(const StridedLoop<N>& L) : ndim(L.ndim) {
    for (int d = 0; d < L.ndim; ++d) {
      sizes[d] = Index(L.sizes[d]);
      for (int k = 0; k < N; ++k) strides[k][d] = Index(L.strides[k][d]);
    }
  }
  __device__ __forceinline__ void get(Index i, int64_t (&off)[N]) const {
    Index acc[N];
#pragma unroll
    for (int k = 0; k < N; ++k) acc[k] = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d >= ndim) continue;
      Index q = i / sizes[d], r = i - q * sizes[d];
      i = q;
#pragma unroll
      for (int k = 0; k < N; ++k) acc[k] += r * strides[k][d];
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = int64_t(acc[k]);
  }
};

template <int N>
bool fits_int32(const StridedLoop<N>& L) {
  if (L.numel >= (int64_t(1) << 31)) return false;
  for (int k = 0; k < N; ++k) {
    int64_t reach = 0;
    for (int d = 0; d < L.ndim; ++d) reach += (L.sizes[d] - 1) * std::abs(L.strides[k][d]);
    if (reach >= (int64_t(1) << 31)) return false;
  }
  return true;
}

template <int N, class Index, class F>
__global__ void strided_kernel(OffsetCalc<N, Index> oc, Index numel, F f) {
  for (Index i = Index(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
       i += Index(gridDim.x) * blockDim.x) {
    int64_t off[N];
    oc.get(i, off);
    f(off);
  }
}

// Calls f(const int64_t* off) on the device for every element, off[k] being operand k's
// element offset.
template <int N, class F>
void launch_strided(const StridedLoop<N>& L, int device, F f) {
  if (L.numel == 0) return;
  cudaStream_t s = stream(device);
  if (fits_int32(L)) {
    strided_kernel<N, int32_t><<<grid_for(L.numel, device), kBlock, 0, s>>>(
        OffsetCalc<N, int32_t>(L), int32_t(L.numel), f);
  } else {
    strided_kernel<N, int64_t><<<grid_for(L.numel, device), kBlock, 0, s>>>(
        OffsetCalc<N, int64_t>(L), L.numel, f);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Lane j of the result is f(x[0].v[j], ..., x[NIN-1].v[j]).
template <class Tout, int V, int NIN, class Tin, class F>
__device__ __forceinline__ Vec<Tout, V> apply_lanes(const Vec<Tin, V> (&x)[NIN], const F& f) {
  Vec<Tout, V> y;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    Tin args[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k) args[k] = x[k].v[j];
    y.v[j] = f(args);
  }
  return y;
}

// out[i] = f(in[0][i], ..., in[NIN-1][i]) over contiguous arrays, V elements per vector access.
template <int V, int NIN, class Tin, class Tout, class F>
__global__ void contiguous_kernel(int64_t n, Tout* __restrict__ out, F f,
                                  const Tin* __restrict__ in0, const Tin* __restrict__ in1,
                                  const Tin* __restrict__ in2) {
  const Tin* in[3] = {in0, in1, in2};
  int64_t nvec = n / V;
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < nvec; v += stride) {
    Vec<Tin, V> x[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k) x[k] = reinterpret_cast<const Vec<Tin, V>*>(in[k])[v];
    reinterpret_cast<Vec<Tout, V>*>(out)[v] = apply_lanes<Tout>(x, f);
  }
  for (int64_t i = nvec * V + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Tin args[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k) args[k] = in[k][i];
    out[i] = f(args);
  }
}

// Two merged dims, rows of `inner` contiguous elements per operand (row strides arbitrary, 0 for
// a broadcast row such as the bias in (B, L, D) + (D)): V-wide vector accesses within rows.
template <int V, int NIN, class Tin, class Tout, class F>
__global__ void rows_kernel(int64_t rows, int64_t inner, Tout* __restrict__ out, int64_t out_row, F f,
                            const Tin* __restrict__ in0, int64_t row0,
                            const Tin* __restrict__ in1, int64_t row1) {
  const Tin* in[2] = {in0, in1};
  const int64_t in_row[2] = {row0, row1};
  int64_t vec_per_row = inner / V, total = rows * vec_per_row;
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < total;
       v += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = v / vec_per_row, c = (v - r * vec_per_row) * V;
    Vec<Tin, V> x[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k)
      x[k] = *reinterpret_cast<const Vec<Tin, V>*>(in[k] + r * in_row[k] + c);
    *reinterpret_cast<Vec<Tout, V>*>(out + r * out_row + c) = apply_lanes<Tout>(x, f);
  }
}

template <int N>
bool aligned16(const StridedLoop<N>& L) {
  for (int k = 0; k < N; ++k)
    if (reinterpret_cast<uintptr_t>(L.data[k]) % 16 != 0) return false;
  return true;
}

// The elementwise map used by unary/binary/copy: operand 0 is the output (Tout), operands
// 1..NIN are inputs of type Tin; f takes `const Tin (&)[NIN]` and returns Tout.
template <int NIN, class Tin, class Tout, class F>
void launch_map(const StridedLoop<NIN + 1>& L, int device, F f) {
  if (L.numel == 0) return;
  Tout* out = reinterpret_cast<Tout*>(L.data[0]);
  const Tin* in[3] = {nullptr, nullptr, nullptr};
  for (int k = 0; k < NIN; ++k) in[k] = reinterpret_cast<const Tin*>(L.data[k + 1]);
  if (L.all_contiguous()) {
    constexpr int kBytes = sizeof(Tin) > sizeof(Tout) ? sizeof(Tin) : sizeof(Tout);
    constexpr int V = 16 / kBytes > 0 ? 16 / kBytes : 1;
    cudaStream_t s = stream(device);
    if (aligned16(L) && V > 1) {
      contiguous_kernel<V, NIN, Tin, Tout><<<grid_for(L.numel, device, V), kBlock, 0, s>>>(
          L.numel, out, f, in[0], in[1], in[2]);
    } else {
      contiguous_kernel<1, NIN, Tin, Tout><<<grid_for(L.numel, device), kBlock, 0, s>>>(
          L.numel, out, f, in[0], in[1], in[2]);
    }
    COIL_CUDA_CHECK_LAUNCH();
    return;
  }
  if constexpr (NIN <= 2) {
    constexpr int kBytes = sizeof(Tin) > sizeof(Tout) ? sizeof(Tin) : sizeof(Tout);
    constexpr int V = 16 / kBytes > 0 ? 16 / kBytes : 1;
    bool rows = V > 1 && L.ndim == 2 && aligned16(L) && L.sizes[1] % V == 0;
    for (int k = 0; rows && k <= NIN; ++k)
      rows = L.strides[k][1] == 1 && L.strides[k][0] % V == 0;
    if (rows) {
      rows_kernel<V, NIN, Tin, Tout><<<grid_for(L.numel, device, V), kBlock, 0, stream(device)>>>(
          L.sizes[0], L.sizes[1], out, L.strides[0][0], f, in[0],
          L.strides[1][0], in[NIN > 1 ? 1 : 0], L.strides[NIN > 1 ? 2 : 1][0]);
      COIL_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  launch_strided<NIN + 1>(L, device, [=] __device__(const int64_t* off) {
    Tin args[NIN];
#pragma unroll
    for (int k = 0; k < NIN; ++k) args[k] = in[k][off[k + 1]];
    out[off[0]] = f(args);
  });
}

}  // namespace coil::cuda
