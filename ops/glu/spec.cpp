// Test specs of glu and bias_glu (see ops/op_spec.h). glu: an optional second, integer input
// (rank 0) carries dim.
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

OpSpec spec_bias_glu() {
  OpSpec s;
  s.name = "bias_glu";
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"rows", {sample_normal(g, {3, 8}), sample_normal(g, {8})}},
        {"batch of rows", {sample_normal(g, {2, 3, 4}), sample_normal(g, {4})}},
        {"one row", {sample_normal(g, {2}), sample_normal(g, {2})}},
        // 130 rows: three blocks of the bias gradient's partial sums, the last one short.
        {"many rows", {sample_normal(g, {130, 4}), sample_normal(g, {4})}}};
  };
  s.run = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{bias_glu(in[0], in[1])}; };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"odd size", [] { bias_glu(ones({2, 5}), ones({5})); }},
        {"bias of wrong size", [] { bias_glu(ones({2, 4}), ones({2})); }},
        {"2-D bias", [] { bias_glu(ones({2, 4}), ones({1, 4})); }},
        {"scalar input", [] { bias_glu(ones({}), ones({2})); }},
        {"dtype mismatch", [] { bias_glu(ones({2, 4}), ones({4}, {DType::f64})); }},
        {"integer input", [] { bias_glu(ones({2, 4}, {DType::i64}), ones({4}, {DType::i64})); }},
        {"undefined bias", [] { bias_glu(ones({2, 4}), Tensor()); }}};
  };
  return s;
}

}  // namespace coil::ops
