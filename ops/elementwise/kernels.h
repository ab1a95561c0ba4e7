// CPU kernels of the elementwise front ends (ops/elementwise/elementwise.h) beyond core's.
#pragma once
#include "core/tensor.h"

namespace coil::cpu {

// y = gelu(x) (erf form) and slope = gelu'(x), all f32 contiguous of one shape: the forward of
// a GELU that autograd will differentiate, whose backward is then one multiply by slope.
void gelu_with_slope(const Tensor& y, const Tensor& slope, const Tensor& x);

}  // namespace coil::cpu
