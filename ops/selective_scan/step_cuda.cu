// CUDA kernel of the selective scan's recurrent step (ops/selective_scan/selective_scan.h).
#include "ops/selective_scan/kernels.h"

namespace coil::cuda {

void selective_scan_step(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         bool) {
  COIL_NO_CUDA_KERNEL("selective_scan_step");
}

}  // namespace coil::cuda
