// Kernels of the S4 (DPLR) kernel (ops/s4_kernel/s4_kernel.h), one set per device. Operands
// contiguous, one floating dtype. rsave (H, L/2+1, NP, 2) keeps the pair sums for the backward
// (NP = (1+R)(Cn+R)); the forward skips it when undefined.
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

// Versions of the CUDA kernels, timed side by side by bench/bench_ssm_kernels.cpp. v1 (cuda.cu):
// complex Cauchy terms, one thread per (h, frequency), rsave = r~. v2 (cuda_v2.cu): real
// coefficients z = i y, several frequencies per thread, one block per h for the backward,
// rsave = r~ / sigma. rsave differs, so a backward must run its forward's version. The op runs
// s4_default_version(): kS4Default, or COIL_S4_KERNEL=1|2 (read once; a knob for the kernel lab
// and the GPU tests, not for users).
enum class S4Version { v1, v2 };
inline constexpr S4Version kS4Default = S4Version::v2;
S4Version s4_default_version();
void s4_kernel_forward(S4Version v, const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                       const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                       const Tensor& C);
void s4_kernel_backward(S4Version v, const std::vector<Tensor>& grads, const Tensor& dK,
                        const Tensor& rsave, const Tensor& log_dt, const Tensor& W_re,
                        const Tensor& W_im, const Tensor& P, const Tensor& B, const Tensor& C);
// v2's implementation (cuda_v2.cu); the arguments as above, already on the right device.
void s4_kernel_forward_v2(const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                          const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                          const Tensor& C);
void s4_kernel_backward_v2(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave,
                           const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                           const Tensor& P, const Tensor& B, const Tensor& C);
}  // namespace cuda
#undef COIL_S4_KERNEL_KERNELS

}  // namespace coil
