// CPU kernels of glu (ops/glu/glu.h) on a contiguous input seen as (outer, 2, half): the halves
// a = x[o, 0, :] and b = x[o, 1, :]. One pass each way, where the composite of core ops that
// the other devices run takes two (forward) and six (backward). f32 and f64.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace coil::cpu {

// out (outer, half) = a * sigmoid(b).
void glu_forward(const Tensor& out, const Tensor& x, int64_t outer, int64_t half);
// dx (outer, 2, half): da = g * sigmoid(b), db = g * a * sigmoid(b) * (1 - sigmoid(b)).
void glu_backward(const Tensor& dx, const Tensor& g, const Tensor& x, int64_t outer, int64_t half);

}  // namespace coil::cpu
