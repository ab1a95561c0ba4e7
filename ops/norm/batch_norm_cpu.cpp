// CPU kernels of batch_norm over (N, C, L): per-channel sums in double over fixed chunks of
// the batch (sequential memory order), merged over the chunks in order, then one normalising
// pass. Two passes for the statistics (mean, then squared deviations) keep the variance exact
// to double precision.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/norm/kernels.h"

namespace coil::cpu {
namespace {

constexpr int64_t kChunks = 64;  // fixed, so the summation order never depends on threads

struct Layout {
  int64_t N, C, L, chunk, chunks;
  bool parallel;
  explicit Layout(const Tensor& x) : N(x.size(0)), C(x.size(1)), L(x.size(2)) {
    chunk = std::max<int64_t>(1, (N + kChunks - 1) / kChunks);
    chunks = (N + chunk - 1) / chunk;
    parallel = N * C * L > kParallelGrain;
  }
  // partial (chunks, K * C): f(partial row of chunk k, n, c, offset of (n, c, 0)) for every
  // (n, c) of chunk k; then totals[q] = sum over chunks in order.
  template <class F>
  std::vector<double> channel_sums(int K, F f) const {
    std::vector<double> partial(size_t(chunks * K * C), 0.0);
    parallel_for(chunks, parallel ? 0 : chunks, [&](int64_t k) {
      double* p = partial.data() + k * K * C;
      for (int64_t n = k * chunk; n < std::min(N, (k + 1) * chunk); ++n)
        for (int64_t c = 0; c < C; ++c) f(p, c, (n * C + c) * L);
    });
    std::vector<double> total(size_t(K * C), 0.0);
    for (int64_t k = 0; k < chunks; ++k)
      for (int64_t q = 0; q < K * C; ++q) total[size_t(q)] += partial[size_t(k * K * C + q)];
    return total;
  }
  // f(c, offset of (n, c, 0)) for every (n, c), in parallel.
  template <class F>
  void for_rows(F f) const {
    parallel_for(N * C,
                 parallel ? std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(L, 1)) : N * C,
                 [&](int64_t q) { f(q % C, q * L); });
  }
};

template <class T>
void forward_impl(const Tensor& y_t, const Tensor& save_mean_t, const Tensor& save_invstd_t,
                  const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, const Tensor& rm_t,
                  const Tensor& rv_t, bool training, double momentum, double eps) {
  const Layout s(x_t);
  const int64_t C = s.C, L = s.L, M = s.N * s.L;
  const T* x = x_t.data<T>();
  const T* w = data_or_null<const T>(w_t);
  const T* b = data_or_null<const T>(b_t);
  T* rm = data_or_null<T>(rm_t);
  T* rv = data_or_null<T>(rv_t);
  std::vector<double> mean(static_cast<size_t>(C)), invstd(static_cast<size_t>(C));
  if (training) {
    auto sums = s.channel_sums(1, [&](double* p, int64_t c, int64_t off) {
      for (int64_t l = 0; l < L; ++l) p[c] += double(x[off + l]);
    });
    for (int64_t c = 0; c < C; ++c) mean[size_t(c)] = sums[size_t(c)] / double(M);
    auto sq = s.channel_sums(1, [&](double* p, int64_t c, int64_t off) {
      const double m = mean[size_t(c)];
      for (int64_t l = 0; l < L; ++l) p[c] += (double(x[off + l]) - m) * (double(x[off + l]) - m);
    });
    for (int64_t c = 0; c < C; ++c) {
      const double m2 = sq[size_t(c)];
      invstd[size_t(c)] = 1.0 / std::sqrt(m2 / double(M) + eps);
      if (rm) {
        rm[c] = T((1 - momentum) * double(rm[c]) + momentum * mean[size_t(c)]);
        rv[c] = T((1 - momentum) * double(rv[c]) + momentum * m2 / double(M - 1));
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[size_t(c)] = double(rm[c]);
      invstd[size_t(c)] = 1.0 / std::sqrt(double(rv[c]) + eps);
    }
  }
  T* save_mean = save_mean_t.data<T>();
  T* save_invstd = save_invstd_t.data<T>();
  for (int64_t c = 0; c < C; ++c) {
    save_mean[c] = T(mean[size_t(c)]);
    save_invstd[c] = T(invstd[size_t(c)]);
  }
  T* y = y_t.data<T>();
  s.for_rows([&](int64_t c, int64_t off) {
    const double m = mean[size_t(c)], scale = invstd[size_t(c)] * (w ? double(w[c]) : 1.0);
    const double shift = b ? double(b[c]) : 0.0;
    for (int64_t l = 0; l < L; ++l) y[off + l] = T((double(x[off + l]) - m) * scale + shift);
  });
}

template <class T>
void backward_impl(const Tensor& dx_t, const Tensor& dw_t, const Tensor& db_t, const Tensor& dy_t,
                   const Tensor& x_t, const Tensor& w_t, const Tensor& save_mean_t,
                   const Tensor& save_invstd_t, bool training) {
  const Layout s(x_t);
  const int64_t C = s.C, L = s.L, M = s.N * s.L;
  const T* dy = dy_t.data<T>();
  const T* x = x_t.data<T>();
  const T* w = data_or_null<const T>(w_t);
  const T* mean = save_mean_t.data<T>();
  const T* invstd = save_invstd_t.data<T>();
  T* dx = data_or_null<T>(dx_t);
  T* dw = data_or_null<T>(dw_t);
  T* db = data_or_null<T>(db_t);
  // sums[c] = sum of dy, sums[C + c] = sum of dy * (x - mean) over channel c.
  std::vector<double> sums(size_t(2 * C), 0.0);
  if (training || dw || db) {
    sums = s.channel_sums(2, [&](double* p, int64_t c, int64_t off) {
      const double m = double(mean[c]);
      for (int64_t l = 0; l < L; ++l) {
        p[c] += double(dy[off + l]);
        p[C + c] += double(dy[off + l]) * (double(x[off + l]) - m);
      }
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    if (dw) dw[c] = T(sums[size_t(C + c)] * double(invstd[c]));
    if (db) db[c] = T(sums[size_t(c)]);
  }
  if (!dx) return;
  // dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval drops the batch terms.
  s.for_rows([&](int64_t c, int64_t off) {
    const double is = double(invstd[c]), a = (w ? double(w[c]) : 1.0) * is, m = double(mean[c]);
    const double k1 = training ? sums[size_t(c)] / double(M) : 0.0;
    const double k2 = training ? sums[size_t(C + c)] * is * is / double(M) : 0.0;
    for (int64_t l = 0; l < L; ++l)
      dx[off + l] = T(a * (double(dy[off + l]) - k1 - (double(x[off + l]) - m) * k2));
  });
}

}  // namespace

void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var, bool training,
                        double momentum, double eps) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_impl<T>(y, save_mean, save_invstd, x, weight, bias, running_mean, running_var, training,
                    momentum, eps);
  });
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, bool training) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "batch_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_impl<T>(dx, dweight, dbias, dy, x, weight, save_mean, save_invstd, training);
  });
}

}  // namespace coil::cpu
