// Gated linear unit: the first half of a dimension gated by the sigmoid of the second half.
#pragma once
#include "core/tensor.h"

namespace coil {

// x (..., 2H, ...) floating -> (..., H, ...): with a, b the halves of x along dim,
// out = a * sigmoid(b). The size along dim must be even.
Tensor glu(const Tensor& x, int64_t dim = -1);

}  // namespace coil
