// Long convolution along the sequence through zero-padded real FFTs (the convolution mode of S4
// and S4D layers): causal, or bidirectional with two kernels.
#pragma once
#include "core/tensor.h"

namespace coil {

// u (B, L, H), k (C, H, Lk), D (H) or undefined -> y (B, L, H).
//   Causal (C = 1):        y[b, t, h] = D[h] u[b, t, h] + sum_{s <= t} k[0, h, t - s] u[b, s, h]
//   Bidirectional (C = 2): adds sum_{s > t} k[1, h, s - t - 1] u[b, s, h]; lag 0 comes only from
//     k[0] and D. This is REFERENCE.md section 5's two-sided kernel pad(k0, (0, L)) +
//     pad(flip(k1), (L, 0)) at FFT size 2L, so k[1, h, L - 1] (lag -L) never reaches y.
// A kernel shorter than the sequence (1 <= Lk < L) is zero-extended to L; a longer one is an
// error, as are C other than 1 (causal) or 2 (bidirectional), mismatched H, a zero-sized
// dimension, non-floating or mixed dtypes, and mixed devices. f32 or f64.
// Cost: FFTs of size n >= L + Lk - 1 (L + Lk for a short bidirectional kernel; <= 2L), no
// wrap-around into the output (ops/fft_conv/kernels.h).
// Gradients for u, k and D; the batch reduction for dk and dD runs in a fixed order (bitwise
// reproducible).
Tensor fft_conv(const Tensor& u, const Tensor& k, const Tensor& D = Tensor(),
                bool bidirectional = false);

}  // namespace coil
