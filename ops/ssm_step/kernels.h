// Kernels of the SSM step mode (ops/ssm_step/ssm_step.h), one set per device. All operands
// contiguous, one floating dtype; shapes as in ssm_step.h.
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

#define COIL_SSM_STEP_KERNELS                                                                     \
  void s4d_step_forward(const Tensor& y, const Tensor& new_state, const Tensor& state,            \
                        const Tensor& u, const Tensor& Abar, const Tensor& Bbar, const Tensor& C, \
                        const Tensor& D);                                                         \
  void ssm_step_forward(const Tensor& y, const Tensor& new_state, const Tensor& state,            \
                        const Tensor& u, const Tensor& Abar, const Tensor& Bbar, const Tensor& C, \
                        const Tensor& D);

namespace cpu {
COIL_SSM_STEP_KERNELS
}
namespace cuda {
COIL_SSM_STEP_KERNELS
}
#undef COIL_SSM_STEP_KERNELS

}  // namespace coil
