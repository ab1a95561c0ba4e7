// The S4D (diagonal SSM) convolution kernel, fused: the (H, N/2, L) Vandermonde matrix is never
// stored in either direction (memory O(H (N + L))).
#pragma once
#include "core/tensor.h"

namespace coil {

enum class SsmDisc : int { zoh = 0, bilinear = 1 };

// log_dt (H), A_re (H, N2), A_im (H, N2), B (H, N2, 2), C (Cn, H, N2, 2) -> K (Cn, H, L):
//   dt = exp(log_dt[h]), a_n = A_re + i A_im (the op takes Re A directly; storing it as
//   -exp(log(-Re A)) is the layer's business), B and C complex as (re, im) pairs,
//   K[c, h, l] = 2 Re sum_n C[c,h,n] Bbar[h,n] Abar[h,n]^l  (one mode per conjugate pair),
//   ZOH:      Abar = exp(dt a), Bbar = (exp(dt a) - 1) / a * B;
//   bilinear: Abar = (1 + dt a/2) / (1 - dt a/2), Bbar = dt / (1 - dt a/2) * B.
// Cn >= 1 output kernels (2 for a bidirectional layer), L >= 1. f32 or f64, one device.
// Re A < 0 keeps the kernel bounded; A = 0 is not allowed under ZOH (division by a).
// Gradients for all five inputs; their reductions over L run in a fixed order (bitwise
// reproducible). f32 powers Abar^l are re-anchored (exp(l log Abar), phase reduced in float64)
// every few steps, so long kernels keep their accuracy.
Tensor s4d_kernel(const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im, const Tensor& B,
                  const Tensor& C, int64_t L, SsmDisc disc);

}  // namespace coil
