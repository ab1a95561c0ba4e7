// Test specs of the step ops (see ops/op_spec.h). They record no gradients (inference only), so
// every input is in no_grad; the harness checks layouts, bad input and CPU/CUDA parity.
#include "core/factory.h"
#include "ops/op_spec.h"
#include "ops/ssm_step/ssm_step.h"

namespace coil::ops {

OpSpec spec_s4d_step() {
  OpSpec s;
  s.name = "s4d_step";
  s.samples = [](Generator& g) {
    auto make = [&g](const char* label, int64_t B, int64_t H, int64_t N2) {
      return OpSample{label,
                      {sample_normal(g, {B, H, N2, 2}), sample_normal(g, {B, H}),
                       sample_normal(g, {H, N2, 2}, 0.5), sample_normal(g, {H, N2, 2}),
                       sample_normal(g, {H, N2, 2}), sample_normal(g, {H})},
                      {0, 1, 2, 3, 4, 5}};
    };
    return std::vector<OpSample>{make("B 2, H 3, N2 4", 2, 3, 4), make("one mode", 1, 2, 1),
                                 make("300 rows", 3, 100, 2)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    auto [y, next] = s4d_step(in[0], in[1], in[2], in[3], in[4], in[5]);
    return std::vector<Tensor>{y, next};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"mismatched H",
         [] {
           s4d_step(ones({2, 3, 4, 2}), ones({2, 3}), ones({2, 4, 2}), ones({2, 4, 2}),
                    ones({2, 4, 2}), ones({2}));
         }},
        {"mismatched N2",
         [] {
           s4d_step(ones({2, 3, 5, 2}), ones({2, 3}), ones({3, 4, 2}), ones({3, 4, 2}),
                    ones({3, 4, 2}), ones({3}));
         }},
        {"dtype mismatch",
         [] {
           s4d_step(ones({2, 3, 4, 2}), ones({2, 3}, {DType::f64}), ones({3, 4, 2}),
                    ones({3, 4, 2}), ones({3, 4, 2}), ones({3}));
         }},
        {"integer state", [] {
           s4d_step(ones({2, 3, 4, 2}, {DType::i64}), ones({2, 3}), ones({3, 4, 2}),
                    ones({3, 4, 2}), ones({3, 4, 2}), ones({3}));
         }}};
  };
  return s;
}

OpSpec spec_ssm_step() {
  OpSpec s;
  s.name = "ssm_step";
  s.samples = [](Generator& g) {
    auto make = [&g](const char* label, int64_t B, int64_t H, int64_t N) {
      return OpSample{
          label,
          {sample_normal(g, {B, H, N}), sample_normal(g, {B, H}), sample_normal(g, {H, N, N}, 0.3),
           sample_normal(g, {H, N}), sample_normal(g, {H, N}), sample_normal(g, {H})},
          {0, 1, 2, 3, 4, 5}};
    };
    return std::vector<OpSample>{make("B 2, H 3, N 4", 2, 3, 4), make("N 1", 1, 2, 1),
                                 make("N 33: a partial warp", 2, 2, 33)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    auto [y, next] = ssm_step(in[0], in[1], in[2], in[3], in[4], in[5]);
    return std::vector<Tensor>{y, next};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"mismatched H",
         [] {
           ssm_step(ones({2, 3, 4}), ones({2, 3}), ones({2, 4, 4}), ones({2, 4}), ones({2, 4}),
                    ones({2}));
         }},
        {"non-square Abar",
         [] {
           ssm_step(ones({2, 3, 4}), ones({2, 3}), ones({3, 4, 5}), ones({3, 4}), ones({3, 4}),
                    ones({3}));
         }},
        {"N over 1024",
         [] {
           ssm_step(ones({1, 1, 1025}), ones({1, 1}), ones({1, 1025, 1025}), ones({1, 1025}),
                    ones({1, 1025}), ones({1}));
         }},
        {"dtype mismatch", [] {
           ssm_step(ones({2, 3, 4}), ones({2, 3}), ones({3, 4, 4}, {DType::f64}), ones({3, 4}),
                    ones({3, 4}), ones({3}));
         }}};
  };
  return s;
}

}  // namespace coil::ops
