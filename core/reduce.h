// Reductions over one or more dimensions (not differentiable; ops/ wraps them).
#pragma once
#include <vector>

#include "core/kernels.h"

namespace coil::core {

// dims empty = reduce over all dimensions. Sums of integers/bools give i64.
Tensor sum(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amax(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amin(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
// Index (i64) of the first maximum/minimum along one dimension.
Tensor argmax(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& t, int64_t dim, bool keepdim = false);

// Normalised, sorted, de-duplicated dims (all dims when empty); throws naming op.
std::vector<int64_t> reduction_dims(const Tensor& t, std::vector<int64_t> dims, const char* op);
// Shape after reducing dims (kept as 1 with keepdim).
Shape reduced_shape(const Shape& s, const std::vector<int64_t>& dims, bool keepdim);

}  // namespace coil::core
