// The row loops of ops/norm/row_norm_rows.h for one instruction set: row_norm_cpu.cpp includes this
// with COIL_NORM_ROWS_ISA = generic, row_norm_rows_avx2.cpp and row_norm_rows_avx512.cpp under
// their `#pragma GCC target`. Everything but the entry points has internal linkage and no
// standard-library template is instantiated here, so the compilations share no symbol (the
// linker could otherwise keep an AVX copy of an inline function for every caller).
// Statistics in double (lane_sum's 8 lanes), the per-element maps in T.
#include <cmath>
#include <type_traits>

#include "core/cpu/loops.h"
#include "ops/norm/kernels.h"
#include "ops/norm/row_norm_rows.h"

#ifndef COIL_NORM_ROWS_ISA
#error "define COIL_NORM_ROWS_ISA (generic, avx2 or avx512) before including row_norm_rows_impl.h"
#endif

namespace coil::cpu::norm_rows::COIL_NORM_ROWS_ISA {
namespace {

// Calls f(std::bool_constant<w != null>, std::bool_constant<b != null>), so the per-element
// loops carry no branches on absent weights or biases.
template <class F>
void with_affine(const void* w, const void* b, F&& f) {
  if (w && b) f(std::true_type{}, std::true_type{});
  else if (w) f(std::true_type{}, std::false_type{});
  else if (b) f(std::false_type{}, std::true_type{});
  else f(std::false_type{}, std::false_type{});
}

template <class T>
void forward_impl(RowNorm kind, T* y, T* mean_out, T* rstd_out, const T* x, const T* w, const T* b,
                  int64_t D, double eps, int64_t r0, int64_t r1) {
  with_affine(w, b, [&](auto has_w, auto has_b) {
    for (int64_t r = r0; r < r1; ++r) {
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
    }
  });
}

template <class T>
void backward_impl(RowNorm kind, T* dx, double* pw, const T* dy, const T* x, const T* w,
                   const T* mean, const T* rstd, int64_t D, int64_t r0, int64_t r1) {
  with_affine(w, nullptr, [&](auto has_w, auto) {
    // g = dy * w, the gradient with respect to xhat.
    auto g_at = [&](const T* dyr, int64_t d) {
      if constexpr (has_w) return dyr[d] * w[d];
      else return dyr[d];
    };
    for (int64_t r = r0; r < r1; ++r) {
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
}

}  // namespace

#define COIL_DEFINE_NORM_ROWS(T)                                                                \
  void forward_rows(RowNorm kind, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,   \
                    int64_t D, double eps, int64_t r0, int64_t r1) {                            \
    forward_impl<T>(kind, y, mean, rstd, x, w, b, D, eps, r0, r1);                              \
  }                                                                                             \
  void backward_rows(RowNorm kind, T* dx, double* partial, const T* dy, const T* x, const T* w, \
                     const T* mean, const T* rstd, int64_t D, int64_t r0, int64_t r1) {         \
    backward_impl<T>(kind, dx, partial, dy, x, w, mean, rstd, D, r0, r1);                       \
  }
COIL_DEFINE_NORM_ROWS(float)
#ifdef COIL_NORM_ROWS_F64
COIL_DEFINE_NORM_ROWS(double)
#endif
#undef COIL_DEFINE_NORM_ROWS

}  // namespace coil::cpu::norm_rows::COIL_NORM_ROWS_ISA
