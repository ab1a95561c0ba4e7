// Differentiable shape ops: views that share storage with their input (the gradient goes back to
// the base's shape), joins and padding that copy, flip, and cumulative sums.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace coil {

// ---- views: the output shares x's storage; no data is copied -------------------------------
// reshape: any shape with x.numel() elements (one -1 is inferred); copies only when no strides
// can express the result (as core::reshape). view: like reshape but throws instead of copying.
Tensor reshape(const Tensor& x, Shape shape);
Tensor view(const Tensor& x, Shape shape);
// permute: dims is a permutation of [0, rank); output dim i is input dim dims[i].
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
// slice: elements start, start+step, ... < end along dim (negative start/end count from the
// end; step > 0). narrow: `length` elements from start. select: index `index`, dim removed.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
// expand: size-1 dims (and new leading dims) repeat with stride 0; -1 keeps a size. The
// gradient is summed over the repeated dims.
Tensor expand(const Tensor& x, const Shape& shape);
// unsqueeze: a size-1 dim at `dim` in [-rank-1, rank]. squeeze(x, dim): removes dim if its
// size is 1 (else x's shape is kept); squeeze(x): removes every size-1 dim.
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x);
// flatten: merges dims start..end (inclusive) into one; a scalar becomes shape (1).
Tensor flatten(const Tensor& x, int64_t start = 0, int64_t end = -1);

// ---- copies that keep the values ------------------------------------------------------------
// contiguous: x's values in a dense row-major block (a fresh handle on x's storage when x is
// already contiguous). to: the same values on another device / in another dtype; the gradient
// returns to x's device / dtype. Host-bound device copies synchronise.
Tensor contiguous(const Tensor& x);
Tensor to(const Tensor& x, Device device);
Tensor to(const Tensor& x, DType dtype);

// ---- joins, padding, flip, scan --------------------------------------------------------------
// cat: tensors of one rank, dtype and device, equal in every dim but `dim`, joined along it.
// stack: tensors of one shape joined along a new dim at `dim` in [-rank-1, rank].
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// Constant padding in PyTorch's order: pads = {last_before, last_after, second_last_before,
// second_last_after, ...}; at most 2 * rank entries, an even count, each >= 0 (no cropping).
// Output dim d grows by its two pads; the new elements hold `value`.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0);
// flip: reverses the order of elements along each of `dims` (distinct dims).
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims);
// cumsum: out[..., i, ...] = sum over j <= i along dim of x[..., j, ...], same shape and dtype
// (f32, f64, bf16, i32, i64). Each line is summed in a fixed order: deterministic. Floats
// accumulate in their own precision (bf16 in f32).
Tensor cumsum(const Tensor& x, int64_t dim);

}  // namespace coil
