// layer_norm: normalise each row of the last dimension, with an optional affine map. The
// kernels are shared with rms_norm (row_norm_cpu.cpp, row_norm_cuda.cu).
#include "ops/norm/norm.h"
#include "ops/norm/row_norm.h"

namespace coil {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return norm::row_norm(RowNorm::layer, x, weight, bias, eps);
}

}  // namespace coil
