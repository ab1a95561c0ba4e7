// Copies and conversions between strides, dtypes and devices.
#pragma once
#include "core/tensor.h"

namespace coil::core {

// dst[...] = src[...] with src broadcast to dst's shape; converts dtype; crosses devices.
void copy_(const Tensor& dst, const Tensor& src);
void fill_(const Tensor& dst, double value);

Tensor contiguous(const Tensor& t);     // t itself when already contiguous
Tensor clone(const Tensor& t);          // always a fresh contiguous copy
Tensor to(const Tensor& t, Device d);   // t itself when already there; host-bound copies sync
Tensor to(const Tensor& t, DType dt);   // t itself when already that dtype

}  // namespace coil::core
