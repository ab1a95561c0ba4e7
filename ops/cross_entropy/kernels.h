// Kernel entry points of cross_entropy, one set per backend (COIL_DEVICE_CALL picks).
#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace coil {

// logits (N, C) contiguous f32/f64; target (N,) contiguous i64 or i32; lse, loss, scale in the
// logits' dtype. eps is the label smoothing.
#define COIL_CROSS_ENTROPY_KERNELS                                                            \
  /* loss (N,): per-row loss, 0 where target == ignore_index; lse (N,): logsumexp per row.    \
     first_bad: the first row whose target is neither ignore_index nor in [0, C), else -1     \
     (then loss and lse are unspecified, and no logit outside the row was read). */           \
  void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& logits,     \
                             const Tensor& target, int64_t ignore_index, double eps,          \
                             int64_t& first_bad);                                             \
  /* dlogits (N, C) = scale_r * (softmax - (1 - eps) onehot(t) - eps / C), zero rows where    \
     target == ignore_index. scale: (N,) contiguous when per_row, else one element. */        \
  void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& lse, \
                              const Tensor& target, const Tensor& scale, bool per_row,        \
                              int64_t ignore_index, double eps);

namespace cpu {
COIL_CROSS_ENTROPY_KERNELS
}
namespace cuda {
COIL_CROSS_ENTROPY_KERNELS
}
#undef COIL_CROSS_ENTROPY_KERNELS

}  // namespace coil
