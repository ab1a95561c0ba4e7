// conv1d_causal's CUDA weight and bias gradients at the shapes the small parity samples never
// reach: more reduction chunks than the final pass's 32 slices (row 3 of the model table makes
// 512), channels that are not a multiple of the 16-byte vectors, and K = 9 (the
// one-thread-per-element kernels) with many chunks. Each against the float64 CPU op, and twice on
// the GPU for bitwise reproducibility.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/random.h"
#include "ops/conv1d/conv1d.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::rel_error;

namespace {

// out, dx, dweight, dbias of conv1d_causal on `dev` in `dt`, from float64 host inputs.
std::vector<Tensor> conv_and_grads(Device dev, DType dt, const Tensor& x0, const Tensor& w0,
                                   const Tensor& b0, const Tensor& g0) {
  auto put = [&](const Tensor& t) { return core::clone(core::to(core::to(t, dt), dev)); };
  Tensor x = put(x0), w = put(w0), b = put(b0);
  for (const Tensor* t : {&x, &w, &b}) set_requires_grad(*t);
  Tensor out = conv1d_causal(x, w, b);
  backward(out, put(g0));
  return {out, grad(x), grad(w), grad(b)};
}

}  // namespace

TEST_CASE("CUDA conv1d_causal gradients with many reduction chunks match the f64 CPU op") {
  struct Case {
    int64_t B, L, C, K;
  };
  // Row 3 (B 64, L 256, C 128: 512 chunks); 16-byte vectors with 48 chunks; C = 33 (scalar
  // accesses) past a chunk; K = 9 with many chunks of rows.
  for (const Case c : {Case{64, 256, 128, 4}, Case{16, 70, 40, 4}, Case{5, 301, 33, 3},
                       Case{8, 300, 64, 9}}) {
    CAPTURE(c.B);
    CAPTURE(c.L);
    CAPTURE(c.C);
    CAPTURE(c.K);
    Generator gen(1000 + uint64_t(c.B * c.L + c.C));
    const Tensor x = randn({c.B, c.L, c.C}, {DType::f64}, &gen);
    const Tensor w = randn({c.C, c.K}, {DType::f64}, &gen);
    const Tensor b = randn({c.C}, {DType::f64}, &gen);
    const Tensor g = randn({c.B, c.L, c.C}, {DType::f64}, &gen);
    const auto want = conv_and_grads(Device::cpu(), DType::f64, x, w, b, g);
    const auto got = conv_and_grads(Device::cuda(0), DType::f32, x, w, b, g);
    const auto again = conv_and_grads(Device::cuda(0), DType::f32, x, w, b, g);
    const char* names[] = {"out", "dx", "dweight", "dbias"};
    for (size_t i = 0; i < want.size(); ++i) {
      CAPTURE(names[i]);
      // dweight and dbias are f32 sums over B * L products (up to 16384).
      CHECK(rel_error(got[i], want[i]) <= (i < 2 ? 2e-6 : 1e-5));
      CHECK(bitwise_equal(got[i], again[i]));
    }
  }
}
