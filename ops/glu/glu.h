// Gated linear unit: the first half of a dimension gated by the sigmoid of the second half.
#pragma once
#include "core/tensor.h"

namespace coil {

// x (..., 2H, ...) floating -> (..., H, ...): with a, b the halves of x along dim,
// out = a * sigmoid(b). The size along dim must be even.
Tensor glu(const Tensor& x, int64_t dim = -1);

// glu(x + bias) along the last dim: x (..., 2H), bias (2H) broadcast over the leading dims. A
// Linear(., 2H) then GLU with the Linear's bias folded in: the GEMM runs without it and the bias
// gradient (column sums of d(x + bias)) comes out of GLU's backward pass, not a pass of its own.
// On other devices and dtypes: core ops (the bias added in a pass of its own).
Tensor bias_glu(const Tensor& x, const Tensor& bias);

}  // namespace coil
