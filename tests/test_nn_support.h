// Helpers for the nn test suites: a finite-difference gradient check over a few elements of
// every parameter of a whole f64 module, and a relative distance between two tensors.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "nn/module.h"
#include "tests/support/compare.h"

namespace coil::testing {

// loss() runs the module's forward and returns a scalar (f64). For each parameter, `per_param`
// elements spread over the tensor are perturbed by +-eps; the central difference must match the
// gradient from backward() to rtol (relative to the largest gradient of that parameter).
inline void gradcheck_module(nn::Module& m, const std::function<Tensor()>& loss, int per_param = 3,
                             double eps = 1e-6, double rtol = 1e-5) {
  m.zero_grad();
  backward(loss());
  NoGradGuard no_grad;
  for (const auto& p : m.named_parameters()) {
    REQUIRE_MESSAGE(p.tensor.dtype() == DType::f64, p.name);
    REQUIRE_MESSAGE(p.tensor.is_contiguous(), p.name);
    Tensor g = grad(p.tensor);
    REQUIRE_MESSAGE(g.defined(), p.name << " received no gradient");
    auto gv = host_values(g);
    double scale = 1e-12;
    for (double v : gv) scale = std::max(scale, std::abs(v));
    double* data = p.tensor.data<double>();
    const int64_t n = p.tensor.numel();
    for (int k = 0; k < per_param; ++k) {
      int64_t i = (n - 1) * k / std::max(1, per_param - 1);
      double keep = data[i];
      data[i] = keep + eps;
      double up = loss().item<double>();
      data[i] = keep - eps;
      double down = loss().item<double>();
      data[i] = keep;
      double numeric = (up - down) / (2 * eps);
      INFO(p.name << "[" << i << "]: analytic " << gv[size_t(i)] << ", numeric " << numeric);
      CHECK(std::abs(numeric - gv[size_t(i)]) <= rtol * scale + 1e-9);
    }
  }
}

// A scalar that depends on every output element with distinct weights (a random projection).
inline Tensor weighted_sum(const Tensor& y, uint64_t seed = 77);

// Runs tools/mamba_reference.py (PyTorch MambaLMHeadModel) writing model.safetensors and
// io.safetensors into dir. False, with nothing run, when python3 cannot import torch and
// safetensors (the test then skips); a failing script is a test failure.
inline bool run_mamba_reference(const std::string& dir) {
  if (std::system("python3 -c 'import torch, safetensors' > /dev/null 2>&1") != 0) return false;
  std::string here = __FILE__;  // tests/test_nn_support.h
  std::string root = here.substr(0, here.rfind("/tests/"));
  std::string cmd = "python3 '" + root + "/tools/mamba_reference.py' --out '" + dir + "'";
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
  return true;
}

}  // namespace coil::testing

#include "core/factory.h"
#include "core/random.h"
#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"

inline coil::Tensor coil::testing::weighted_sum(const Tensor& y, uint64_t seed) {
  Generator g(seed);
  Tensor w = core::to(randn(y.shape(), {DType::f64, Device::cpu()}, &g), y.device());
  return sum(mul(y, core::to(w, y.dtype())));
}

#include "nn/sequence.h"
#include "ops/shape/shape.h"

namespace coil::testing {

// Runs layer.step over every position of x (B, L, H) and stacks the outputs to (B, L, H').
inline Tensor step_through(nn::SequenceLayer& layer, const Tensor& x) {
  nn::State state;
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < x.size(1); ++t) ys.push_back(layer.step(select(x, 1, t), state));
  return stack(ys, 1);
}

}  // namespace coil::testing
