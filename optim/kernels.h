// Multi-tensor kernels of the optimizers and gradient clipping: each call walks a list of
// tensors (all of one dtype, contiguous, on one device) split into fixed-size chunks, so one
// launch (CUDA) or one OpenMP loop (CPU) covers every parameter.
#pragma once
#include <vector>

#include "core/kernels.h"  // COIL_DEVICE_CALL
#include "optim/update_math.h"

namespace coil::optim {

// Elements per chunk: a CUDA block or one OpenMP work item. Fixed, so the partial sums of the
// norm (one per chunk) and their order do not depend on the machine.
inline constexpr int64_t kChunk = 16384;

// One parameter's update: its buffers and the host-computed scalars for this step.
struct TensorUpdate {
  void* param;
  const void* grad;
  void* buf1;  // Adam: exp_avg; SGD: momentum_buffer (null without momentum)
  void* buf2;  // Adam: exp_avg_sq; SGD: unused
  int64_t numel;
  StepScalars s;
};

// A read-write view of one gradient for clipping; `index` is its position in the caller's list
// (what the norm reports as the first non-finite gradient).
struct TensorSpan {
  void* data;
  int64_t numel;
  int64_t index;
};

}  // namespace coil::optim

namespace coil {

#define COIL_OPTIM_KERNELS                                                                       \
  /* every tensor of `list`, dtype f32 or f64, on `device`; nothing changes when `skip` (an i64  \
     on `device`, read there: no host sync; null: never) is nonzero */                           \
  void optim_update(DType dtype, Device device, optim::Algorithm algorithm,                      \
                    const std::vector<optim::TensorUpdate>& list, const int64_t* skip);          \
  /* out (0-dim, `dtype`) = sqrt(sum of squares of every element), summed per chunk and then     \
     over chunks in a fixed order (bitwise reproducible); first_bad (0-dim i64, or undefined)    \
     = the `index` of the first span holding a NaN or Inf, or -1 */                              \
  void optim_global_norm(DType dtype, Device device, const std::vector<optim::TensorSpan>& list, \
                         const Tensor& out, const Tensor& first_bad);                            \
  /* the flag of optim/nonfinite.h: marks `step` unless a step is marked already, when loss or   \
     norm (0-dim f32/f64) is not finite; first_bad as optim_global_norm's, or undefined */       \
  void optim_record_nonfinite(Device device, const Tensor& flag, const Tensor& loss,             \
                              const Tensor& norm, const Tensor& first_bad, int64_t step);        \
  /* every element *= min(1, max_norm / (norm + 1e-6)), norm read from the 0-dim tensor on the   \
     device (no host sync) */                                                                    \
  void optim_clip(DType dtype, Device device, const std::vector<optim::TensorSpan>& list,        \
                  const Tensor& norm, double max_norm);

namespace cpu {
COIL_OPTIM_KERNELS
}
namespace cuda {
COIL_OPTIM_KERNELS
}
#undef COIL_OPTIM_KERNELS

}  // namespace coil
