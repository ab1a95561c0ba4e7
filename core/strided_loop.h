// StridedLoop: the index arithmetic of an elementwise kernel over N operands that already share
// one (broadcast) shape. Dimensions that are jointly contiguous are merged, so a contiguous
// tensor becomes a 1-D loop and (B, L, D) + (D) becomes a 2-D one.
#pragma once
#include <cstdint>

#include "core/shape.h"

namespace coil {

template <int N>
struct StridedLoop {
  int ndim = 0;
  int64_t numel = 0;
  int64_t sizes[kMaxDims] = {};       // outermost first
  int64_t strides[N][kMaxDims] = {};  // elements; 0 where an operand is broadcast
  char* data[N] = {};                 // address of element 0 of each operand
  int itemsize[N] = {};

  bool all_contiguous() const {
    if (ndim != 1) return ndim == 0;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

// Fills loop from operands that each have `shape` (use expanded views for broadcast inputs);
// defined in strided_loop.cpp as an explicit template for N = 1..4.
class Tensor;
template <int N>
StridedLoop<N> make_strided_loop(const Tensor* const (&ops)[N], const char* op);

}  // namespace coil
