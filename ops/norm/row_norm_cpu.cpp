// CPU kernels of layer_norm and rms_norm: OpenMP over rows, row statistics accumulated in double
// over vectorisable lanes, elementwise maps in the tensor's dtype. The weight/bias gradients are
// summed per fixed chunk of rows, then over the chunks in order, so they do not depend on the
// number of threads.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/norm/kernels.h"

namespace coil::cpu {
namespace {

constexpr int64_t kGradChunks = 64;  // fixed, so the summation order never depends on threads

struct Rows {
  int64_t rows, D;
  explicit Rows(const Tensor& x) : D(x.dim() ? x.size(-1) : 1) { rows = D ? x.numel() / D : 0; }
  int64_t grain() const { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(D, 1)); }
};

// Calls f(std::bool_constant<w != null>, std::bool_constant<b != null>), so the per-element
// loops of the kernels carry no branches on absent weights or biases.
template <class F>
void with_affine(const void* w, const void* b, F&& f) {
  if (w && b) f(std::true_type{}, std::true_type{});
  else if (w) f(std::true_type{}, std::false_type{});
  else if (b) f(std::false_type{}, std::true_type{});
  else f(std::false_type{}, std::false_type{});
}

// Statistics in double (lane_sum); the per-element maps in T.
template <class T>
void forward_impl(RowNorm kind, const Tensor& y_t, const Tensor& mean_t, const Tensor& rstd_t,
                  const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, double eps) {
  const Rows s(x_t);
  const int64_t D = s.D;
  const T* x = x_t.data<T>();
  const T* w = data_or_null<const T>(w_t);
  const T* b = data_or_null<const T>(b_t);
  T* y = y_t.data<T>();
  T* mean_out = data_or_null<T>(mean_t);
  T* rstd_out = rstd_t.data<T>();
  with_affine(w, b, [&](auto has_w, auto has_b) {
    parallel_for(s.rows, s.grain(), [&](int64_t r) {
      const T* xr = x + r * D;
      double mean = 0;
      if (kind == RowNorm::layer)
        mean = lane_sum(D, [&](int64_t d) { return double(xr[d]); }) / double(D);
      const double ss = lane_sum(D, [&](int64_t d) {
        const double v = double(xr[d]) - mean;
        return v * v;
      });
      const double rstd = 1.0 / std::sqrt(ss / double(D) + eps);
      const T m = T(mean), rs = T(rstd);
      T* yr = y + r * D;
      for (int64_t d = 0; d < D; ++d) {
        T v = (xr[d] - m) * rs;
        if constexpr (has_w) v *= w[d];
        if constexpr (has_b) v += b[d];
        yr[d] = v;
      }
      if (mean_out) mean_out[r] = T(mean);
      rstd_out[r] = T(rstd);
    });
  });
}

template <class T>
void backward_impl(RowNorm kind, const Tensor& dx_t, const Tensor& dw_t, const Tensor& db_t,
                   const Tensor& dy_t, const Tensor& x_t, const Tensor& w_t, const Tensor& mean_t,
                   const Tensor& rstd_t) {
  const Rows s(x_t);
  const int64_t D = s.D, rows = s.rows;
  const T* dy = dy_t.data<T>();
  const T* x = x_t.data<T>();
  const T* w = data_or_null<const T>(w_t);
  const T* mean = data_or_null<const T>(mean_t);
  const T* rstd = rstd_t.data<T>();
  T* dx = data_or_null<T>(dx_t);
  T* dw = data_or_null<T>(dw_t);
  T* db = data_or_null<T>(db_t);
  const bool want_wb = dw || db;
  const int64_t chunk_rows = std::max<int64_t>(1, (rows + kGradChunks - 1) / kGradChunks);
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  // partial[k] = (sum of dy * xhat, sum of dy) over chunk k's rows: (chunks, 2, D).
  std::vector<double> partial(want_wb ? size_t(chunks * 2 * D) : 0, 0.0);
  const bool parallel = rows * D > kParallelGrain;
  with_affine(w, nullptr, [&](auto has_w, auto) {
    // g = dy * w, the gradient with respect to xhat.
    auto g_at = [&](const T* dyr, int64_t d) {
      if constexpr (has_w) return dyr[d] * w[d];
      else return dyr[d];
    };
    parallel_for(chunks, parallel ? 0 : chunks, [&](int64_t k) {
      double* pw = want_wb ? partial.data() + k * 2 * D : nullptr;
      for (int64_t r = k * chunk_rows; r < std::min(rows, (k + 1) * chunk_rows); ++r) {
        const T* xr = x + r * D;
        const T* dyr = dy + r * D;
        const T m = mean ? mean[r] : T(0), rs = rstd[r];
        if (pw) {
          for (int64_t d = 0; d < D; ++d) {
            pw[d] += double(dyr[d] * ((xr[d] - m) * rs));
            pw[D + d] += double(dyr[d]);
          }
        }
        if (!dx) continue;
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); rms norm has no centring term.
        const double sg = kind == RowNorm::layer
                              ? lane_sum(D, [&](int64_t d) { return double(g_at(dyr, d)); })
                              : 0.0;
        const double sgx =
            lane_sum(D, [&](int64_t d) { return double(g_at(dyr, d)) * double((xr[d] - m) * rs); });
        const T c1 = T(sg / double(D)), c2 = T(sgx / double(D));
        T* dxr = dx + r * D;
        for (int64_t d = 0; d < D; ++d) dxr[d] = rs * (g_at(dyr, d) - c1 - (xr[d] - m) * rs * c2);
      }
    });
  });
  if (!want_wb) return;
  parallel_for(D, parallel ? 256 : D, [&](int64_t d) {
    double sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sw += partial[size_t(k * 2 * D + d)];
      sb += partial[size_t(k * 2 * D + D + d)];
    }
    if (dw) dw[d] = T(sw);
    if (db) db[d] = T(sb);
  });
}

}  // namespace

void row_norm_forward(RowNorm kind, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                      const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  dispatch<DType::f32, DType::f64>(x.dtype(), kind == RowNorm::layer ? "layer_norm" : "rms_norm",
                                   [&](auto tag) {
                                     using T = typename decltype(tag)::type;
                                     forward_impl<T>(kind, y, mean, rstd, x, weight, bias, eps);
                                   });
}

void row_norm_backward(RowNorm kind, const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                       const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                       const Tensor& rstd) {
  dispatch<DType::f32, DType::f64>(
      x.dtype(), kind == RowNorm::layer ? "layer_norm" : "rms_norm", [&](auto tag) {
        using T = typename decltype(tag)::type;
        backward_impl<T>(kind, dx, dweight, dbias, dy, x, weight, mean, rstd);
      });
}

}  // namespace coil::cpu
