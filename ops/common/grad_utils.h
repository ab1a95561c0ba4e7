// Helpers that backward rules share.
#pragma once
#include "core/tensor.h"

namespace coil::ops {

// Sums a broadcast gradient back to the shape of the input it came from (leading dims and
// dims that were 1), and casts to that input's dtype.
Tensor sum_to(const Tensor& grad, const Shape& shape, DType dtype);

}  // namespace coil::ops
