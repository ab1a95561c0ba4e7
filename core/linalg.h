// Matrix products through OpenBLAS (CPU, f32/f64) and cuBLAS (GPU, f32, or bf16 inputs with f32
// accumulation). Not differentiable; ops/ wraps them.
#pragma once
#include "core/tensor.h"

namespace coil::core {

// NumPy matmul: 1-D operands are promoted to matrices, batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// (B, M, K) @ (B, K, N) -> (B, M, N); no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);
// beta * c + alpha * (a @ b) with a (M, K), b (K, N), c broadcastable to (M, N).
Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, double beta = 1, double alpha = 1);

// GPU f32 GEMM uses true f32 by default; TF32 tensor cores only when enabled here or with the
// environment variable COIL_ALLOW_TF32=1 (then CPU/GPU parity tolerances must be loosened).
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace coil::core
