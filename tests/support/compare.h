// Test helpers: compare tensors on any device against each other in float64.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/copy.h"
#include "core/tensor.h"

namespace coil::testing {

inline std::vector<double> host_values(const Tensor& t) {
  return core::to(core::to(t, Device::cpu()), DType::f64).to_vector<double>();
}

// max |a - b| / max(max |b|, tiny): a scale-aware error that never divides by ~0.
inline double rel_error(const Tensor& a, const Tensor& b) {
  auto x = host_values(a), y = host_values(b);
  if (x.size() != y.size()) return INFINITY;
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    if (std::isnan(x[i])) continue;
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = core::contiguous(core::to(a, Device::cpu()));
  Tensor y = core::contiguous(core::to(b, Device::cpu()));
  return std::equal(static_cast<const char*>(x.data_ptr()),
                    static_cast<const char*>(x.data_ptr()) + x.nbytes(),
                    static_cast<const char*>(y.data_ptr()));
}

}  // namespace coil::testing
