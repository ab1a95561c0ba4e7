// rms_norm: scale each row of the last dimension by the reciprocal of its root mean square
// (no centring, no bias). The kernels are shared with layer_norm.
#include "ops/norm/norm.h"
#include "ops/norm/row_norm.h"

namespace coil {

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return norm::row_norm(RowNorm::rms, x, weight, Tensor(), eps);
}

}  // namespace coil
