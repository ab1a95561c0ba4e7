// Embedding lookup: rows of a (V, D) table gathered by integer indices, with a deterministic
// scatter-add backward into the table.
#pragma once
#include <optional>

#include "core/tensor.h"

namespace coil {

// weight (V, D) floating, indices i32/i64 of any shape (...) -> (..., D), out[..., :] =
// weight[indices[...], :]. Every index must lie in [0, V): coil::Error otherwise, naming the
// index, its position and V; on the CPU at the call; on CUDA the gather kernel reports it without
// making the host wait and the error is thrown at the next host synchronisation (item(),
// to(cpu), cuda::synchronize: core/backend.h); until then the bad positions' rows are NaN and
// give no gradient. No call synchronises with the device. Indices get no gradient.
// dweight[v] sums the incoming rows of all positions holding v in a fixed order (bitwise
// reproducible; on CUDA, position order within segments of 32 sorted positions, then segment
// order). padding_idx (negative counts from V) names a row that receives no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<int64_t> padding_idx = std::nullopt);

}  // namespace coil
