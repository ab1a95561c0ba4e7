// The LTI SSM cores of the S4 family: S4D (diagonal, Vandermonde kernel) and S4 (DPLR,
// Cauchy kernel), each a long convolution K * u + D u through fft_conv (REFERENCE.md 2-6).
#pragma once
#include "nn/ssm_core.h"

namespace coil::nn {

// S4D: parameters log_dt (H), log_A_real, A_imag (H, N/2) with A = -exp(log_A_real) + i A_imag,
// B (H, N/2, 2) (ones), C (Cn, H, N/2, 2) (complex normal), D (H) (normal); Cn = 2 when
// bidirectional. log_dt, A and B get the options' lr and no weight decay (S4's recipe).
// Recurrent form (step, and forward with a state): discretised once (ops/ssm_step), state
// {x (B, H, N/2, 2), Abar, Bbar, C}; causal layers only, and without gradients.
class S4DCore : public SSMCore {
 public:
  S4DCore(Module& owner, int64_t channels, const S4Options& options);
  Tensor forward(const Tensor& x, const Tensor& z, State* state) const override;
  Tensor step(const Tensor& x_t, const Tensor& z_t, State& state) const override;
  Tensor log_dt, log_A_real, A_imag, B, C, D;
  bool bilinear, bidirectional;
};

// S4 (DPLR, bilinear): log_dt (H), log_W_real, W_imag (H, N/2), P (R, H, N/2, 2), B (H, N/2, 2)
// from the NPLR decomposition of the HiPPO measure (legs / legt / fout), C~ (Cn, H, N/2, 2)
// (complex normal; C~ = C (I - Abar^L) is trained directly), D (H). Recurrent form: the dense
// bilinear transition with C recovered from C~ at L = options.l_max (so stepping l_max tokens
// equals forward over l_max), state {s (B, H, N), Abar, Bbar, C}; causal, no gradients.
class S4Core : public SSMCore {
 public:
  S4Core(Module& owner, int64_t channels, const S4Options& options);
  Tensor forward(const Tensor& x, const Tensor& z, State* state) const override;
  Tensor step(const Tensor& x_t, const Tensor& z_t, State& state) const override;
  Tensor log_dt, log_W_real, W_imag, P, B, C, D;
  bool bidirectional;
  int64_t l_max;
};

// Sizes and names of the S4 options (diagonal: the S4D inits, else the HiPPO measures).
void validate_s4_options(const S4Options& options, bool diagonal);

}  // namespace coil::nn
