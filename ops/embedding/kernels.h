// Kernels of the embedding op (ops/embedding/embedding.h), one set per device so that
// COIL_DEVICE_CALL reaches them. All operands are contiguous; the front end has validated them.
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

#define COIL_EMBEDDING_KERNELS                                                                \
  /* out (..., D) = weight (V, D) rows at indices (...), i32 or i64. The CPU kernel throws on \
     an index outside [0, V); the CUDA kernel trusts the front end's check. */                \
  void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices);     \
  /* dweight (V, D): row v = sum of grad (..., D) rows at positions holding v, in position    \
     order; zero for unused rows and for padding_idx (pass -1 for none). */                   \
  void embedding_backward(const Tensor& dweight, const Tensor& grad, const Tensor& indices,   \
                          int64_t padding_idx);

namespace cpu {
COIL_EMBEDDING_KERNELS
}
namespace cuda {
COIL_EMBEDDING_KERNELS
}
#undef COIL_EMBEDDING_KERNELS

}  // namespace coil
