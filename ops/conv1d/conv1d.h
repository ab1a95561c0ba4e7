// Depthwise causal 1-D convolution along the sequence axis (the short conv of Mamba/H3 blocks).
#pragma once
#include "core/tensor.h"

namespace coil {

// x (B, L, C), weight (C, K), bias (C) or undefined -> out (B, L, C):
//   out[b, t, c] = bias[c] + sum_{k=0..K-1} weight[c, k] * x[b, t - (K-1) + k, c],
// with x taken as zero at negative times (left padding of K-1), so out[t] never sees x[t' > t].
// Any K >= 1 works, K > L included. Floating dtypes (f32, f64), all on one device. The weight and
// bias gradients are reduced over B*L in a fixed order (bitwise reproducible).
// reset (B, L) bool, optional: reset[b, t] starts a new sequence at t, so out[b, t'] for t' >= t
// sees x only from t on (as if the packed sequences were run separately); gradients likewise.
Tensor conv1d_causal(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                     const Tensor& reset = Tensor());

// One recurrent step (inference, no autograd). conv_state (B, C, K) holds the last K inputs,
// oldest first (zeros at the start of a sequence); it is shifted by one with x_t (B, C) entering
// at K-1, in place, and y_t (B, C) = bias + sum_k weight[c, k] * conv_state[b, c, k] is returned.
// Stepping x token by token gives conv1d_causal(x, weight, bias).
Tensor conv1d_causal_step(const Tensor& conv_state, const Tensor& x_t, const Tensor& weight,
                          const Tensor& bias = Tensor());

}  // namespace coil
