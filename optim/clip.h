// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace coil::optim {

// Scales the gradients of `params` in place by min(1, max_norm / (norm + 1e-6)), where norm is
// the 2-norm of all their elements together (parameters without a gradient are skipped).
// Returns that norm, before clipping, as a 0-dim tensor of the gradients' dtype on their device.
// The norm is one reduction over every gradient and the scale is applied on the device: no host
// sync, the caller decides when to read it. max_norm = infinity only measures. All gradients
// must share one device and dtype (f32 or f64); a strided gradient is replaced by a contiguous
// copy. With no gradient at all the result is a CPU f32 zero.
// With `first_nonfinite`, it also receives a 0-dim i64 tensor on the same device: the index in
// `params` of the first parameter whose gradient holds a NaN or Inf, or -1, found by the same
// norm kernels (no extra pass, no sync).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                       Tensor* first_nonfinite = nullptr);

}  // namespace coil::optim
