// The front end layer_norm and rms_norm share: validate, run the fused forward kernel, record
// the fused backward (ops/norm/row_norm.cpp).
#pragma once
#include "core/tensor.h"
#include "ops/norm/kernels.h"

namespace coil::norm {

// x: (..., D); weight, bias: (D) or undefined (bias is always undefined for rms).
Tensor row_norm(RowNorm kind, const Tensor& x, const Tensor& weight, const Tensor& bias,
                double eps);

}  // namespace coil::norm
