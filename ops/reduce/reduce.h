// Differentiable reductions over a set of dimensions (dims empty = all dimensions; negative dims
// count from the end). keepdim keeps each reduced dimension as size 1.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace coil {

// x (...) -> (...) without the reduced dims. Integer/bool sums give i64 and no gradient.
Tensor sum(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Floating x only.
Tensor mean(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// Largest value (like torch.amax). The gradient is shared evenly among tied maxima.
Tensor max(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// log(sum(exp(x))), shifted by the maximum so large inputs stay finite. A slice of all -inf gives
// -inf and a zero gradient.
Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims = {}, bool keepdim = false);
// sum((x - mean)^2) / (count - correction): correction 1 is the unbiased estimate, 0 the biased
// one. Needs 0 <= correction < count, where count is the number of elements reduced per output.
Tensor var(const Tensor& x, std::vector<int64_t> dims = {}, int64_t correction = 1,
           bool keepdim = false);

// Index (i64) of the first maximum along one dimension. Not differentiable.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace coil
