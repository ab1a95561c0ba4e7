// Test helpers for the CPU suites: an independent strided reader (raw storage + strides, no
// copy kernel involved), row-major index walks, and tolerance checks against double references.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/copy.h"
#include "core/error.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/tensor.h"
#include "core/views.h"

namespace coil::testing {

// Element at a multi-index, read straight from storage through shape/strides/offset.
inline double at(const Tensor& t, const std::vector<int64_t>& idx) {
  if (!t.device().is_cpu() || idx.size() != size_t(t.dim()))
    FAIL("at(): needs a cpu tensor and an index of its rank, got " << describe(t));
  int64_t off = t.offset();
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  const char* base = static_cast<const char*>(t.storage()->data());
  const void* p = base + off * int64_t(t.itemsize());
  switch (t.dtype()) {
    case DType::f32:
      return *static_cast<const float*>(p);
    case DType::f64:
      return *static_cast<const double*>(p);
    case DType::bf16:
      return double(float(*static_cast<const bf16*>(p)));
    case DType::i32:
      return *static_cast<const int32_t*>(p);
    case DType::i64:
      return double(*static_cast<const int64_t*>(p));
    case DType::u8:
      return *static_cast<const uint8_t*>(p);
    case DType::boolean:
      return *static_cast<const bool*>(p) ? 1.0 : 0.0;
  }
  return NAN;
}

// Calls f(index) for every multi-index of shape in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const Shape&)>& f) {
  if (shape_numel(shape) == 0) return;
  Shape idx(shape.size(), 0);
  while (true) {
    f(idx);
    int64_t d = int64_t(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
    if (d < 0) return;
  }
}

// All elements in row-major order through the independent reader.
inline std::vector<double> read_all(const Tensor& t) {
  std::vector<double> out;
  out.reserve(size_t(t.numel()));
  for_each_index(t.shape(), [&](const Shape& i) { out.push_back(at(t, i)); });
  return out;
}

// Checks |got - want| <= atol + rtol * |want| elementwise; reports the first few mismatches.
inline void check_close(const std::vector<double>& got, const std::vector<double>& want,
                        double rtol, double atol, const std::string& what = "") {
  REQUIRE_MESSAGE(got.size() == want.size(), what);
  int reported = 0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    bool ok = both_nan || got[i] == want[i] ||
              std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]);
    if (!ok) {
      ++bad;
      if (reported++ < 5)
        FAIL_CHECK(what << ": element " << i << " got " << got[i] << " want " << want[i]);
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << got.size() << " elements differ");
}

inline void check_close(const Tensor& got, const std::vector<double>& want, double rtol,
                        double atol, const std::string& what = "") {
  check_close(read_all(got), want, rtol, atol, what);
}

inline void check_equal(const Tensor& got, const std::vector<double>& want,
                        const std::string& what = "") {
  check_close(read_all(got), want, 0.0, 0.0, what);
}

// The message of the coil::Error that f throws, or "" when it throws nothing.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A fresh generator per test keeps each test's data independent of test order.
inline Tensor randn_t(const Shape& shape, DType dt = DType::f32, uint64_t seed = 1) {
  Generator g(seed);
  return randn(shape, {dt, Device::cpu()}, &g);
}
inline Tensor uniform_t(const Shape& shape, double lo, double hi, DType dt = DType::f32,
                        uint64_t seed = 1) {
  Generator g(seed);
  return uniform(shape, lo, hi, {dt, Device::cpu()}, &g);
}

}  // namespace coil::testing
