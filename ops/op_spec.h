// The test contract every op signs: how to draw valid inputs, how to call it, which inputs are
// invalid. The harness (tests/test_op_harness.cpp, tests/gpu/test_op_parity.cpp) runs every
// spec in ops/op_list.cpp through gradient checks, layout checks, error checks and CPU/CUDA
// parity, so an op gets all of them by being listed.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace coil::ops {

// One valid call. Inputs are float64 CPU tensors (or integer/bool tensors); the harness converts
// them to f32 and moves them to CUDA for parity runs. Every floating input is differentiated
// unless its index is in `no_grad`.
struct OpSample {
  std::string label;
  std::vector<Tensor> inputs;
  std::vector<int> no_grad = {};
};

// An invalid call: `call` must throw coil::Error whose message names the op.
struct InvalidCase {
  std::string label;
  std::function<void()> call;
};

struct OpSpec {
  std::string name;  // as it appears in error messages: "[name] ..."
  std::function<std::vector<OpSample>(Generator&)> samples;
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run;
  std::function<std::vector<InvalidCase>()> invalid;
  double gradcheck_tol = 1e-6;  // max relative error vs central differences (float64)
  double parity_tol = 1e-5;     // CPU vs CUDA relative error in f32
  bool has_cuda = true;
};

// Draw helpers for specs.
Tensor sample_normal(Generator& g, const Shape& shape, double scale = 1.0);
Tensor sample_uniform(Generator& g, const Shape& shape, double lo, double hi);
// Values with gaps of at least `gap` between any two, so kinks (max, abs, relu) are not hit
// by finite differences.
Tensor sample_separated(Generator& g, const Shape& shape, double gap = 0.02);

}  // namespace coil::ops
