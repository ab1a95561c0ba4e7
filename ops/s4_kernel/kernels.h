// Kernels of the S4 (DPLR) kernel (ops/s4_kernel/s4_kernel.h), one set per device. Operands
// contiguous, one floating dtype. rsave (H, L/2+1, NP, 2) keeps the pair sums r~ for the
// backward (NP = (1+R)(Cn+R)); the forward skips it when undefined.
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

#define COIL_S4_KERNEL_KERNELS                                                                     \
  void s4_kernel_forward(const Tensor& K, const Tensor& rsave, const Tensor& log_dt,               \
                         const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B, \
                         const Tensor& C);                                                         \
  /* grads shaped like (log_dt, W_re, W_im, P, B, C) from dK (Cn, H, L) and rsave */               \
  void s4_kernel_backward(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave, \
                          const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,            \
                          const Tensor& P, const Tensor& B, const Tensor& C);

namespace cpu {
COIL_S4_KERNEL_KERNELS
}
namespace cuda {
COIL_S4_KERNEL_KERNELS
}
#undef COIL_S4_KERNEL_KERNELS

}  // namespace coil
