// The S4 convolution kernel for a DPLR state matrix under the bilinear discretisation, computed
// from its generating function at the roots of unity (fused Cauchy sums, rank-R Woodbury
// correction, inverse real FFT): memory O(H (N + L)), the (N2, L) matrix is never stored.
#pragma once
#include "core/tensor.h"

namespace coil {

// log_dt (H), W_re, W_im (H, N2), P (R, H, N2, 2), B (H, N2, 2), C (Cn, H, N2, 2) -> K (Cn, H, L).
// The continuous state matrix is A = diag(W) - P P^* over the N2 modes and their conjugates
// (REFERENCE.md section 3, Q = P); C is C~ = C (I - Abar^L), the trained parameter, so
//   K[c, h, l] = C_full Abar^l Bbar  for l < L  (y = C_full x over both halves of each pair,
//   i.e. 2 Re of the N2-mode sum), Abar = (I - dt/2 A)^-1 (I + dt/2 A), Bbar = (I - dt/2 A)^-1 dt
//   B.
// R in {1, 2} (LegS / FouT: 1, LegT: 2), Cn in {1, 2}, L >= 1; f32 or f64 on one device.
// Re W < 0 is assumed (the Cauchy denominators vanish at omega = 1 for W = 0). Gradients for
// every input except L; reductions over the frequencies run in a fixed order.
Tensor s4_kernel(const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im, const Tensor& P,
                 const Tensor& B, const Tensor& C, int64_t L);

}  // namespace coil
