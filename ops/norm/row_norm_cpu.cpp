// CPU kernels of layer_norm and rms_norm: OpenMP over blocks of rows, whose loops
// (row_norm_rows_impl.h) run in the widest instruction set the CPU has. The weight/bias gradients
// are summed per fixed chunk of rows, then over the chunks in order, so they do not depend on the
// number of threads.
#include <algorithm>
#include <vector>

#include "core/cpu/isa.h"
#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/norm/kernels.h"
#define COIL_NORM_ROWS_ISA generic
#define COIL_NORM_ROWS_F64
#include "ops/norm/row_norm_rows_impl.h"
#undef COIL_NORM_ROWS_F64
#undef COIL_NORM_ROWS_ISA

namespace coil::cpu {
namespace {

constexpr int64_t kGradChunks = 64;  // fixed, so the summation order never depends on threads

struct Rows {
  int64_t rows, D;
  explicit Rows(const Tensor& x) : D(x.dim() ? x.size(-1) : 1) { rows = D ? x.numel() / D : 0; }
  // Rows per block of the forward: at least kParallelGrain elements.
  int64_t block() const { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(D, 1)); }
};

// The row loops for T: f32 in the widest instruction set, f64 in the baseline one.
template <class T, class... A>
void forward_rows(A... a) {
  if constexpr (std::is_same_v<T, float>) {
    if (best_isa() == Isa::avx512) return norm_rows::avx512::forward_rows(a...);
    if (best_isa() == Isa::avx2) return norm_rows::avx2::forward_rows(a...);
  }
  norm_rows::generic::forward_rows(a...);
}
template <class T, class... A>
void backward_rows(A... a) {
  if constexpr (std::is_same_v<T, float>) {
    if (best_isa() == Isa::avx512) return norm_rows::avx512::backward_rows(a...);
    if (best_isa() == Isa::avx2) return norm_rows::avx2::backward_rows(a...);
  }
  norm_rows::generic::backward_rows(a...);
}

template <class T>
void forward_impl(RowNorm kind, const Tensor& y_t, const Tensor& mean_t, const Tensor& rstd_t,
                  const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, double eps) {
  const Rows s(x_t);
  const T* x = x_t.data<T>();
  const T* w = data_or_null<const T>(w_t);
  const T* b = data_or_null<const T>(b_t);
  T* y = y_t.data<T>();
  T* mean = data_or_null<T>(mean_t);
  T* rstd = rstd_t.data<T>();
  const int64_t block = s.block(), blocks = (s.rows + block - 1) / block;
  parallel_for(blocks, 1, [&](int64_t k) {
    forward_rows<T>(kind, y, mean, rstd, x, w, b, s.D, eps, k * block,
                    std::min(s.rows, (k + 1) * block));
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
    backward_rows<T>(kind, dx, want_wb ? partial.data() + k * 2 * D : nullptr, dy, x, w, mean, rstd,
                     D, k * chunk_rows, std::min(rows, (k + 1) * chunk_rows));
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
