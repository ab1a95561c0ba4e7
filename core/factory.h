// Tensor creation: constants, ranges and copies of host data.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace coil {

Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
// start, start+step, ... while < end (> end for negative steps). Default dtype f32.
Tensor arange(double start, double end, double step = 1, TensorOptions opts = {});
Tensor arange(int64_t end, TensorOptions opts = {DType::i64, Device::cpu()});
Tensor scalar_tensor(double value, TensorOptions opts = {});  // rank 0

// A tensor holding a copy of host values. With no shape: (values.size(),), except that a single
// value makes a rank-0 tensor (scalar).
template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {}, Device device = Device::cpu());

}  // namespace coil
