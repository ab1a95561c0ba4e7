// CUDA kernels of the S4 (DPLR) kernel (placeholder until the fused Cauchy kernels land).
#include "ops/s4_kernel/kernels.h"

namespace coil::cuda {

void s4_kernel_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, const Tensor&, const Tensor&) {
  COIL_NO_CUDA_KERNEL("s4_kernel");
}

void s4_kernel_backward(const std::vector<Tensor>&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                        const Tensor&) {
  COIL_NO_CUDA_KERNEL("s4_kernel");
}

}  // namespace coil::cuda
