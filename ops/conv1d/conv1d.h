// Depthwise causal 1-D convolution along the sequence axis (the short conv of Mamba/H3 blocks).
#pragma once
#include "core/tensor.h"

namespace coil {

// x (B, L, C), weight (C, K), bias (C) or undefined -> out (B, L, C):
//   out[b, t, c] = bias[c] + sum_{k=0..K-1} weight[c, k] * x[b, t - (K-1) + k, c],
// with x taken as zero at negative times (left padding of K-1), so out[t] never sees x[t' > t].
// Any K >= 1 works, K > L included. Floating dtypes (f32, f64), all on one device. The weight and
// bias gradients are reduced over B*L in a fixed order (bitwise reproducible).
Tensor conv1d_causal(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace coil
