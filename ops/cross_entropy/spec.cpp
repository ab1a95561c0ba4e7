// Test spec of cross_entropy (see ops/op_spec.h). Each run returns the three reductions with
// different label smoothing, so every sample covers mean (eps 0), sum (eps 0.1) and none
// (eps 0.25); targets are integer inputs and get no gradient.
#include "core/factory.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/op_spec.h"

namespace coil::ops {
namespace {

// Random class indices of `shape` in [0, C), with the listed flat positions set to -100.
Tensor draw_targets(Generator& g, const Shape& shape, int64_t C, std::vector<size_t> ignored,
                    DType dtype = DType::i64) {
  std::vector<int64_t> t = randint(0, C, shape, {DType::i64}, &g).to_vector<int64_t>();
  for (size_t i : ignored) t[i] = -100;
  if (dtype == DType::i64) return from_vector(t, shape);
  return from_vector(std::vector<int32_t>(t.begin(), t.end()), shape);
}

}  // namespace

OpSpec spec_cross_entropy() {
  OpSpec s;
  s.name = "cross_entropy";
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"(N, C) with ignored targets",
         {sample_normal(g, {6, 5}, 2.0), draw_targets(g, {6}, 5, {1, 4})}},
        {"(B, L, C)", {sample_normal(g, {2, 3, 7}), draw_targets(g, {2, 3}, 7, {4})}},
        {"C = 1", {sample_normal(g, {4, 1}), draw_targets(g, {4}, 1, {2})}},
        {"i32 targets, warp rows just past 32",
         {sample_normal(g, {3, 33}), draw_targets(g, {3}, 33, {}, DType::i32)}},
        {"odd C = 1025 (block rows)",
         {sample_normal(g, {2, 1025}, 3.0), draw_targets(g, {2}, 1025, {})}},
        {"(C,) logits, scalar target", {sample_normal(g, {9}), draw_targets(g, {}, 9, {})}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{
        cross_entropy(in[0], in[1], {.reduction = Reduction::mean}),
        cross_entropy(in[0], in[1], {.reduction = Reduction::sum, .label_smoothing = 0.1}),
        cross_entropy(in[0], in[1], {.reduction = Reduction::none, .label_smoothing = 0.25})};
  };
  s.invalid = [] {
    auto i64 = [](std::vector<int64_t> v) { return from_vector(v); };
    return std::vector<InvalidCase>{
        {"target shape mismatch",
         [=] {
           cross_entropy(ones({4, 5}), i64({0, 1, 2}));
         }},
        {"target with the class dim",
         [=] {
           cross_entropy(ones({2, 5}), zeros({2, 5}, {DType::i64}));
         }},
        {"float target",
         [] {
           cross_entropy(ones({2, 5}), zeros({2}));
         }},
        {"target >= C",
         [=] {
           cross_entropy(ones({2, 5}), i64({1, 5}));
         }},
        {"negative target that is not ignore_index",
         [=] {
           cross_entropy(ones({2, 5}), i64({-1, 0}));
         }},
        {"label_smoothing = 1",
         [=] {
           cross_entropy(ones({2, 5}), i64({0, 1}), {.label_smoothing = 1.0});
         }},
        {"label_smoothing < 0",
         [=] {
           cross_entropy(ones({2, 5}), i64({0, 1}), {.label_smoothing = -0.1});
         }},
        {"integer logits",
         [=] {
           cross_entropy(ones({2, 5}, {DType::i64}), i64({0, 1}));
         }},
        {"scalar logits", [=] { cross_entropy(ones({}), i64({0})); }},
        {"no classes",
         [=] {
           cross_entropy(ones({2, 0}), i64({0, 0}));
         }},
        {"undefined target", [] {
           cross_entropy(ones({2, 5}), Tensor());
         }}};
  };
  return s;
}

}  // namespace coil::ops
