// Kernels of the selective scan (ops/selective_scan/selective_scan.h), one set per device so that
// COIL_DEVICE_CALL reaches them. The front end validates; kernels trust these contracts.
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

// Largest state size N the kernels accept (the front end rejects larger).
inline constexpr int64_t kSelectiveScanMaxState = 256;

// Pointers and element strides of the scan's inputs, as the Mamba block produces them: the
// innermost dim (channel for u/delta/z, state for B/C) has stride 1, the group stride of B/C is
// N, and the batch (_sb) and time (_st) strides are free, so strided views of in_proj's and
// x_proj's outputs are read in place. Channel d uses group d / (channels / groups).
struct SelectiveScanParams {
  int64_t batch = 0, length = 0, channels = 0, state = 0, groups = 1;
  DType dtype = DType::f32;        // u, delta, z, B, C (CPU: f32/f64; CUDA: f32/bf16)
  DType param_dtype = DType::f32;  // A, D, delta_bias, states (CPU: = dtype; CUDA: f32)
  const void* u = nullptr;         // (Bt, L, Dch)
  const void* delta = nullptr;     // (Bt, L, Dch)
  const void* z = nullptr;         // (Bt, L, Dch) or null
  const void* B = nullptr;         // (Bt, L, G, N)
  const void* C = nullptr;         // (Bt, L, G, N)
  int64_t u_sb = 0, u_st = 0, delta_sb = 0, delta_st = 0, z_sb = 0, z_st = 0;
  int64_t B_sb = 0, B_st = 0, C_sb = 0, C_st = 0;
  const void* A = nullptr;           // (Dch, N) contiguous
  const void* D = nullptr;           // (Dch) or null
  const void* delta_bias = nullptr;  // (Dch) or null
  bool delta_softplus = false;
  const void* initial_state = nullptr;  // (Bt, Dch, N) contiguous or null (zeros)
  const bool* reset = nullptr;          // (Bt, L) or null: zero the carried state before step t
  int64_t reset_sb = 0, reset_st = 0;
  Device device;
};

// Gradients written by the backward. Undefined = not wanted (its input is absent or needs no
// gradient): the kernel skips it. du, ddelta, dz (Bt, L, Dch) and dB, dC (Bt, L, G, N) are
// contiguous in `dtype`; dA (Dch, N), dD, ddelta_bias (Dch), dinitial_state (Bt, Dch, N) are
// contiguous in `param_dtype`. Every reduction runs in a fixed order (bitwise reproducible).
struct SelectiveScanGrads {
  Tensor du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state;
};

#define COIL_SELECTIVE_SCAN_KERNELS                                                                \
  /* Writes out (Bt, L, Dch) contiguous in dtype and final_state (Bt, Dch, N) contiguous in        \
     param_dtype. If checkpoints is non-null, also allocates *checkpoints (layout and chunk        \
     length are the kernel's choice, on p.device) with what the backward needs to recompute        \
     the state inside each chunk; the front end hands it back untouched. */                        \
  void selective_scan_forward(const SelectiveScanParams& p, const Tensor& out,                     \
                              const Tensor& final_state, Tensor* checkpoints);                     \
  /* dout (Bt, L, Dch) contiguous in dtype, always defined; dfinal (Bt, Dch, N) contiguous in      \
     param_dtype, or undefined (zero). Recomputes the forward from the checkpoints. */             \
  void selective_scan_backward(const SelectiveScanParams& p, const Tensor& checkpoints,            \
                               const Tensor& dout, const Tensor& dfinal,                           \
                               const SelectiveScanGrads& grads);                                   \
  /* One recurrent step, no autograd. state (Bt, Dch, N) in param_dtype, updated in place;         \
     y, u, delta, z (Bt, Dch) and B, C (Bt, G, N) contiguous in dtype; A (Dch, N), D and           \
     delta_bias (Dch) contiguous in param_dtype; z, D, delta_bias may be undefined. The CUDA       \
     step lives in step_cuda.cu (forward/backward in cuda.cu). */                                  \
  void selective_scan_step(const Tensor& y, const Tensor& state, const Tensor& u,                  \
                           const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C, \
                           const Tensor& D, const Tensor& z, const Tensor& delta_bias,             \
                           bool delta_softplus);

namespace cpu {
COIL_SELECTIVE_SCAN_KERNELS
}
namespace cuda {
COIL_SELECTIVE_SCAN_KERNELS
}
#undef COIL_SELECTIVE_SCAN_KERNELS

}  // namespace coil
