// Normalisation ops: layer norm and RMS norm over the last dimension, batch norm over the batch
// (and length) of each channel. Fused kernels on CPU and CUDA, deterministic gradients.
#pragma once
#include "core/tensor.h"

namespace coil {

// x: (..., D); weight, bias: (D) or undefined (no affine term). Normalises each row of D:
//   y = (x - mean) / sqrt(var + eps) * weight + bias,  var biased (divides by D).
Tensor layer_norm(const Tensor& x, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);

// x: (..., D); weight: (D) or undefined.  y = x / sqrt(mean(x^2) + eps) * weight.
Tensor rms_norm(const Tensor& x, const Tensor& weight = {}, double eps = 1e-5);

// x: (N, C) or (N, C, L), channels at dim 1 as in PyTorch; running_mean, running_var, weight,
// bias: (C) or undefined. training: normalise with the batch statistics (biased variance) and,
// when given, update the running statistics in place (no gradient, never recorded):
//   running = (1 - momentum) * running + momentum * batch_stat  (unbiased variance for var);
// needs more than one value per channel. Eval: normalise with the running statistics, which
// must be given, and leave them alone; the gradient is then the affine map.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

}  // namespace coil
