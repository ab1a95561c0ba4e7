// Kernel interface of the normalisation ops (ops/norm/): the same functions in coil::cpu
// (row_norm_cpu.cpp, batch_norm_cpu.cpp) and coil::cuda (*.cu), called through
// COIL_DEVICE_CALL. Every tensor argument is contiguous; undefined tensors mean "absent" (an
// absent weight is 1, an absent bias 0, an absent gradient is not computed).
#pragma once
#include <cstdint>

#include "core/kernels.h"  // COIL_DEVICE_CALL
#include "core/tensor.h"

namespace coil {

enum class RowNorm : uint8_t { layer, rms };

#define COIL_DECLARE_NORM_KERNELS                                                               \
  /* x, y: (rows, D); weight, bias: (D); mean (layer only), rstd: (rows), saved for backward */ \
  void row_norm_forward(RowNorm kind, const Tensor& y, const Tensor& mean, const Tensor& rstd,  \
                        const Tensor& x, const Tensor& weight, const Tensor& bias, double eps); \
  /* dy, x, dx: (rows, D); dweight, dbias: (D), each summed over rows in a fixed order */       \
  void row_norm_backward(RowNorm kind, const Tensor& dx, const Tensor& dweight,                 \
                         const Tensor& dbias, const Tensor& dy, const Tensor& x,                \
                         const Tensor& weight, const Tensor& mean, const Tensor& rstd);         \
  /* x, y: (N, C, L); weight, bias, running_mean, running_var, save_mean, save_invstd: (C).     \
     Training: batch statistics, running stats (if defined) updated in place; eval: running     \
     stats. save_mean/save_invstd receive the statistics used, for backward. */                 \
  void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,  \
                          const Tensor& x, const Tensor& weight, const Tensor& bias,            \
                          const Tensor& running_mean, const Tensor& running_var, bool training, \
                          double momentum, double eps);                                         \
  /* dy, x, dx: (N, C, L); dweight, dbias: (C). Training includes the terms through the batch   \
     statistics; eval is the affine map. */                                                     \
  void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,        \
                           const Tensor& dy, const Tensor& x, const Tensor& weight,             \
                           const Tensor& save_mean, const Tensor& save_invstd, bool training);

namespace cpu {
COIL_DECLARE_NORM_KERNELS
}
namespace cuda {
COIL_DECLARE_NORM_KERNELS
}

// Data pointer of an optional tensor (nullptr when undefined).
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr;
}

}  // namespace coil
