// CUDA softmax / log_softmax kernels. Forward: one sweep for the online max/sum statistics, one
// sweep that writes the output. Backward: one sweep for sum(g * y) (or sum(g)), one that writes
// dx. Short rows run a warp per row, long rows a block per row (ops/softmax/row_kernels.cuh).
#include "core/dispatch.h"
#include "ops/softmax/kernels.h"
#include "ops/softmax/row_kernels.cuh"

namespace coil::cuda {
namespace {

using namespace rows;

// x, y: (rows, n) contiguous. vec: x and y equally aligned (16-byte accesses allowed).
template <class P, class T, bool kLog>
__global__ void __launch_bounds__(P::kBlock)
    softmax_forward_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t n_rows, int64_t n,
                           bool vec) {
  using G = Group<P>;
  __shared__ MaxSum<T> smem[P::kBlock / 32];
  const int64_t r = G::row();
  const bool live = r < n_rows;
  const T* in[1] = {x + (live ? r : 0) * n};
  MaxSum<T> st = max_sum_identity<T>();
  row_pass<1, 4>(in, live ? n : 0, vec, G::lane(), P::kRowThreads,
                 [&](const auto& p, int64_t) { absorb(st, p[0].v); });
  st = group_reduce<P>(st, CombineMaxSum{}, smem);
  if (!live) return;  // no barrier follows
  T* out = y + r * n;
  // (x - m) - log s: x - m is exact near the max, so large logits keep their precision.
  const T log_s = precise_log(st.s), inv = T(1) / st.s;
  row_pass<1, 4>(in, n, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t col) {
    constexpr int W = pack_width<decltype(p)>;
    Pack<T, W> o;
#pragma unroll
    for (int j = 0; j < W; ++j) {
      if constexpr (kLog) o.v[j] = (p[0].v[j] - st.m) - log_s;
      else o.v[j] = fast_exp(p[0].v[j] - st.m) * inv;
    }
    store(out, col, o);
  });
}

// dx, y, g: (rows, n) contiguous and equally aligned when vec.
template <class P, class T, bool kLog>
__global__ void __launch_bounds__(P::kBlock)
    softmax_backward_kernel(T* __restrict__ dx, const T* __restrict__ y, const T* __restrict__ g,
                            int64_t n_rows, int64_t n, bool vec) {
  using G = Group<P>;
  __shared__ T smem[P::kBlock / 32];
  const int64_t r = G::row();
  const bool live = r < n_rows;
  const int64_t at = (live ? r : 0) * n;
  const T* in[2] = {y + at, g + at};
  T acc = 0;
  if constexpr (kLog) {  // sum(g): y is not needed for the statistic
    const T* gin[1] = {in[1]};
    row_pass<1, 4>(gin, live ? n : 0, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t) {
#pragma unroll
      for (int j = 0; j < pack_width<decltype(p)>; ++j) acc += p[0].v[j];
    });
  } else {
    row_pass<2, 2>(in, live ? n : 0, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t) {
#pragma unroll
      for (int j = 0; j < pack_width<decltype(p)>; ++j) acc += p[0].v[j] * p[1].v[j];
    });
  }
  acc = group_reduce<P>(acc, Plus{}, smem);
  if (!live) return;  // no barrier follows
  T* out = dx + at;
  row_pass<2, 2>(in, n, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t col) {
    constexpr int W = pack_width<decltype(p)>;
    Pack<T, W> o;
#pragma unroll
    for (int j = 0; j < W; ++j) {
      if constexpr (kLog) o.v[j] = p[1].v[j] - fast_exp(p[0].v[j]) * acc;
      else o.v[j] = p[0].v[j] * (p[1].v[j] - acc);
    }
    store(out, col, o);
  });
}

template <class T, bool kLog>
void forward_impl(const Tensor& y, const Tensor& x, int64_t n_rows, int64_t n) {
  cudaStream_t s = stream(x.device().index);
  T* yp = y.data<T>();
  const T* xp = x.data<T>();
  const bool vec = same_alignment({xp, yp});
  if (n <= kWarpMaxCols) {
    softmax_forward_kernel<WarpPerRow, T, kLog>
        <<<Group<WarpPerRow>::blocks(n_rows), WarpPerRow::kBlock, 0, s>>>(yp, xp, n_rows, n, vec);
  } else {
    softmax_forward_kernel<BlockPerRow, T, kLog>
        <<<Group<BlockPerRow>::blocks(n_rows), BlockPerRow::kBlock, 0, s>>>(yp, xp, n_rows, n, vec);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

template <class T, bool kLog>
void backward_impl(const Tensor& dx, const Tensor& y, const Tensor& g, int64_t n_rows, int64_t n) {
  cudaStream_t s = stream(y.device().index);
  T* dp = dx.data<T>();
  const T* yp = y.data<T>();
  const T* gp = g.data<T>();
  const bool vec = same_alignment({yp, gp, dp});
  if (n <= kWarpMaxCols) {
    softmax_backward_kernel<WarpPerRow, T, kLog>
        <<<Group<WarpPerRow>::blocks(n_rows), WarpPerRow::kBlock, 0, s>>>(dp, yp, gp, n_rows, n,
                                                                          vec);
  } else {
    softmax_backward_kernel<BlockPerRow, T, kLog>
        <<<Group<BlockPerRow>::blocks(n_rows), BlockPerRow::kBlock, 0, s>>>(dp, yp, gp, n_rows, n,
                                                                            vec);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

void softmax_forward(const Tensor& y, const Tensor& x, int64_t n_rows, int64_t n, bool log) {
  DeviceGuard guard(x.device().index);
  dispatch<DType::f32, DType::f64>(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (log) forward_impl<T, true>(y, x, n_rows, n);
    else forward_impl<T, false>(y, x, n_rows, n);
  });
}

void softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& g, int64_t n_rows, int64_t n,
                      bool log) {
  DeviceGuard guard(y.device().index);
  dispatch<DType::f32, DType::f64>(y.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (log) backward_impl<T, true>(dx, y, g, n_rows, n);
    else backward_impl<T, false>(dx, y, g, n_rows, n);
  });
}

}  // namespace coil::cuda
