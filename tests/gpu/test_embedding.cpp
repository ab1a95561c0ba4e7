// embedding's CUDA backward on distributions the parity samples do not reach: a small vocabulary
// whose rows own runs of hundreds of sorted positions (several segments each), a skewed one
// (half the positions on one row), padding_idx, a large sparse vocabulary, and a count of
// positions that is not a multiple of the segment. Against the float64 CPU op, and twice on the
// GPU for bitwise reproducibility.
#include <doctest/doctest.h>

#include <optional>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/embedding/embedding.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::rel_error;

namespace {

// The weight's gradient on `dev` in `dt` from float64 host weight, upstream gradient and
// indices.
Tensor weight_grad(Device dev, DType dt, const Tensor& w0, const Tensor& idx, const Tensor& g0,
                   std::optional<int64_t> padding_idx) {
  Tensor w = core::clone(core::to(core::to(w0, dt), dev));
  set_requires_grad(w);
  Tensor out = embedding(w, core::to(idx, dev), padding_idx);
  backward(out, core::to(core::to(g0, dt), dev));
  return grad(w);
}

}  // namespace

TEST_CASE("CUDA embedding weight gradients with long, skewed and sparse runs match the f64 CPU op") {
  struct Case {
    const char* label;
    int64_t V, D, n;
    std::optional<int64_t> padding_idx;
    bool skewed;
  };
  for (const Case c : {Case{"vocabulary 16, 16384 positions (row 3)", 16, 64, 16384, {}, false},
                       Case{"skewed: half the positions on row 0, D 5", 40, 5, 3001, {}, true},
                       Case{"padding_idx 2 among long runs", 4, 33, 517, 2, false},
                       Case{"vocabulary 50277, sparse", 50277, 24, 2049, {}, false},
                       Case{"fewer positions than a segment", 7, 3, 19, {}, false}}) {
    CAPTURE(c.label);
    Generator gen(77 + uint64_t(c.V + c.n));
    Tensor idx = randint(0, c.V, {c.n}, {DType::i64}, &gen);
    if (c.skewed) {
      std::vector<int64_t> v = idx.to_vector<int64_t>();
      for (size_t i = 0; i < v.size(); i += 2) v[i] = 0;
      idx = from_vector<int64_t>(v, {c.n});
    }
    const Tensor w = randn({c.V, c.D}, {DType::f64}, &gen);
    const Tensor g = randn({c.n, c.D}, {DType::f64}, &gen);
    const Tensor want = weight_grad(Device::cpu(), DType::f64, w, idx, g, c.padding_idx);
    const Tensor got = weight_grad(Device::cuda(0), DType::f32, w, idx, g, c.padding_idx);
    const Tensor again = weight_grad(Device::cuda(0), DType::f32, w, idx, g, c.padding_idx);
    CHECK(rel_error(got, want) <= 1e-5);
    CHECK(bitwise_equal(got, again));
  }
}
