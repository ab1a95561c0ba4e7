// CPU kernels of the step mode: OpenMP over (batch, channel) rows.
#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/ssm_step/kernels.h"

namespace coil::cpu {
namespace {

template <class T>
void s4d_impl(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
              const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  const int64_t Bn = u.size(0), H = u.size(1), N2 = Abar.size(1);
  const T *sp = state.data<T>(), *up = u.data<T>(), *ap = Abar.data<T>(), *bp = Bbar.data<T>();
  const T *cp = C.data<T>(), *dp = D.data<T>();
  T *yp = y.data<T>(), *np = next.data<T>();
  parallel_for(Bn * H, 64, [&](int64_t bh) {
    const int64_t h = bh % H;
    const T uu = up[bh];
    T acc = dp[h] * uu;
    for (int64_t n = 0; n < N2; ++n) {
      const int64_t i = 2 * (h * N2 + n), s = 2 * (bh * N2 + n);
      const T xr = ap[i] * sp[s] - ap[i + 1] * sp[s + 1] + bp[i] * uu;
      const T xi = ap[i] * sp[s + 1] + ap[i + 1] * sp[s] + bp[i + 1] * uu;
      np[s] = xr, np[s + 1] = xi;
      acc += T(2) * (cp[i] * xr - cp[i + 1] * xi);
    }
    yp[bh] = acc;
  });
}

template <class T>
void dense_impl(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
                const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  const int64_t Bn = u.size(0), H = u.size(1), N = Abar.size(1);
  const T *sp = state.data<T>(), *up = u.data<T>(), *ap = Abar.data<T>(), *bp = Bbar.data<T>();
  const T *cp = C.data<T>(), *dp = D.data<T>();
  T *yp = y.data<T>(), *np = next.data<T>();
  parallel_for(Bn * H, 1, [&](int64_t bh) {
    const int64_t h = bh % H;
    const T uu = up[bh];
    const T* s = sp + bh * N;
    T* o = np + bh * N;
    T acc = dp[h] * uu;
    for (int64_t i = 0; i < N; ++i) {
      const T* row = ap + (h * N + i) * N;
      T v = bp[h * N + i] * uu;
      for (int64_t j = 0; j < N; ++j) v += row[j] * s[j];
      o[i] = v;
      acc += cp[h * N + i] * v;
    }
    yp[bh] = acc;
  });
}

}  // namespace

void s4d_step_forward(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
                      const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "s4d_step", [&](auto tag) {
    s4d_impl<typename decltype(tag)::type>(y, next, state, u, Abar, Bbar, C, D);
  });
}

void ssm_step_forward(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
                      const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "ssm_step", [&](auto tag) {
    dense_impl<typename decltype(tag)::type>(y, next, state, u, Abar, Bbar, C, D);
  });
}

}  // namespace coil::cpu
