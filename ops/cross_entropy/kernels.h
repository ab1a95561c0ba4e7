// Kernel entry points of cross_entropy, one set per backend (COIL_DEVICE_CALL picks).
#pragma once
#include <string>

#include "core/backend.h"
#include "core/tensor.h"

namespace coil {

// The error for a target outside [0, C) that is not ignore_index, worded once for both devices
// (logits: the shape as the reporting side knows it). Defined in cross_entropy.cpp.
std::string bad_target_message(int64_t target, int64_t position, int64_t C, int64_t ignore_index,
                               const std::string& logits);

// logits (N, C) contiguous f32/f64; target (N,) contiguous i64 or i32; lse, loss, scale in the
// logits' dtype. eps is the label smoothing.
#define COIL_CROSS_ENTROPY_KERNELS                                                             \
  /* loss (N,): per-row loss, 0 where target == ignore_index; lse (N,): logsumexp per row.     \
     first_bad (CPU): the first row whose target is neither ignore_index nor in [0, C), else   \
     -1 (then loss and lse are unspecified). CUDA: always -1; the kernel reports a bad target  \
     into the device error record (core/cuda/device_error.h), which throws at the next host    \
     synchronisation, and gives its row a NaN loss. Neither reads a logit outside the rows. */ \
  void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& logits,      \
                             const Tensor& target, int64_t ignore_index, double eps,           \
                             int64_t& first_bad);                                              \
  /* dlogits (N, C) = scale_r * (softmax - (1 - eps) onehot(t) - eps / C), zero rows where     \
     target == ignore_index or out of range (no logit of such a row is read). scale: (N,)      \
     contiguous when per_row, else one element. */                                             \
  void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& lse,  \
                              const Tensor& target, const Tensor& scale, bool per_row,         \
                              int64_t ignore_index, double eps);

namespace cpu {
COIL_CROSS_ENTROPY_KERNELS
}
namespace cuda {
COIL_CROSS_ENTROPY_KERNELS
}
#undef COIL_CROSS_ENTROPY_KERNELS

}  // namespace coil
