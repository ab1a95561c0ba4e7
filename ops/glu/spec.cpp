// Test spec of glu (see ops/op_spec.h). An optional second, integer input (rank 0) carries dim.
#include "core/factory.h"
#include "ops/glu/glu.h"
#include "ops/op_spec.h"

namespace coil::ops {

OpSpec spec_glu() {
  OpSpec s;
  s.name = "glu";
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"last dim", {sample_normal(g, {3, 8})}},
        {"size 2", {sample_normal(g, {2})}},
        {"middle dim", {sample_normal(g, {2, 6, 3}), scalar_tensor(1, {DType::i64})}},
        {"first dim", {sample_normal(g, {4, 5}), scalar_tensor(0, {DType::i64})}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{glu(in[0], in.size() > 1 ? in[1].item<int64_t>() : -1)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"odd size", [] { glu(ones({2, 5})); }},
        {"dim out of range", [] { glu(ones({2, 4}), 2); }},
        {"scalar input", [] { glu(ones({})); }},
        {"integer input", [] { glu(ones({2, 4}, {DType::i64})); }}};
  };
  return s;
}

}  // namespace coil::ops
