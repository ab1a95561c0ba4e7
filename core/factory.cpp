// Constants, ranges, host data and random draws.
#include "core/factory.h"

#include <cmath>
#include <limits>

#include "core/copy.h"
#include "core/kernels.h"
#include "core/random.h"

namespace coil {

Tensor full(const Shape& shape, double value, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  core::fill_(t, value);
  return t;
}
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.options()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.options()); }
Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }

Tensor arange(double start, double end, double step, TensorOptions opts) {
  COIL_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
             "[arange] invalid range start={} end={} step={}", start, end, step);
  double n = std::ceil((end - start) / step);
  COIL_CHECK(n < double(std::numeric_limits<int64_t>::max()),
             "[arange] range start={} end={} step={} has too many elements", start, end, step);
  Tensor t = empty({n > 0 ? int64_t(n) : 0}, opts);
  if (t.numel() > 0) COIL_DEVICE_CALL("arange", t.device(), arange, t, start, step);
  return t;
}

Tensor arange(int64_t end, TensorOptions opts) { return arange(0.0, double(end), 1.0, opts); }

template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape, Device device) {
  if (shape.empty() && values.size() != 1) shape = {int64_t(values.size())};
  COIL_CHECK(shape_numel(shape) == int64_t(values.size()),
             "[from_vector] {} values do not fill shape {}", values.size(), shape_str(shape));
  Tensor host = empty(shape, {dtype_of<T>, Device::cpu()});
  T* p = host.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return core::to(host, device);
}
template Tensor from_vector(const std::vector<float>&, Shape, Device);
template Tensor from_vector(const std::vector<double>&, Shape, Device);
template Tensor from_vector(const std::vector<int32_t>&, Shape, Device);
template Tensor from_vector(const std::vector<int64_t>&, Shape, Device);
template Tensor from_vector(const std::vector<uint8_t>&, Shape, Device);

// ---- random -------------------------------------------------------------------------------

Generator& default_generator() {
  static Generator gen;
  return gen;
}
void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

static Tensor draw(const Shape& shape, TensorOptions opts, Generator* gen, int kind, double lo,
                   double hi, uint64_t words_per_value, const char* op) {
  Tensor t = empty(shape, opts);
  Generator& g = gen ? *gen : default_generator();
  uint64_t offset = g.reserve(uint64_t(t.numel()) * words_per_value);
  if (t.numel() > 0) COIL_DEVICE_CALL(op, t.device(), random, t, g.seed(), offset, kind, lo, hi);
  return t;
}

Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opts, Generator* gen) {
  COIL_CHECK(is_floating(opts.dtype), "[uniform] needs a floating dtype, got {}",
             dtype_name(opts.dtype));
  COIL_CHECK(lo <= hi, "[uniform] empty range [{}, {})", lo, hi);
  return draw(shape, opts, gen, 0, lo, hi, 1, "uniform");
}
Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen) {
  return uniform(shape, 0.0, 1.0, opts, gen);
}
Tensor normal(const Shape& shape, double mean, double stddev, TensorOptions opts,
              Generator* gen) {
  COIL_CHECK(is_floating(opts.dtype), "[normal] needs a floating dtype, got {}",
             dtype_name(opts.dtype));
  COIL_CHECK(stddev >= 0, "[normal] negative stddev {}", stddev);
  return draw(shape, opts, gen, 1, mean, stddev, 2, "normal");
}
Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen) {
  return normal(shape, 0.0, 1.0, opts, gen);
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator* gen) {
  COIL_CHECK(low < high, "[randint] empty range [{}, {})", low, high);
  COIL_CHECK(opts.dtype != DType::boolean, "[randint] dtype bool is not supported");
  return draw(shape, opts, gen, 2, double(low), double(high), 2, "randint");
}

}  // namespace coil
