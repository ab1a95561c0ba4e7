// Test spec of dropout (see ops/op_spec.h), in training mode with p = 0.3. The harness reseeds
// the default generator before every run, so each run draws the same mask. An optional second,
// integer input (rank 0) carries tie_dim.
#include "core/factory.h"
#include "ops/dropout/dropout.h"
#include "ops/op_spec.h"

namespace coil::ops {

OpSpec spec_dropout() {
  OpSpec s;
  s.name = "dropout";
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"p = 0.3", {sample_normal(g, {4, 6, 5})}},
        {"257 elements", {sample_normal(g, {257})}},
        {"mask tied along dim 1", {sample_normal(g, {3, 7, 4}), scalar_tensor(1, {DType::i64})}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    std::optional<int64_t> tie;
    if (in.size() > 1) tie = in[1].item<int64_t>();
    return std::vector<Tensor>{dropout(in[0], 0.3, true, tie)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"p = 1.5", [] { dropout(ones({4}), 1.5, true); }},
        {"p < 0", [] { dropout(ones({4}), -0.1, false); }},
        {"tie_dim out of range", [] { dropout(ones({2, 3}), 0.5, true, 2); }},
        {"integer input", [] { dropout(ones({4}, {DType::i64}), 0.5, true); }}};
  };
  return s;
}

}  // namespace coil::ops
