// The op harness on CUDA: for every op in ops/op_list.h, f32 outputs and gradients match the
// CPU within the spec's tolerance, and two CUDA runs are bitwise equal.
#include <doctest/doctest.h>

#include "tests/support/compare.h"
#include "tests/support/op_harness.h"

using namespace coil;
using namespace coil::testing;

TEST_CASE("every op matches the CPU on CUDA in f32, outputs and gradients") {
  for (const auto& entry : ops::op_list()) {
    ops::OpSpec spec = entry.spec();
    Generator g(11);
    for (const auto& sample : spec.samples(g)) {
      CAPTURE(std::string(entry.name));
      CAPTURE(sample.label);
      std::vector<Tensor> v = draw_cotangents(spec, sample, g);
      if (!spec.has_cuda) {
        CHECK_THROWS_WITH_AS(run_op(spec, sample, DType::f32, Device::cuda(), v),
                             doctest::Contains("has no CUDA implementation"), Error);
        continue;
      }
      OpRun cpu = run_op(spec, sample, DType::f32, Device::cpu(), v);
      OpRun gpu = run_op(spec, sample, DType::f32, Device::cuda(), v);
      REQUIRE(cpu.outputs.size() == gpu.outputs.size());
      for (size_t j = 0; j < cpu.outputs.size(); ++j) {
        CAPTURE(j);
        CHECK(gpu.outputs[j].device() == Device::cuda());
        CHECK(rel_error(gpu.outputs[j], cpu.outputs[j]) <= spec.parity_tol);
      }
      for (size_t i = 0; i < cpu.grads.size(); ++i) {
        CAPTURE(i);
        REQUIRE(cpu.grads[i].defined() == gpu.grads[i].defined());
        if (cpu.grads[i].defined()) {
          CHECK(gpu.grads[i].device() == Device::cuda());
          CHECK(rel_error(gpu.grads[i], cpu.grads[i]) <= spec.parity_tol);
        }
      }
    }
  }
}

TEST_CASE("every op is deterministic on CUDA: two runs give bitwise-equal outputs and gradients") {
  for (const auto& entry : ops::op_list()) {
    ops::OpSpec spec = entry.spec();
    if (!spec.has_cuda) continue;
    Generator g(13);
    for (const auto& sample : spec.samples(g)) {
      CAPTURE(std::string(entry.name));
      CAPTURE(sample.label);
      std::vector<Tensor> v = draw_cotangents(spec, sample, g);
      OpRun a = run_op(spec, sample, DType::f32, Device::cuda(), v);
      OpRun b = run_op(spec, sample, DType::f32, Device::cuda(), v);
      for (size_t j = 0; j < a.outputs.size(); ++j) CHECK(bitwise_equal(a.outputs[j], b.outputs[j]));
      for (size_t i = 0; i < a.grads.size(); ++i)
        if (a.grads[i].defined()) CHECK(bitwise_equal(a.grads[i], b.grads[i]));
    }
  }
}
