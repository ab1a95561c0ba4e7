// Embedding lookup: rows of a (V, D) table gathered by integer indices, with a deterministic
// scatter-add backward into the table.
#pragma once
#include <optional>

#include "core/tensor.h"

namespace coil {

// weight (V, D) floating, indices i32/i64 of any shape (...) -> (..., D), out[..., :] =
// weight[indices[...], :]. Every index must lie in [0, V) (coil::Error otherwise; on CUDA the
// check reads min/max back to the host, so the call synchronises). Indices get no gradient.
// dweight[v] sums the incoming rows of all positions holding v, in position order (bitwise
// reproducible). padding_idx (negative counts from V) names a row that receives no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace coil
