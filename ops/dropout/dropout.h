// Inverted dropout with a mask from the default Philox generator, optionally tied along one axis.
#pragma once
#include <optional>

#include "core/tensor.h"

namespace coil {

// x (...) floating -> (...). In training with 0 < p: out = x * mask, mask = (u >= p) / (1 - p)
// for u ~ U[0, 1) drawn in f32 from default_generator(), so the same seed gives the same mask on
// the CPU and on CUDA and for f32 and f64 inputs. p == 1 zeroes everything; !training or p == 0
// return x itself. With tie_dim = d the mask has size 1 along d and is broadcast: the same units
// are dropped at every position of that axis (e.g. the sequence axis of (B, L, D)).
// p must lie in [0, 1].
Tensor dropout(const Tensor& x, double p, bool training,
               std::optional<int64_t> tie_dim = std::nullopt);

}  // namespace coil
