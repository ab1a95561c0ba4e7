// Test specs of the matrix products (see ops/op_spec.h).
#include "core/factory.h"
#include "ops/linalg/linalg.h"
#include "ops/op_spec.h"

namespace coil::ops {
namespace {

// The operand errors every product must name (f32 ones against f64 ones for the dtype case).
std::vector<InvalidCase> product_invalid(Tensor (*fn)(const Tensor&, const Tensor&)) {
  return {{"inner dims differ", [fn] { fn(ones({2, 3, 4}), ones({2, 5, 2})); }},
          {"rank-0 operand", [fn] { fn(ones({}), ones({2, 3, 4})); }},
          {"dtype mismatch f32 vs f64",
           [fn] { fn(ones({2, 3, 4}), ones({2, 4, 2}, {DType::f64})); }},
          {"undefined operand", [fn] { fn(ones({2, 3, 4}), Tensor()); }}};
}

}  // namespace

OpSpec spec_matmul() {
  OpSpec s;
  s.name = "matmul";
  s.samples = [](Generator& g) {
    auto n = [&](const Shape& sh) { return sample_normal(g, sh); };
    return std::vector<OpSample>{
        {"(3, 4) @ (4, 5)", {n({3, 4}), n({4, 5})}},
        {"(1, 1) @ (1, 1)", {n({1, 1}), n({1, 1})}},
        {"vector @ vector", {n({7}), n({7})}},
        {"vector @ (4, 3)", {n({4}), n({4, 3})}},
        {"(3, 4) @ vector", {n({3, 4}), n({4})}},
        {"(2, 3, 5) @ (5, 4): shared weight", {n({2, 3, 5}), n({5, 4})}},
        {"(2, 3, 4) @ vector", {n({2, 3, 4}), n({4})}},
        {"vector @ (2, 4, 3)", {n({4}), n({2, 4, 3})}},
        {"(3, 4) @ (2, 4, 3): shared lhs", {n({3, 4}), n({2, 4, 3})}},
        {"(2, 1, 3, 4) @ (3, 4, 2): broadcast batch", {n({2, 1, 3, 4}), n({3, 4, 2})}}};
  };
  s.run = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], in[1])}; };
  s.invalid = [] {
    auto cases = product_invalid(matmul);
    cases.push_back(
        {"batch dims do not broadcast", [] { matmul(ones({2, 3, 4}), ones({3, 4, 5})); }});
    return cases;
  };
  return s;
}

OpSpec spec_bmm() {
  OpSpec s;
  s.name = "bmm";
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"(3, 4, 5) @ (3, 5, 2)", {sample_normal(g, {3, 4, 5}), sample_normal(g, {3, 5, 2})}},
        {"(1, 1, 7) @ (1, 7, 1)", {sample_normal(g, {1, 1, 7}), sample_normal(g, {1, 7, 1})}}};
  };
  s.run = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{bmm(in[0], in[1])}; };
  s.invalid = [] {
    auto cases = product_invalid(bmm);
    cases.push_back({"batch sizes differ", [] { bmm(ones({2, 3, 4}), ones({3, 4, 5})); }});
    cases.push_back({"2-D operand", [] { bmm(ones({3, 4}), ones({4, 5})); }});
    return cases;
  };
  return s;
}

OpSpec spec_linear() {
  OpSpec s;
  s.name = "linear";
  s.samples = [](Generator& g) {
    auto n = [&](const Shape& sh) { return sample_normal(g, sh); };
    return std::vector<OpSample>{
        {"(2, 3, 5) x, (4, 5) weight, bias", {n({2, 3, 5}), n({4, 5}), n({4})}},
        {"(7, 5) x, (3, 5) weight, no bias", {n({7, 5}), n({3, 5})}},
        {"vector x, bias", {n({6}), n({3, 6}), n({3})}},
        {"(1, 1) x, (1, 1) weight, bias", {n({1, 1}), n({1, 1}), n({1})}}};
  };
  // A sample with two inputs has no bias.
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"inner dims differ", [] { linear(ones({2, 3}), ones({4, 5})); }},
        {"rank-0 input", [] { linear(ones({}), ones({4, 5})); }},
        {"1-D weight", [] { linear(ones({2, 5}), ones({5})); }},
        {"bias of wrong size", [] { linear(ones({2, 5}), ones({4, 5}), ones({3})); }},
        {"2-D bias", [] { linear(ones({2, 5}), ones({4, 5}), ones({1, 4})); }},
        {"dtype mismatch f32 vs f64", [] { linear(ones({2, 5}), ones({4, 5}, {DType::f64})); }},
        {"bias dtype differs", [] { linear(ones({2, 5}), ones({4, 5}), ones({4}, {DType::f64})); }},
        {"integer operands",
         [] { linear(ones({2, 5}, {DType::i64}), ones({4, 5}, {DType::i64})); }},
        {"undefined weight", [] { linear(ones({2, 5}), Tensor()); }}};
  };
  return s;
}

}  // namespace coil::ops
