// The row loops of layer_norm and rms_norm on the CPU (ops/norm/row_norm_rows_impl.h), compiled
// for the build's baseline, for AVX2 + FMA and for AVX-512; row_norm_cpu.cpp runs the widest set
// the CPU has (f32: forward + backward over (8192, 128) 1.94 -> 1.18 ms with AVX-512, one thread).
// f64 always takes the baseline loops.
#pragma once
#include <cstdint>

namespace coil {
enum class RowNorm : uint8_t;
}

namespace coil::cpu::norm_rows {

// Rows [r0, r1) of x (rows, D): y, mean (layer norm; null for rms), rstd. w, b: (D) or null.
// dx (or null): the input gradient of those rows; partial (or null): partial[d] += dy * xhat and
// partial[D + d] += dy summed over the rows in order.
#define COIL_DECLARE_NORM_ROWS(T)                                                               \
  void forward_rows(RowNorm kind, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b,   \
                    int64_t D, double eps, int64_t r0, int64_t r1);                             \
  void backward_rows(RowNorm kind, T* dx, double* partial, const T* dy, const T* x, const T* w, \
                     const T* mean, const T* rstd, int64_t D, int64_t r0, int64_t r1);
namespace generic {
COIL_DECLARE_NORM_ROWS(float)
COIL_DECLARE_NORM_ROWS(double)
}  // namespace generic
namespace avx2 {
COIL_DECLARE_NORM_ROWS(float)
}
namespace avx512 {
COIL_DECLARE_NORM_ROWS(float)
}
#undef COIL_DECLARE_NORM_ROWS

}  // namespace coil::cpu::norm_rows
