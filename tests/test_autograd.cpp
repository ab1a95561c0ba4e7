// Reverse-mode autograd: leaves, accumulation, grad mode, graph freeing and the errors around
// backward().
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/views.h"
#include "ops/elementwise/elementwise.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::host_values;

namespace {
Tensor param(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor t = randn(shape, {DType::f64}, &g);
  set_requires_grad(t);
  return t;
}
double value(const Tensor& t) { return t.item<double>(); }
}  // namespace

TEST_CASE("backward from a one-element output fills .grad of every leaf that reaches it") {
  Tensor x = param({1}, 1), w = param({1}, 2);
  Tensor y = add(mul(x, w), exp(x));  // dy/dx = w + e^x, dy/dw = x
  backward(y);
  CHECK(value(grad(x)) == doctest::Approx(value(w) + std::exp(value(x))).epsilon(1e-12));
  CHECK(value(grad(w)) == doctest::Approx(value(x)).epsilon(1e-12));
  CHECK(is_leaf(x));
  CHECK_FALSE(is_leaf(y));
  CHECK(requires_grad(y));
  CHECK(grad_fn(y)->name == "add");
}

TEST_CASE("an explicit gradient seeds backward from a non-scalar output") {
  Tensor x = param({2, 3}, 3);
  Tensor v = randn({2, 3}, {DType::f64});
  backward(mul(x, 3.0), v);
  auto g = host_values(grad(x)), vv = host_values(v);
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(3 * vv[i]).epsilon(1e-15));
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor x = param({1}, 4);
  backward(mul(x, 2.0));
  backward(mul(x, 5.0));
  CHECK(value(grad(x)) == doctest::Approx(7.0));
  zero_grad(x);
  CHECK_FALSE(grad(x).defined());
  backward(mul(x, 1.5));
  CHECK(value(grad(x)) == doctest::Approx(1.5));
}

TEST_CASE("a tensor used several times receives the sum of its gradients") {
  Tensor x = param({1}, 5);
  Tensor y = mul(x, x);           // 2x
  Tensor z = add(y, mul(x, 3.0));  // + 3
  backward(add(z, x));             // + 1
  CHECK(value(grad(x)) == doctest::Approx(2 * value(x) + 4).epsilon(1e-12));
}

TEST_CASE("diamond graphs run each node once, after all of its consumers") {
  Tensor x = param({1}, 6);
  Tensor a = exp(x);
  Tensor b = mul(a, 2.0), c = mul(a, 3.0);
  backward(mul(b, c));  // 6 e^{2x} -> 12 e^{2x}
  CHECK(value(grad(x)) == doctest::Approx(12 * std::exp(2 * value(x))).epsilon(1e-12));
}

TEST_CASE("NoGradGuard stops recording and restores the previous mode") {
  Tensor x = param({3}, 7);
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_mode_enabled());
    Tensor y = exp(x);
    CHECK_FALSE(requires_grad(y));
    CHECK(grad_fn(y) == nullptr);
    {
      NoGradGuard nested;
    }
    CHECK_FALSE(grad_mode_enabled());
  }
  CHECK(grad_mode_enabled());
  CHECK(requires_grad(exp(x)));
}

TEST_CASE("detach shares data but cuts the graph") {
  Tensor x = param({3}, 8);
  Tensor d = detach(exp(x));
  CHECK_FALSE(requires_grad(d));
  Tensor y = mul(d, x);  // gradient flows only through the second factor
  backward(y, ones({3}, {DType::f64}));
  auto g = host_values(grad(x)), e = host_values(d);
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(e[i]));
  Tensor e2 = exp(x);
  CHECK(detach(e2).data_ptr() == e2.data_ptr());
}

TEST_CASE("broadcast inputs get gradients summed back to their own shape") {
  Tensor a = param({2, 3}, 9), b = param({3}, 10);
  backward(add(a, b), ones({2, 3}, {DType::f64}));
  CHECK(grad(b).shape() == Shape{3});
  for (double g : host_values(grad(b))) CHECK(g == doctest::Approx(2.0));
}

TEST_CASE("saved tensors are freed after backward, and a second backward throws") {
  Tensor x = param({4}, 11);
  Tensor e = exp(x);  // exp saves its input
  Tensor y = mul(e, e);
  long before = x.impl_ptr().use_count();  // exp's backward holds x
  backward(y, ones({4}, {DType::f64}));
  CHECK(x.impl_ptr().use_count() < before);  // released once backward ran
  CHECK_THROWS_WITH_AS(backward(y, ones({4}, {DType::f64})),
                       doctest::Contains("second time"), Error);
}

TEST_CASE("retain_graph keeps the graph for another backward") {
  Tensor x = param({1}, 12);
  Tensor y = mul(exp(x), 2.0);
  backward(y, {}, {.retain_graph = true});
  backward(y);
  CHECK(value(grad(x)) == doctest::Approx(4 * std::exp(value(x))).epsilon(1e-12));
}

TEST_CASE("backward errors: no grad, non-scalar without gradient, mismatched gradient") {
  Tensor plain = randn({3}, {DType::f64});
  CHECK_THROWS_WITH_AS(backward(exp(plain)), doctest::Contains("does not require grad"), Error);
  Tensor x = param({3}, 13);
  CHECK_THROWS_WITH_AS(backward(exp(x)), doctest::Contains("non-scalar"), Error);
  CHECK_THROWS_WITH_AS(backward(exp(x), ones({4}, {DType::f64})), doctest::Contains("[backward]"),
                       Error);
  CHECK_THROWS_AS(backward(Tensor()), Error);
}

TEST_CASE("requires_grad is for floating leaves only") {
  CHECK_THROWS_WITH_AS(set_requires_grad(arange(3)), doctest::Contains("[requires_grad]"), Error);
  Tensor x = param({2}, 14);
  CHECK_THROWS_WITH_AS(set_requires_grad(exp(x)), doctest::Contains("leaf"), Error);
  set_requires_grad(x, false);
  CHECK_FALSE(requires_grad(exp(x)));
}

TEST_CASE("integer inputs take part in the forward but receive no gradient") {
  Tensor x = param({3}, 15);
  Tensor k = arange(3);  // i64
  Tensor y = mul(x, k);
  CHECK(y.dtype() == DType::f64);
  backward(y, ones({3}, {DType::f64}));
  auto g = host_values(grad(x));
  for (size_t i = 0; i < 3; ++i) CHECK(g[i] == doctest::Approx(double(i)));
}

TEST_CASE("a long chain of 20000 ops runs backward without recursion limits") {
  Tensor x = param({1}, 16);
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add(y, 1e-3);
  backward(y);
  CHECK(value(grad(x)) == doctest::Approx(1.0));
}

TEST_CASE("a leaf's .grad owns its storage even when gradients were shared in the graph") {
  Tensor a = param({3}, 17), b = param({3}, 18);
  backward(add(a, b), ones({3}, {DType::f64}));
  CHECK(grad(a).data_ptr() != grad(b).data_ptr());
}

TEST_CASE("detach gives a new handle even before the tensor has history, so records cannot cycle") {
  Tensor t = randn({3}, {DType::f64});
  Tensor d = detach(t);
  CHECK_FALSE(d.is_same(t));
  CHECK(d.data_ptr() == t.data_ptr());
  // An op whose output is captured through detach() before record() must not keep itself alive.
  Tensor x = param({3}, 19);
  std::weak_ptr<TensorImpl> out_impl;
  {
    Tensor y = exp(x);
    out_impl = y.impl_ptr();
  }
  CHECK(out_impl.expired());
}
