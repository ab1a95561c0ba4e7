// Kernels of the shape family that core's copy cannot express: flip (a gather with reversed
// strides) and cumsum (a scan along lines). Declared in coil::cpu and coil::cuda for
// COIL_DEVICE_CALL; the front ends (flip_cumsum.cpp) validate and allocate.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/strided_loop.h"
#include "core/tensor.h"

namespace coil {

// out (contiguous) = in with the dims whose bit is set in `flip_mask` reversed; in may have any
// strides; both have the same shape, dtype and device, rank <= kMaxDims.
// cumsum over in, out viewed as contiguous (outer, len, inner); reverse sums from the end of
// each line (the backward of cumsum).
#define COIL_DECLARE_SHAPE_KERNELS                                                            \
  void flip(const Tensor& out, const Tensor& in, uint32_t flip_mask);                         \
  void cumsum(const Tensor& out, const Tensor& in, int64_t outer, int64_t len, int64_t inner, \
              bool reverse);

namespace cpu {
COIL_DECLARE_SHAPE_KERNELS
}
namespace cuda {
COIL_DECLARE_SHAPE_KERNELS
}
#undef COIL_DECLARE_SHAPE_KERNELS

// The index walk of flip shared by both backends: operand 0 is out, operand 1 reads in from the
// far end of each flipped dim with a negated stride. Element offsets, not bytes.
inline StridedLoop<2> flip_loop(const Tensor& out, const Tensor& in, uint32_t flip_mask) {
  StridedLoop<2> L;
  L.numel = out.numel();
  L.ndim = std::max<int>(1, int(out.dim()));
  L.sizes[0] = 1;  // a scalar walks one element
  char* src = static_cast<char*>(in.data_ptr());
  for (int d = 0; d < int(out.dim()); ++d) {
    int64_t size = out.shape()[size_t(d)], stride = in.strides()[size_t(d)];
    bool flipped = (flip_mask >> d) & 1u;
    L.sizes[d] = size;
    L.strides[0][d] = out.strides()[size_t(d)];
    L.strides[1][d] = flipped ? -stride : stride;
    if (flipped && size > 0) src += (size - 1) * stride * int64_t(in.itemsize());
  }
  L.data[0] = static_cast<char*>(out.data_ptr());
  L.data[1] = src;
  L.itemsize[0] = L.itemsize[1] = int(out.itemsize());
  return L;
}

}  // namespace coil
