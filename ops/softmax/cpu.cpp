// CPU softmax / log_softmax kernels: OpenMP over rows, sums in double, a few sweeps over each
// row while it sits in cache (max, sum of exponentials, write).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/softmax/kernels.h"

namespace coil::cpu {
namespace {

// Rows per thread at least this many elements in total, so small tensors stay serial.
int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1));
}

template <class T>
void forward_rows(T* y, const T* x, int64_t rows, int64_t n, bool log) {
  parallel_for(rows, row_grain(n), [&](int64_t r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) m = std::max(m, xr[j]);  // NaN reaches the sum below
    double s = 0;
    if (log) {
      for (int64_t j = 0; j < n; ++j) s += double(std::exp(xr[j] - m));
      // (x - m) - log s: x - m is exact near the max, so large logits keep their precision.
      const T log_s = T(std::log(s));
      for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - m) - log_s;
    } else {
      for (int64_t j = 0; j < n; ++j) s += double(yr[j] = std::exp(xr[j] - m));
      const T inv = T(1.0 / s);
      for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
    }
  });
}

template <class T>
void backward_rows(T* dx, const T* y, const T* g, int64_t rows, int64_t n, bool log) {
  parallel_for(rows, row_grain(n), [&](int64_t r) {
    const T* yr = y + r * n;
    const T* gr = g + r * n;
    T* dr = dx + r * n;
    double acc = 0;
    if (log) {
      for (int64_t j = 0; j < n; ++j) acc += double(gr[j]);
      const T sg = T(acc);
      for (int64_t j = 0; j < n; ++j) dr[j] = gr[j] - std::exp(yr[j]) * sg;
    } else {
      for (int64_t j = 0; j < n; ++j) acc += double(gr[j]) * double(yr[j]);
      const T dot = T(acc);
      for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] * (gr[j] - dot);
    }
  });
}

}  // namespace

void softmax_forward(const Tensor& y, const Tensor& x, int64_t rows, int64_t n, bool log) {
  dispatch<DType::f32, DType::f64>(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    forward_rows<T>(y.data<T>(), x.data<T>(), rows, n, log);
  });
}

void softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& g, int64_t rows, int64_t n,
                      bool log) {
  dispatch<DType::f32, DType::f64>(y.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    backward_rows<T>(dx.data<T>(), y.data<T>(), g.data<T>(), rows, n, log);
  });
}

}  // namespace coil::cpu
