// Views: new shape/stride/offset metadata over the same storage, never a copy (reshape copies
// only when no view can express the result, and says so). Not differentiable: ops/ wraps these.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace coil::core {

Tensor view(const Tensor& t, Shape shape);     // throws when strides cannot express it
Tensor reshape(const Tensor& t, Shape shape);  // a view when possible, else a contiguous copy
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor expand(const Tensor& t, const Shape& shape);  // -1 keeps a size; new dims go in front
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t);  // all size-1 dims
Tensor flatten(const Tensor& t, int64_t start = 0, int64_t end = -1);
Tensor as_strided(const Tensor& t, Shape shape, Strides strides, int64_t offset);

// Resolves one -1 in a requested shape against the numel of `from`; throws naming op and both
// shapes when impossible.
Shape infer_shape(const Shape& requested, const Shape& from, const char* op);

}  // namespace coil::core
