// CUDA reductions over the middle axis of a contiguous (outer, r, inner) block. Fixed-shape
// trees (no atomics), so results are bitwise reproducible. Long reductions with little
// parallelism across outputs are split into chunks and finished by a second pass.
#include <limits>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/kernels.h"
#include "core/storage.h"

namespace coil::cuda {
namespace {

template <class C>
struct ValIdx {
  C val;
  int64_t idx;
};

// How values combine. Acc is what partial results carry between passes.
template <ReduceOp kOp, class T>
struct Reducer {
  using C = compute_t<T>;
  static constexpr bool kIndexed = kOp == ReduceOp::argmax || kOp == ReduceOp::argmin;
  using Acc = std::conditional_t<kIndexed, ValIdx<C>, C>;

  __device__ static Acc identity() {
    if constexpr (kIndexed) return {C(0), -1};
    else if constexpr (kOp == ReduceOp::sum) return C(0);
    else if constexpr (kOp == ReduceOp::max)
      return std::numeric_limits<C>::has_infinity ? -std::numeric_limits<C>::infinity()
                                                  : std::numeric_limits<C>::lowest();
    else
      return std::numeric_limits<C>::has_infinity ? std::numeric_limits<C>::infinity()
                                                  : std::numeric_limits<C>::max();
  }
  __device__ static Acc lift(T x, int64_t i) {
    if constexpr (kIndexed) return {C(x), i};
    else return C(x);
  }
  // NaN wins; ties keep the earlier index, so the tree's combine order never shows.
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (kOp == ReduceOp::sum) {
      return a + b;
    } else if constexpr (kIndexed) {
      if (a.idx < 0) return b;
      if (b.idx < 0) return a;
      bool a_nan = a.val != a.val, b_nan = b.val != b.val;
      if (a_nan || b_nan) return (a_nan && b_nan) ? (a.idx < b.idx ? a : b) : (a_nan ? a : b);
      if (a.val == b.val) return a.idx < b.idx ? a : b;
      bool take_b = kOp == ReduceOp::argmax ? b.val > a.val : b.val < a.val;
      return take_b ? b : a;
    } else {
      if (a != a) return a;
      if (b != b) return b;
      return kOp == ReduceOp::max ? (b > a ? b : a) : (b < a ? b : a);
    }
  }
  __device__ static Acc shfl_down(Acc a, int delta) {
    if constexpr (kIndexed) {
      return {__shfl_down_sync(0xffffffffu, a.val, delta),
              __shfl_down_sync(0xffffffffu, a.idx, delta)};
    } else {
      return __shfl_down_sync(0xffffffffu, a, delta);
    }
  }
};

// One block reduces elements [chunk*len, (chunk+1)*len) of the r axis for kCols consecutive
// inner columns of one outer slice. threadIdx.x walks columns, threadIdx.y walks r.
// Input is T (first pass, kFromAcc=false) or Acc partials (second pass).
template <ReduceOp kOp, class T, bool kFromAcc, bool kFinal, int kCols, int kRows>
__global__ void reduce_kernel(const void* __restrict__ in_raw, void* __restrict__ out_raw,
                              int64_t outer, int64_t r, int64_t inner, int64_t chunk_len,
                              int64_t n_chunks) {
  using R = Reducer<kOp, T>;
  using Acc = typename R::Acc;
  __shared__ Acc smem[kRows][kCols + 1];
  int64_t col_block = blockIdx.x, o = blockIdx.y, chunk = blockIdx.z;
  int64_t col = col_block * kCols + threadIdx.x;
  int64_t r0 = chunk * chunk_len, r1 = min(r, r0 + chunk_len);
  Acc acc = R::identity();
  if (col < inner) {
    for (int64_t i = r0 + threadIdx.y; i < r1; i += kRows) {
      int64_t at = (o * r + i) * inner + col;
      Acc v;
      if constexpr (kFromAcc) v = static_cast<const Acc*>(in_raw)[at];
      else v = R::lift(static_cast<const T*>(in_raw)[at], i);
      acc = R::combine(acc, v);
    }
  }
  smem[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < inner) {
    for (int y = 1; y < kRows; ++y) acc = R::combine(acc, smem[y][threadIdx.x]);
    if constexpr (kFinal) {
      int64_t at = o * inner + col;
      if constexpr (R::kIndexed) static_cast<int64_t*>(out_raw)[at] = acc.idx;
      else static_cast<T*>(out_raw)[at] = T(acc);
    } else {
      static_cast<Acc*>(out_raw)[(o * n_chunks + chunk) * inner + col] = acc;
    }
  }
}

// inner == 1: one block per (row, chunk); a warp-shuffle tree inside the block.
template <ReduceOp kOp, class T, bool kFromAcc, bool kFinal>
__global__ void reduce_rows_kernel(const void* __restrict__ in_raw, void* __restrict__ out_raw,
                                   int64_t r, int64_t chunk_len, int64_t n_chunks) {
  using R = Reducer<kOp, T>;
  using Acc = typename R::Acc;
  __shared__ Acc warp_acc[kBlock / 32];
  int64_t o = blockIdx.x, chunk = blockIdx.y;
  int64_t r0 = chunk * chunk_len, r1 = min(r, r0 + chunk_len);
  Acc acc = R::identity();
  for (int64_t i = r0 + threadIdx.x; i < r1; i += kBlock) {
    Acc v;
    if constexpr (kFromAcc) v = static_cast<const Acc*>(in_raw)[o * r + i];
    else v = R::lift(static_cast<const T*>(in_raw)[o * r + i], i);
    acc = R::combine(acc, v);
  }
  // The tree's shape depends only on the launch shape, so sums are reproducible.
  for (int d = 16; d > 0; d /= 2) {
    Acc other = R::shfl_down(acc, d);
    acc = R::combine(acc, other);
  }
  if (threadIdx.x % 32 == 0) warp_acc[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kBlock / 32; ++w) acc = R::combine(acc, warp_acc[w]);
    if constexpr (kFinal) {
      if constexpr (R::kIndexed) static_cast<int64_t*>(out_raw)[o] = acc.idx;
      else static_cast<T*>(out_raw)[o] = T(acc);
    } else {
      static_cast<Acc*>(out_raw)[o * n_chunks + chunk] = acc;
    }
  }
}

template <ReduceOp kOp, class T>
void reduce_impl(const Tensor& out, const Tensor& in, int64_t outer, int64_t r, int64_t inner) {
  using Acc = typename Reducer<kOp, T>::Acc;
  int dev = out.device().index;
  cudaStream_t s = stream(dev);
  int64_t target_blocks = int64_t(sm_count(dev)) * 4;
  constexpr int kCols = 32, kRows = 8;
  int64_t blocks_per_chunk = inner == 1 ? outer : outer * ((inner + kCols - 1) / kCols);
  int64_t min_chunk = inner == 1 ? 4 * kBlock : 8 * kRows;
  int64_t n_chunks = std::max<int64_t>(
      1, std::min<int64_t>((target_blocks + blocks_per_chunk - 1) / blocks_per_chunk,
                           (r + min_chunk - 1) / min_chunk));
  n_chunks = std::min<int64_t>(n_chunks, 65535);
  int64_t chunk_len = (r + n_chunks - 1) / n_chunks;
  n_chunks = (r + chunk_len - 1) / chunk_len;
  COIL_CHECK(outer <= 65535 || inner == 1, "[reduce] too many outer slices ({})", outer);
  auto launch = [&](auto from_acc, auto final_pass, const void* src, void* dst, int64_t rr,
                    int64_t clen, int64_t nch) {
    constexpr bool kFromAcc = decltype(from_acc)::value, kFinal = decltype(final_pass)::value;
    if (inner == 1) {
      dim3 grid{unsigned(outer), unsigned(nch)};
      reduce_rows_kernel<kOp, T, kFromAcc, kFinal><<<grid, kBlock, 0, s>>>(src, dst, rr, clen, nch);
    } else {
      dim3 grid{unsigned((inner + kCols - 1) / kCols), unsigned(outer), unsigned(nch)};
      reduce_kernel<kOp, T, kFromAcc, kFinal, kCols, kRows>
          <<<grid, dim3(kCols, kRows), 0, s>>>(src, dst, outer, rr, inner, clen, nch);
    }
    COIL_CUDA_CHECK_LAUNCH();
  };
  using False = std::false_type;
  using True = std::true_type;
  if (n_chunks == 1) {
    launch(False{}, True{}, in.data_ptr(), out.data_ptr(), r, r, 1);
    return;
  }
  Storage partial(size_t(outer * n_chunks * inner) * sizeof(Acc), out.device());
  launch(False{}, False{}, in.data_ptr(), partial.data(), r, chunk_len, n_chunks);
  launch(True{}, True{}, partial.data(), out.data_ptr(), n_chunks, n_chunks, 1);
}

}  // namespace

void reduce(ReduceOp op, const Tensor& out, const Tensor& in, int64_t outer, int64_t r,
            int64_t inner) {
  DeviceGuard guard(out.device().index);
  if (outer > 65535 && inner > 1) {  // grid.y limit: reduce slab by slab
    for (int64_t o0 = 0; o0 < outer; o0 += 65535) {
      int64_t n = std::min<int64_t>(65535, outer - o0);
      Tensor in_s = make_view(in, {n, r, inner}, {r * inner, inner, 1}, in.offset() + o0 * r * inner);
      Tensor out_s = make_view(out, {n, inner}, {inner, 1}, out.offset() + o0 * inner);
      reduce(op, out_s, in_s, n, r, inner);
    }
    return;
  }
  dispatch<COIL_NUMERIC_DTYPES>(in.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
      case ReduceOp::sum: return reduce_impl<ReduceOp::sum, T>(out, in, outer, r, inner);
      case ReduceOp::max: return reduce_impl<ReduceOp::max, T>(out, in, outer, r, inner);
      case ReduceOp::min: return reduce_impl<ReduceOp::min, T>(out, in, outer, r, inner);
      case ReduceOp::argmax: return reduce_impl<ReduceOp::argmax, T>(out, in, outer, r, inner);
      case ReduceOp::argmin: return reduce_impl<ReduceOp::argmin, T>(out, in, outer, r, inner);
    }
  });
}

}  // namespace coil::cuda
