// Test specs of the normalisation ops (see ops/op_spec.h). Row lengths cover both CUDA paths:
// warp per row (D <= 1024, vectorised when D % 4 == 0) and block per row (1025, 1028).
#include "core/copy.h"
#include "core/factory.h"
#include "ops/norm/norm.h"
#include "ops/op_spec.h"

namespace coil::ops {
namespace {

// Inputs with a non-zero mean (so centring matters) and weights away from zero.
Tensor draw_x(Generator& g, const Shape& s) { return sample_uniform(g, s, -1.0, 2.0); }
Tensor draw_w(Generator& g, int64_t n) { return sample_uniform(g, {n}, 0.5, 1.5); }
Tensor draw_b(Generator& g, int64_t n) { return sample_normal(g, {n}, 0.5); }

Tensor input(const std::vector<Tensor>& in, size_t i) { return i < in.size() ? in[i] : Tensor(); }

}  // namespace

OpSpec spec_layer_norm() {
  OpSpec s;
  s.name = "layer_norm";
  s.samples = [](Generator& g) {
    auto affine = [&](const std::string& label, Shape shape) {
      int64_t d = shape.back();
      return OpSample{label, {draw_x(g, shape), draw_w(g, d), draw_b(g, d)}};
    };
    return std::vector<OpSample>{
        affine("(3, 7) weight and bias", {3, 7}),
        affine("D = 1 (output is the bias)", {4, 1}),
        {"(2, 3, 5) no affine", {draw_x(g, {2, 3, 5})}},
        {"(3, 64) weight only, vector loads", {draw_x(g, {3, 64}), draw_w(g, 64)}},
        affine("D = 257", {2, 257}),
        affine("D = 1025, block per row", {2, 1025}),
        affine("D = 1028, block per row, vector loads", {2, 1028}),
    };
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{layer_norm(in[0], input(in, 1), input(in, 2))};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"weight shape != (D)", [] { layer_norm(ones({2, 3}), ones({4})); }},
        {"bias shape != (D)", [] { layer_norm(ones({2, 3}), ones({3}), ones({2, 3})); }},
        {"scalar input", [] { layer_norm(ones({})); }},
        {"integer input", [] { layer_norm(ones({2, 3}, {DType::i64})); }},
        {"weight dtype differs", [] { layer_norm(ones({2, 3}), ones({3}, {DType::f64})); }},
        {"negative eps", [] { layer_norm(ones({2, 3}), {}, {}, -1.0); }},
        {"undefined input", [] { layer_norm(Tensor()); }}};
  };
  return s;
}

OpSpec spec_rms_norm() {
  OpSpec s;
  s.name = "rms_norm";
  s.samples = [](Generator& g) {
    auto weighted = [&](const std::string& label, Shape shape) {
      int64_t d = shape.back();
      return OpSample{label, {draw_x(g, shape), draw_w(g, d)}};
    };
    return std::vector<OpSample>{
        weighted("(3, 7) weight", {3, 7}),
        // x / sqrt(x^2 + eps): only |x| ~ sqrt(eps) gives a gradient well above rounding noise.
        {"D = 1, |x| ~ sqrt(eps)", {sample_uniform(g, {4, 1}, -0.01, 0.01), draw_w(g, 1)}},
        {"(2, 3, 5) no weight", {draw_x(g, {2, 3, 5})}},
        weighted("(3, 64) vector loads", {3, 64}),
        weighted("D = 257", {2, 257}),
        weighted("D = 1025, block per row", {2, 1025}),
        weighted("D = 1028, block per row, vector loads", {2, 1028}),
    };
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{rms_norm(in[0], input(in, 1))};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"weight shape != (D)", [] { rms_norm(ones({2, 3}), ones({2})); }},
        {"scalar input", [] { rms_norm(ones({})); }},
        {"bf16 input", [] { rms_norm(ones({2, 3}, {DType::bf16})); }},
        {"weight dtype differs", [] { rms_norm(ones({2, 3}), ones({3}, {DType::f64})); }}};
  };
  return s;
}

// Inputs: x, running_mean, running_var [, weight [, bias]]; the running statistics take no
// gradient. Training mode: the spec-less eval test lives in tests/test_ops_norm.cpp.
OpSpec spec_batch_norm() {
  OpSpec s;
  s.name = "batch_norm";
  s.samples = [](Generator& g) {
    auto sample = [&](const std::string& label, Shape shape, int affine) {
      const int64_t c = shape[1];
      OpSample o{label,
                 {draw_x(g, shape), sample_normal(g, {c}, 0.5), sample_uniform(g, {c}, 0.5, 1.5)},
                 {1, 2}};
      if (affine > 0) o.inputs.push_back(draw_w(g, c));
      if (affine > 1) o.inputs.push_back(draw_b(g, c));
      return o;
    };
    return std::vector<OpSample>{
        sample("(4, 3) weight and bias", {4, 3}, 2),
        sample("(2, 3, 5) weight and bias", {2, 3, 5}, 2),
        sample("(5, 2, 1)", {5, 2, 1}, 2),
        sample("(1, 2, 3) one sample", {1, 2, 3}, 2),
        // Two values: xhat = +-sqrt(var / (var + eps)), whose gradient matters only for var ~ eps.
        [&] {
          OpSample o = sample("(2, 3) two values per channel, var ~ eps", {2, 3}, 2);
          o.inputs[0] = sample_uniform(g, {2, 3}, 0.0, 0.01);
          return o;
        }(),
        sample("(3, 4, 7) weight only", {3, 4, 7}, 1),
        sample("(3, 4, 6) no affine", {3, 4, 6}, 0),
        {"(3, 2) no running stats", {draw_x(g, {3, 2})}},
        sample("(300, 5) several chunks of rows", {300, 5}, 2),
        sample("(9, 2, 300) several chunks per channel", {9, 2, 300}, 2),
    };
  };
  // batch_norm updates the running statistics in place; the harness reruns the op many times
  // on the same inputs, so each run starts from a fresh copy.
  s.run = [](const std::vector<Tensor>& in) {
    Tensor rm = in.size() > 1 ? core::clone(in[1]) : Tensor();
    Tensor rv = in.size() > 2 ? core::clone(in[2]) : Tensor();
    return std::vector<Tensor>{batch_norm(in[0], rm, rv, input(in, 3), input(in, 4), true)};
  };
  s.invalid = [] {
    auto bn = [](const Tensor& x, const Tensor& rm, const Tensor& rv, const Tensor& w,
                 const Tensor& b, bool training) { batch_norm(x, rm, rv, w, b, training); };
    return std::vector<InvalidCase>{
        {"rank 1", [=] { bn(ones({4}), {}, {}, {}, {}, true); }},
        {"rank 4", [=] { bn(ones({2, 3, 4, 5}), {}, {}, {}, {}, true); }},
        {"weight shape != (C)", [=] { bn(ones({4, 3}), {}, {}, ones({4}), {}, true); }},
        {"bias shape != (C)", [=] { bn(ones({4, 3}), {}, {}, ones({3}), ones({3, 1}), true); }},
        {"running_mean shape != (C)",
         [=] { bn(ones({4, 3, 2}), ones({2}), ones({3}), {}, {}, true); }},
        {"running_var missing", [=] { bn(ones({4, 3}), zeros({3}), {}, {}, {}, true); }},
        {"one value per channel in training", [=] { bn(ones({1, 3}), {}, {}, {}, {}, true); }},
        {"one value per channel, (1, C, 1)", [=] { bn(ones({1, 3, 1}), {}, {}, {}, {}, true); }},
        {"eval without running stats", [=] { bn(ones({4, 3}), {}, {}, {}, {}, false); }},
        {"weight dtype differs",
         [=] { bn(ones({4, 3}), {}, {}, ones({3}, {DType::f64}), {}, true); }}};
  };
  return s;
}

}  // namespace coil::ops
