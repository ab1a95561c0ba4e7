// Cross-entropy loss over class logits, fused (log-softmax, target pick, label smoothing and
// reduction in one forward kernel; one backward kernel writes dlogits). Differentiable in logits.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace coil {

enum class Reduction { none, mean, sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;  // targets equal to this contribute no loss and no gradient
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;  // eps in [0, 1)
};

// logits: (..., C) floating (f32 or f64), the class dim LAST: (N, C) or (B, L, C) (unlike
//   PyTorch's (B, C, L)); any layout (non-contiguous logits are copied once).
// target: logits' leading shape (...), i64 or i32 class indices in [0, C) or ignore_index.
// Per position, with lse = logsumexp(logits[..., :]):
//   loss = (1 - eps) * (lse - logits[t]) + eps * (lse - mean(logits[..., :]))
// and 0 where the target is ignore_index. Reduction none: the per-position losses, target's
// shape; sum: their sum; mean: their sum over the number of non-ignored targets, NaN when every
// target is ignored (PyTorch's choice: 0 / 0; the gradient is then all zeros).
// Out-of-range targets (neither ignore_index nor in [0, C)) throw coil::Error naming the target,
// its flat position and C: on the CPU at the call; on CUDA the forward kernel reports it without
// making the host wait, and the error is thrown at the next host synchronisation (item(),
// to(cpu), cuda::synchronize: core/backend.h). Until then the bad rows' losses are NaN and
// their gradients zero; no call synchronises with the device.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, CrossEntropyOptions options = {});

}  // namespace coil
