// CUDA kernels of the selective scan (ops/selective_scan/selective_scan.h): not written yet.
#include "ops/selective_scan/kernels.h"

namespace coil::cuda {

void selective_scan_forward(const SelectiveScanParams&, const Tensor&, const Tensor&, Tensor*) {
  COIL_NO_CUDA_KERNEL("selective_scan");
}

void selective_scan_backward(const SelectiveScanParams&, const Tensor&, const Tensor&,
                             const Tensor&, const SelectiveScanGrads&) {
  COIL_NO_CUDA_KERNEL("selective_scan");
}

}  // namespace coil::cuda
