// Kernels of the S4D convolution kernel (ops/s4d_kernel/s4d_kernel.h), one set per device.
// All operands contiguous, one floating dtype; disc is ssm::kZoh or ssm::kBilinear.
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

#define COIL_S4D_KERNEL_KERNELS                                                             \
  /* K (Cn, H, L) from log_dt (H), A_re, A_im (H, N2), B (H, N2, 2), C (Cn, H, N2, 2) */    \
  void s4d_kernel_forward(const Tensor& K, const Tensor& log_dt, const Tensor& A_re,        \
                          const Tensor& A_im, const Tensor& B, const Tensor& C, int disc);  \
  /* every gradient (shaped like its input) from dK (Cn, H, L) */                           \
  void s4d_kernel_backward(const Tensor& dlog_dt, const Tensor& dA_re, const Tensor& dA_im, \
                           const Tensor& dB, const Tensor& dC, const Tensor& dK,            \
                           const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im,    \
                           const Tensor& B, const Tensor& C, int disc);

namespace cpu {
COIL_S4D_KERNEL_KERNELS
}
namespace cuda {
COIL_S4D_KERNEL_KERNELS
}
#undef COIL_S4D_KERNEL_KERNELS

}  // namespace coil
