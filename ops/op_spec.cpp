// Draw helpers shared by op specs.
#include "ops/op_spec.h"

#include <algorithm>
#include <numeric>

#include "core/copy.h"
#include "core/factory.h"

namespace coil::ops {

Tensor sample_normal(Generator& g, const Shape& shape, double scale) {
  return normal(shape, 0.0, scale, {DType::f64}, &g);
}

Tensor sample_uniform(Generator& g, const Shape& shape, double lo, double hi) {
  return uniform(shape, lo, hi, {DType::f64}, &g);
}

Tensor sample_separated(Generator& g, const Shape& shape, double gap) {
  int64_t n = shape_numel(shape);
  // A random permutation of evenly spaced values, centred on zero.
  std::vector<double> keys = uniform({n}, 0, 1, {DType::f64}, &g).to_vector<double>();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return keys[size_t(a)] < keys[size_t(b)]; });
  std::vector<double> vals(static_cast<size_t>(n));
  double step = std::max(gap, 2.0 / double(std::max<int64_t>(n, 1)));
  for (int64_t i = 0; i < n; ++i)
    vals[size_t(idx[size_t(i)])] = (double(i) - double(n - 1) / 2) * step + gap / 2;
  return from_vector(vals, shape);
}

}  // namespace coil::ops
