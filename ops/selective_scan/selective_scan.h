// The S6 selective scan of Mamba (REFERENCE.md section 7): the fused, differentiable
// full-sequence op with packed-sequence resets, and its recurrent step for inference.
#pragma once
#include "core/tensor.h"

namespace coil {

struct SelectiveScanOutput {
  Tensor out;          // (Bt, L, Dch), in u's dtype
  Tensor final_state;  // (Bt, Dch, N), in A's dtype: the carried state after step L-1
};

// For batch b, time t, channel d (group g = d / (Dch/G)), state n:
//   dt    = delta[b,t,d] + delta_bias[d], then softplus(dt) if delta_softplus
//   h[n]  = (reset[b,t] ? 0 : h[n]) * exp(dt * A[d,n]) + dt * B[b,t,g,n] * u[b,t,d]
//   y     = sum_n C[b,t,g,n] * h[n] + D[d] * u[b,t,d]
//   out   = z ? y * silu(z[b,t,d]) : y
// with h starting at initial_state[b,d,:] (zeros if undefined). Shapes:
//   u, delta, z: (Bt, L, Dch);  A: (Dch, N);  B, C: (Bt, L, G, N), G divides Dch;
//   D, delta_bias: (Dch);  initial_state: (Bt, Dch, N);  reset: (Bt, L) bool.
// D, z, delta_bias, initial_state and reset are optional (undefined Tensor). L >= 1, N <= 256.
// dtypes: on the CPU everything is f32 or f64 alike; on CUDA u, delta, z, B, C are f32 or bf16
// (alike) and A, D, delta_bias, initial_state are f32.
// Strides read in place (no copy): u, delta, z and B, C with any batch and time strides as long
// as the last dim has stride 1 and B/C's group stride is N, so the slices of in_proj's output
// (x, z) and of x_proj's output (dt, B, C) are used as they are. Other layouts are copied.
// Gradients flow to every floating input (initial_state included) and from both outputs, so a
// long sequence can be trained chunk by chunk with the state carried between chunks. They are
// bitwise reproducible. The (Bt, L, Dch, N) state is never stored: the backward recomputes it
// from per-chunk checkpoints, and without gradients memory stays O(Bt * Dch * N) beyond the
// output, for any L.
// reset[b,t] = true starts a new sequence at t: several sequences packed into one row never see
// each other (the gradient respects the boundaries too).
SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& D = Tensor(),
                                   const Tensor& z = Tensor(), const Tensor& delta_bias = Tensor(),
                                   bool delta_softplus = false,
                                   const Tensor& initial_state = Tensor(),
                                   const Tensor& reset = Tensor());

// One recurrent step (inference, no autograd): the same recurrence for a single time step.
// state (Bt, Dch, N) in A's dtype, updated in place; u_t, delta_t, z_t: (Bt, Dch);
// B_t, C_t: (Bt, G, N); A, D, delta_bias as above. Returns y_t (Bt, Dch) in u_t's dtype.
// Stepping a sequence token by token gives selective_scan's out and final_state.
Tensor selective_scan_step(const Tensor& state, const Tensor& u_t, const Tensor& delta_t,
                           const Tensor& A, const Tensor& B_t, const Tensor& C_t,
                           const Tensor& D = Tensor(), const Tensor& z_t = Tensor(),
                           const Tensor& delta_bias = Tensor(), bool delta_softplus = false);

}  // namespace coil
