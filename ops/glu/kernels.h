// CPU kernels of glu and bias_glu (ops/glu/glu.h) on a contiguous input seen as (outer, 2, half):
// the halves a = x[o, 0, :] and b = x[o, 1, :]. One pass each way, where the composite of core ops
// that the other devices run takes two (forward) and six (backward). f32 and f64.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace coil::cpu {

// out (outer, half) = (a + ba) * sigmoid(b + bb), with bias (2 half) = [ba, bb] contiguous, or
// undefined for none.
void glu_forward(const Tensor& out, const Tensor& x, const Tensor& bias, int64_t outer,
                 int64_t half);
// dx (outer, 2, half): da = g * sigmoid(b + bb), db = g * (a + ba) * sigmoid'(b + bb); dbias
// (2 half), if defined, gets the column sums of dx, in an order that does not depend on the
// number of threads.
void glu_backward(const Tensor& dx, const Tensor& dbias, const Tensor& g, const Tensor& x,
                  const Tensor& bias, int64_t outer, int64_t half);

}  // namespace coil::cpu
