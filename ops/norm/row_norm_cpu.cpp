// CPU kernels of layer_norm and rms_norm: OpenMP over rows, accumulation in double. The
// weight/bias gradients are summed per fixed chunk of rows, then over the chunks in order, so
// they do not depend on the number of threads.
#include <algorithm>
#include <cmath>
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
  parallel_for(s.rows, s.grain(), [&](int64_t r) {
    const T* xr = x + r * D;
    double mean = 0;
    if (kind == RowNorm::layer) {
      for (int64_t d = 0; d < D; ++d) mean += double(xr[d]);
      mean /= double(D);
    }
    double ss = 0;
    for (int64_t d = 0; d < D; ++d) ss += (double(xr[d]) - mean) * (double(xr[d]) - mean);
    const double rstd = 1.0 / std::sqrt(ss / double(D) + eps);
    T* yr = y + r * D;
    for (int64_t d = 0; d < D; ++d) {
      double v = (double(xr[d]) - mean) * rstd;
      if (w) v *= double(w[d]);
      if (b) v += double(b[d]);
      yr[d] = T(v);
    }
    if (mean_out) mean_out[r] = T(mean);
    rstd_out[r] = T(rstd);
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
  parallel_for(chunks, parallel ? 0 : chunks, [&](int64_t k) {
    double* pw = want_wb ? partial.data() + k * 2 * D : nullptr;
    for (int64_t r = k * chunk_rows; r < std::min(rows, (k + 1) * chunk_rows); ++r) {
      const T* xr = x + r * D;
      const T* dyr = dy + r * D;
      const double m = mean ? double(mean[r]) : 0.0, rs = double(rstd[r]);
      double sg = 0, sgx = 0;  // sums of g = dy * w and of g * xhat
      for (int64_t d = 0; d < D; ++d) {
        const double xh = (double(xr[d]) - m) * rs, g = double(dyr[d]) * (w ? double(w[d]) : 1.0);
        sg += g;
        sgx += g * xh;
        if (pw) {
          pw[d] += double(dyr[d]) * xh;
          pw[D + d] += double(dyr[d]);
        }
      }
      if (!dx) continue;
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); rms norm has no centring term.
      const double c1 = kind == RowNorm::layer ? sg / double(D) : 0.0, c2 = sgx / double(D);
      T* dxr = dx + r * D;
      for (int64_t d = 0; d < D; ++d) {
        const double xh = (double(xr[d]) - m) * rs, g = double(dyr[d]) * (w ? double(w[d]) : 1.0);
        dxr[d] = T(rs * (g - c1 - xh * c2));
      }
    }
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
