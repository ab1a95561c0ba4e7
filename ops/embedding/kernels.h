// Kernels of the embedding op (ops/embedding/embedding.h), one set per device so that
// COIL_DEVICE_CALL reaches them. All operands are contiguous; the front end has validated them.
#pragma once
#include <string>

#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

// The error for an index outside [0, V), worded once for both devices (weight, indices: the
// shapes as the reporting side knows them). Defined in embedding.cpp.
std::string bad_index_message(int64_t index, int64_t position, int64_t V, const std::string& weight,
                              const std::string& indices);

#define COIL_EMBEDDING_KERNELS                                                               \
  /* out (..., D) = weight (V, D) rows at indices (...), i32 or i64. An index outside [0, V) \
     is never read: the CPU kernel throws; the CUDA kernel reports it into the device error  \
     record (core/cuda/device_error.h, thrown at the next host synchronisation) and writes   \
     NaN into its output row. */                                                             \
  void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices);    \
  /* dweight (V, D): row v = sum of grad (..., D) rows at positions holding v in a fixed    \
     order (CPU: position order; CUDA: position order within segments of 32 sorted          \
     positions, then segment order); zero for unused rows and for padding_idx (pass -1 for  \
     none). Positions holding an index outside [0, V) contribute nothing on CUDA (the CPU   \
     kernel throws). */                                                                      \
  void embedding_backward(const Tensor& dweight, const Tensor& grad, const Tensor& indices,  \
                          int64_t padding_idx);

namespace cpu {
COIL_EMBEDDING_KERNELS
}
namespace cuda {
COIL_EMBEDDING_KERNELS
}
#undef COIL_EMBEDDING_KERNELS

}  // namespace coil
