// The op harness on the CPU: for every op in ops/op_list.h, a float64 gradient check against
// central differences with random cotangents, equal results on non-contiguous inputs, and
// coil::Error naming the op for every invalid input in its spec.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/support/compare.h"
#include "tests/support/op_harness.h"

using namespace coil;
using namespace coil::testing;

namespace {

// Central-difference gradient of the objective w.r.t. input i at up to `max_elems` elements
// spread over the tensor; compares with the analytical gradient. Returns the max relative error.
double gradcheck_input(const ops::OpSpec& spec, const ops::OpSample& sample, size_t i,
                       const std::vector<Tensor>& v, const Tensor& analytic) {
  const double eps = 1e-6;
  Tensor x = sample.inputs[i];
  REQUIRE(x.is_contiguous());
  auto* data = x.data<double>();
  auto ana = analytic.defined() ? host_values(analytic) : std::vector<double>(size_t(x.numel()), 0.0);
  int64_t n = x.numel(), step = std::max<int64_t>(1, n / 48);
  double max_diff = 0, scale = 1e-12;
  for (double a : ana) scale = std::max(scale, std::abs(a));
  NoGradGuard no_grad;
  for (int64_t e = 0; e < n; e += step) {
    double keep = data[e];
    data[e] = keep + eps;
    manual_seed(kOpSeed);
    double up = objective(spec.run(sample.inputs), v);
    data[e] = keep - eps;
    manual_seed(kOpSeed);
    double down = objective(spec.run(sample.inputs), v);
    data[e] = keep;
    max_diff = std::max(max_diff, std::abs((up - down) / (2 * eps) - ana[size_t(e)]));
  }
  return max_diff / scale;
}

}  // namespace

TEST_CASE("every listed op has a complete spec whose name matches its entry") {
  for (const auto& entry : ops::op_list()) {
    CAPTURE(std::string(entry.name));
    ops::OpSpec spec = entry.spec();
    CHECK(spec.name == entry.name);
    CHECK(spec.run);
    REQUIRE(spec.samples);
    Generator g(1);
    CHECK(!spec.samples(g).empty());
    REQUIRE(spec.invalid);
    CHECK(!spec.invalid().empty());
  }
}

TEST_CASE("float64 gradients of every op match central finite differences") {
  for (const auto& entry : ops::op_list()) {
    ops::OpSpec spec = entry.spec();
    Generator g(42);
    for (const auto& sample : spec.samples(g)) {
      CAPTURE(std::string(entry.name));
      CAPTURE(sample.label);
      std::vector<Tensor> v = draw_cotangents(spec, sample, g);
      OpRun run = run_op(spec, sample, DType::f64, Device::cpu(), v);
      for (size_t i = 0; i < sample.inputs.size(); ++i) {
        if (!differentiable(sample, i)) continue;
        CAPTURE(i);
        CHECK(gradcheck_input(spec, sample, i, v, run.grads[i]) <= spec.gradcheck_tol);
      }
    }
  }
}

TEST_CASE("every op gives the same outputs and gradients on non-contiguous inputs") {
  for (const auto& entry : ops::op_list()) {
    ops::OpSpec spec = entry.spec();
    Generator g(7);
    for (const auto& sample : spec.samples(g)) {
      CAPTURE(std::string(entry.name));
      CAPTURE(sample.label);
      std::vector<Tensor> v = draw_cotangents(spec, sample, g);
      OpRun dense = run_op(spec, sample, DType::f64, Device::cpu(), v);
      OpRun strided = run_op(spec, sample, DType::f64, Device::cpu(), v, true);
      REQUIRE(dense.outputs.size() == strided.outputs.size());
      for (size_t j = 0; j < dense.outputs.size(); ++j)
        CHECK(rel_error(strided.outputs[j], dense.outputs[j]) <= 1e-12);
      for (size_t i = 0; i < dense.grads.size(); ++i) {
        CHECK(dense.grads[i].defined() == strided.grads[i].defined());
        if (dense.grads[i].defined()) CHECK(rel_error(strided.grads[i], dense.grads[i]) <= 1e-12);
      }
    }
  }
}

TEST_CASE("every invalid input in an op's spec throws coil::Error naming the op") {
  for (const auto& entry : ops::op_list()) {
    ops::OpSpec spec = entry.spec();
    for (const auto& bad : spec.invalid()) {
      CAPTURE(std::string(entry.name));
      CAPTURE(bad.label);
      std::string tag = "[" + spec.name + "]";
      CHECK_THROWS_WITH_AS(bad.call(), doctest::Contains(tag.c_str()), Error);
    }
  }
}
