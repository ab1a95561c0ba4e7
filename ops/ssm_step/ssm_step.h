// Recurrent (step) mode of the S4 family: discretise once, then advance a state one token at a
// time. Stepping a whole sequence equals the convolution with the kernel of ops/s4d_kernel or
// ops/s4_kernel plus D u (causal layers, Cn = 1). Inference only: no gradients are recorded.
#pragma once
#include <utility>

#include "core/tensor.h"
#include "ops/s4d_kernel/s4d_kernel.h"

namespace coil {

// The discretised system. S4D: Abar, Bbar, C are (H, N2, 2) complex pairs and the state is
// (B, H, N2, 2). S4 (dense): the state is the real vector s = (Re x_0, Im x_0, Re x_1, ...) of
// N = 2 N2 numbers, (B, H, N); Abar (H, N, N), Bbar (H, N), C (H, N) real with y = C . s.
struct SsmStepParams {
  Tensor Abar, Bbar, C;
};

// From the s4d_kernel parameters with C (1, H, N2, 2): Abar, Bbar per mode (s4d_kernel.h), in
// float64 on the host, returned in the inputs' dtype and device (synchronises).
SsmStepParams s4d_step_params(const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im,
                              const Tensor& B, const Tensor& C, SsmDisc disc);

// From the s4_kernel parameters with C~ (1, H, N2, 2): the bilinear transition of
// A = diag(W) - P P^* acting on the pair-structured state, as a real (N, N) matrix, and the output
// row C = C~ (I - Abar^L)^-1 recovered for the kernel length L; float64 on the host (LAPACK),
// returned in the inputs' dtype and device (synchronises).
SsmStepParams s4_step_params(const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                             const Tensor& P, const Tensor& B, const Tensor& C, int64_t L);

// One token of the diagonal system: state (B, H, N2, 2), u (B, H), D (H) ->
//   x' = Abar x + Bbar u,  y = 2 Re sum_n C_n x'_n + D u;  returns (y (B, H), x' (B, H, N2, 2)).
std::pair<Tensor, Tensor> s4d_step(const Tensor& state, const Tensor& u, const Tensor& Abar,
                                   const Tensor& Bbar, const Tensor& C, const Tensor& D);

// One token of the dense real system: state (B, H, N), u (B, H), D (H), N <= 1024 ->
//   s' = Abar s + Bbar u,  y = C . s' + D u;  returns (y (B, H), s' (B, H, N)).
std::pair<Tensor, Tensor> ssm_step(const Tensor& state, const Tensor& u, const Tensor& Abar,
                                   const Tensor& Bbar, const Tensor& C, const Tensor& D);

}  // namespace coil
