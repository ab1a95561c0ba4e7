// CPU cross_entropy kernels: targets checked serially first (a throw cannot leave an OpenMP
// region), then OpenMP over rows with double sums; the backward writes each row once.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/cross_entropy/kernels.h"

namespace coil::cpu {
namespace {

int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1));
}

template <class T, class I>
void forward_rows(T* loss, T* lse, const T* x, const I* target, int64_t N, int64_t C,
                  int64_t ignore, double eps, int64_t& first_bad) {
  first_bad = -1;
  for (int64_t r = 0; r < N; ++r) {
    const int64_t t = int64_t(target[r]);
    if (t != ignore && (t < 0 || t >= C)) {
      first_bad = r;
      return;
    }
  }
  parallel_for(N, row_grain(C), [&](int64_t r) {
    const int64_t t = int64_t(target[r]);
    if (t == ignore) {
      loss[r] = lse[r] = T(0);
      return;
    }
    const T* xr = x + r * C;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < C; ++j) m = std::max(m, xr[j]);
    double s = 0, sx = 0;
    for (int64_t j = 0; j < C; ++j) {
      s += double(std::exp(xr[j] - m));
      sx += double(xr[j]);
    }
    // lse - x = (m - x) + log s keeps the precision of large logits.
    const double log_s = std::log(s), l = double(m) + log_s;
    double value = (1 - eps) * ((double(m) - double(xr[t])) + log_s);
    if (eps > 0) value += eps * ((double(m) - sx / double(C)) + log_s);  // mean(x) may be -inf
    loss[r] = T(value);
    lse[r] = T(l);
  });
}

template <class T, class I>
void backward_rows(T* dx, const T* x, const T* lse, const I* target, const T* scale, bool per_row,
                   int64_t N, int64_t C, int64_t ignore, double eps) {
  // The target column gets p - on, every other column p - off: on + (C - 1) off = 1.
  const T off = T(eps / double(C)), on = T(1 - eps * double(C - 1) / double(C));
  parallel_for(N, row_grain(C), [&](int64_t r) {
    T* dr = dx + r * C;
    const int64_t t = int64_t(target[r]);
    if (t == ignore || t < 0 || t >= C) {
      std::fill(dr, dr + C, T(0));
      return;
    }
    const T* xr = x + r * C;
    const T g = scale[per_row ? r : 0], l = lse[r];
    for (int64_t j = 0; j < C; ++j) dr[j] = g * (std::exp(xr[j] - l) - off);
    dr[t] = g * (std::exp(xr[t] - l) - on);
  });
}

template <class F>
void with_types(const Tensor& logits, const Tensor& target, F&& f) {
  dispatch<DType::f32, DType::f64>(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (target.dtype() == DType::i32) f(T{}, int32_t{});
    else f(T{}, int64_t{});
  });
}

}  // namespace

void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                           const Tensor& target, int64_t ignore_index, double eps,
                           int64_t& first_bad) {
  const int64_t N = logits.size(0), C = logits.size(1);
  with_types(logits, target, [&](auto tv, auto iv) {
    using T = decltype(tv);
    using I = decltype(iv);
    forward_rows<T, I>(loss.data<T>(), lse.data<T>(), logits.data<T>(), target.data<I>(), N, C,
                       ignore_index, eps, first_bad);
  });
}

void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& lse,
                            const Tensor& target, const Tensor& scale, bool per_row,
                            int64_t ignore_index, double eps) {
  const int64_t N = logits.size(0), C = logits.size(1);
  with_types(logits, target, [&](auto tv, auto iv) {
    using T = decltype(tv);
    using I = decltype(iv);
    backward_rows<T, I>(dlogits.data<T>(), logits.data<T>(), lse.data<T>(), target.data<I>(),
                        scale.data<T>(), per_row, N, C, ignore_index, eps);
  });
}

}  // namespace coil::cpu
