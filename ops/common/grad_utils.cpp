// Gradient reshaping shared by backward rules.
#include "ops/common/grad_utils.h"

#include "core/copy.h"
#include "core/reduce.h"
#include "core/views.h"

namespace coil::ops {

Tensor sum_to(const Tensor& grad, const Shape& shape, DType dtype) {
  Tensor g = grad;
  if (g.shape() != shape) {
    int64_t lead = g.dim() - int64_t(shape.size());
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < g.dim(); ++d)
      if (d < lead || (shape[size_t(d - lead)] == 1 && g.shape()[size_t(d)] != 1)) dims.push_back(d);
    if (!dims.empty()) g = core::sum(g, dims, true);
    g = core::reshape(g, shape);
  }
  return core::to(g, dtype);
}

}  // namespace coil::ops
