// Kernel entry points of softmax / log_softmax, one set per backend (COIL_DEVICE_CALL picks).
#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace coil {

// All tensors are (rows, n) contiguous blocks of one floating dtype (f32 or f64); each row is
// normalised independently. `log` selects log_softmax.
#define COIL_SOFTMAX_KERNELS                                                                 \
  /* y = softmax(x) or log_softmax(x) per row */                                             \
  void softmax_forward(const Tensor& y, const Tensor& x, int64_t rows, int64_t n, bool log); \
  /* softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g) */            \
  void softmax_backward(const Tensor& dx, const Tensor& y, const Tensor& g, int64_t rows,    \
                        int64_t n, bool log);

namespace cpu {
COIL_SOFTMAX_KERNELS
}
namespace cuda {
COIL_SOFTMAX_KERNELS
}
#undef COIL_SOFTMAX_KERNELS

}  // namespace coil
