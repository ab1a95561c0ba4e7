// A sticky device-side record of the first training step whose loss or gradient norm was NaN or
// Inf (PyTorch GradScaler's found_inf, for a loop that stops there): one tiny kernel writes it,
// the optimizer kernels read it to skip the update, and the host reads it when it chooses to
// (every step on the CPU, a step later through pinned memory on CUDA): no sync inside a step.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace coil::optim {

// A clean flag: i64 zeros of kFlagSize (update_math.h) on `device`.
Tensor nonfinite_flag(Device device);

// Marks `step` (> 0) in `flag` when `loss` or `grad_norm` (0-dim f32 or f64 on the flag's
// device) is not finite and no earlier step is marked. `first_param` is clip_grad_norm_'s
// first_nonfinite (or undefined: unknown). Asynchronous on CUDA.
void record_nonfinite(const Tensor& flag, const Tensor& loss, const Tensor& grad_norm,
                      const Tensor& first_param, int64_t step);

// The flag's values, read on the host.
struct NonfiniteRecord {
  int64_t step = 0;  // 0: every recorded step was finite
  bool loss = false, grad = false;
  int64_t param = -1;  // index into clip_grad_norm_'s params of the first non-finite gradient
};
NonfiniteRecord decode_nonfinite(const int64_t* values);

}  // namespace coil::optim
