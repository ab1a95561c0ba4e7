// CUDA cross_entropy kernels. Forward: one read of each logit row (online max / sum of exp /
// sum of logits), one scalar read of the target logit, two numbers written per row. Backward:
// one read of the row and one write of dlogits. That is the minimum traffic: 3 N C elements for
// forward + backward. Rows whose target is ignore_index or out of range are never read; an
// out-of-range target goes into the device error record, so no call waits for the device.
#include "core/cuda/device_error.h"
#include "core/dispatch.h"
#include "ops/cross_entropy/kernels.h"
#include "ops/softmax/row_kernels.cuh"

namespace coil::cuda {
namespace {

using namespace rows;

// The record's values for a bad target: target, row, C, ignore_index, rows.
std::string format_bad_target(const int64_t* v) {
  return bad_target_message(v[0], v[1], v[2], v[3],
                            shape_str({v[4], v[2]}) + " (leading dimensions flattened)");
}

int bad_target_kind() {
  static const int kind = register_device_error(&format_bad_target);
  return kind;
}

// x: (rows, C) contiguous; loss, lse: (rows,). A row with an out-of-range target reports it to
// `err` and gets a NaN loss.
template <class P, class T, class I>
__global__ void __launch_bounds__(P::kBlock)
    ce_forward_kernel(T* __restrict__ loss, T* __restrict__ lse, const T* __restrict__ x,
                      const I* __restrict__ target, int64_t n_rows, int64_t C, int64_t ignore,
                      T eps, bool vec, DeviceErrorRecord* err, int err_kind) {
  using G = Group<P>;
  __shared__ MaxSum<T> smem_ms[P::kBlock / 32];
  __shared__ T smem_sum[P::kBlock / 32];
  const int64_t r = G::row();
  const bool live = r < n_rows;
  const int64_t t = live ? int64_t(target[r]) : ignore;
  const bool bad = t != ignore && (t < 0 || t >= C);
  const bool skip = t == ignore || bad;  // the same for every thread of the row
  if (bad && G::lane() == 0) report_device_error(err, err_kind, t, r, C, ignore, n_rows);
  const T* in[1] = {x + (live ? r : 0) * C};
  MaxSum<T> st = max_sum_identity<T>();
  T sx = 0;
  // Skipped rows still take part in the reductions: they hold block-wide barriers.
  row_pass<1, 4>(in, skip ? 0 : C, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t) {
    absorb(st, p[0].v);
#pragma unroll
    for (int j = 0; j < pack_width<decltype(p)>; ++j) sx += p[0].v[j];
  });
  st = group_reduce<P>(st, CombineMaxSum{}, smem_ms);
  sx = group_reduce<P>(sx, Plus{}, smem_sum);
  if (!live || G::lane() != 0) return;
  if (skip) {
    loss[r] = bad ? std::numeric_limits<T>::quiet_NaN() : T(0);
    lse[r] = T(0);
    return;
  }
  // lse - x = (m - x) + log s keeps the precision of large logits.
  const T log_s = precise_log(st.s), l = st.m + log_s;
  T value = (T(1) - eps) * ((st.m - in[0][t]) + log_s);
  if (eps > T(0)) value += eps * ((st.m - sx / T(C)) + log_s);  // mean(x) may be -inf
  loss[r] = value;
  lse[r] = l;
}

// dx, x: (rows, C) contiguous, equally aligned when vec. scale[r * scale_stride] is the row's
// upstream gradient (stride 0: one value for all rows).
template <class P, class T, class I>
__global__ void __launch_bounds__(P::kBlock)
    ce_backward_kernel(T* __restrict__ dx, const T* __restrict__ x, const T* __restrict__ lse,
                       const I* __restrict__ target, const T* __restrict__ scale,
                       int64_t scale_stride, int64_t n_rows, int64_t C, int64_t ignore, T off, T on,
                       bool vec) {
  using G = Group<P>;
  const int64_t r = G::row();
  if (r >= n_rows) return;  // no barriers in this kernel
  const int64_t t = int64_t(target[r]);
  const T* in[1] = {x + r * C};
  T* out = dx + r * C;
  if (t == ignore || t < 0 || t >= C) {
    row_fill(out, C, T(0), G::lane(), P::kRowThreads);  // x is not read
    return;
  }
  const T g = scale[r * scale_stride], l = lse[r];
  const T g_off = g * off, g_on = g * on;
  row_pass<1, 4>(in, C, vec, G::lane(), P::kRowThreads, [&](const auto& p, int64_t col) {
    constexpr int W = pack_width<decltype(p)>;
    Pack<T, W> o;
#pragma unroll
    for (int j = 0; j < W; ++j)
      o.v[j] = g * fast_exp(p[0].v[j] - l) - (col + j == t ? g_on : g_off);
    store(out, col, o);
  });
}

template <class P, class T, class I>
void forward_impl(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                  int64_t ignore, double eps) {
  const int64_t n_rows = logits.size(0), C = logits.size(1);
  const int dev = logits.device().index;
  const T* x = logits.data<T>();
  ce_forward_kernel<P, T, I><<<Group<P>::blocks(n_rows), P::kBlock, 0, stream(dev)>>>(
      loss.data<T>(), lse.data<T>(), x, target.data<I>(), n_rows, C, ignore, T(eps),
      same_alignment({x}), device_error_record(dev), bad_target_kind());
  COIL_CUDA_CHECK_LAUNCH();
}

template <class P, class T, class I>
void backward_impl(const Tensor& dlogits, const Tensor& logits, const Tensor& lse,
                   const Tensor& target, const Tensor& scale, bool per_row, int64_t ignore,
                   double eps) {
  const int64_t n_rows = logits.size(0), C = logits.size(1);
  T* dx = dlogits.data<T>();
  const T* x = logits.data<T>();
  // The target column gets p - on, every other column p - off: on + (C - 1) off = 1.
  const T off = T(eps / double(C)), on = T(1 - eps * double(C - 1) / double(C));
  ce_backward_kernel<P, T, I>
      <<<Group<P>::blocks(n_rows), P::kBlock, 0, stream(logits.device().index)>>>(
          dx, x, lse.data<T>(), target.data<I>(), scale.data<T>(), int64_t(per_row ? 1 : 0), n_rows,
          C, ignore, off, on, same_alignment({x, dx}));
  COIL_CUDA_CHECK_LAUNCH();
}

// Short rows: a warp per row; long rows: a block per row.
template <class T, class I>
void forward_rows(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                  int64_t ignore, double eps) {
  if (logits.size(1) <= kWarpMaxCols)
    forward_impl<WarpPerRow, T, I>(loss, lse, logits, target, ignore, eps);
  else forward_impl<BlockPerRow, T, I>(loss, lse, logits, target, ignore, eps);
}

template <class T, class I>
void backward_rows(const Tensor& dlogits, const Tensor& logits, const Tensor& lse,
                   const Tensor& target, const Tensor& scale, bool per_row, int64_t ignore,
                   double eps) {
  if (logits.size(1) <= kWarpMaxCols)
    backward_impl<WarpPerRow, T, I>(dlogits, logits, lse, target, scale, per_row, ignore, eps);
  else backward_impl<BlockPerRow, T, I>(dlogits, logits, lse, target, scale, per_row, ignore, eps);
}

}  // namespace

void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                           const Tensor& target, int64_t ignore_index, double eps,
                           int64_t& first_bad) {
  DeviceGuard guard(logits.device().index);
  dispatch<DType::f32, DType::f64>(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (target.dtype() == DType::i32)
      forward_rows<T, int32_t>(loss, lse, logits, target, ignore_index, eps);
    else forward_rows<T, int64_t>(loss, lse, logits, target, ignore_index, eps);
  });
  first_bad = -1;  // reported through the device error record instead: no host wait here
}

void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& lse,
                            const Tensor& target, const Tensor& scale, bool per_row,
                            int64_t ignore_index, double eps) {
  DeviceGuard guard(logits.device().index);
  dispatch<DType::f32, DType::f64>(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (target.dtype() == DType::i32)
      backward_rows<T, int32_t>(dlogits, logits, lse, target, scale, per_row, ignore_index, eps);
    else backward_rows<T, int64_t>(dlogits, logits, lse, target, scale, per_row, ignore_index, eps);
  });
}

}  // namespace coil::cuda
