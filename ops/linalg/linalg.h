// Differentiable matrix products. cpu: f32/f64 (OpenBLAS); cuda: f32 (cuBLAS) and bf16.
#pragma once
#include "core/tensor.h"

namespace coil {

// NumPy matmul: a (..., M, K) @ b (..., K, N) -> (broadcast(...), M, N). A 1-D a is a row (its
// M dim is dropped from the result), a 1-D b a column (its N dim is dropped). Batch dims
// broadcast; the gradient of a broadcast operand is summed back to its shape.
Tensor matmul(const Tensor& a, const Tensor& b);
// a (B, M, K) @ b (B, K, N) -> (B, M, N); no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);
// x (..., in) @ weight (out, in)^T + bias (out) -> (..., out). bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace coil
