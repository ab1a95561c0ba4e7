// Test specs of the elementwise ops (see ops/op_spec.h).
#include "core/factory.h"
#include "ops/elementwise/elementwise.h"
#include "ops/op_spec.h"

namespace coil::ops {
namespace {

// separated_shifted sits between the points of separated, so max/min never see ties.
enum class Domain { any, positive, separated, separated_shifted };

Tensor draw(Generator& g, const Shape& s, Domain d) {
  switch (d) {
    case Domain::positive: return sample_uniform(g, s, 0.3, 2.0);
    case Domain::separated: return sample_separated(g, s);
    case Domain::separated_shifted: return add(sample_separated(g, s), 0.0071);
    default: return sample_normal(g, s);
  }
}

OpSpec unary_spec(const char* name, Domain domain, Tensor (*fn)(const Tensor&)) {
  OpSpec s;
  s.name = name;
  s.samples = [domain](Generator& g) {
    return std::vector<OpSample>{{"scalar", {draw(g, {}, domain)}},
                                 {"L=1", {draw(g, {1}, domain)}},
                                 {"odd", {draw(g, {3, 7, 5}, domain)}}};
  };
  s.run = [fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; };
  s.invalid = [fn] {
    return std::vector<InvalidCase>{{"undefined input", [fn] { fn(Tensor()); }}};
  };
  return s;
}

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

OpSpec binary_spec(const char* name, Domain lhs, Domain rhs, BinaryFn fn) {
  OpSpec s;
  s.name = name;
  s.samples = [lhs, rhs](Generator& g) {
    return std::vector<OpSample>{
        {"same shape", {draw(g, {4, 5}, lhs), draw(g, {4, 5}, rhs)}},
        {"broadcast both", {draw(g, {3, 1, 5}, lhs), draw(g, {4, 1}, rhs)}},
        {"(B, L, D) + (D)", {draw(g, {2, 3, 7}, lhs), draw(g, {7}, rhs)}},
        {"scalar rhs", {draw(g, {1, 5}, lhs), draw(g, {}, rhs)}},
        {"integer rhs", {draw(g, {2, 3}, lhs), randint(1, 4, {3}, {DType::i64}, &g)}}};
  };
  s.run = [fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0], in[1])}; };
  s.invalid = [fn] {
    return std::vector<InvalidCase>{
        {"shapes do not broadcast", [fn] { fn(ones({2, 3}), ones({4})); }},
        {"undefined operand", [fn] { fn(ones({2}), Tensor()); }}};
  };
  return s;
}

}  // namespace

OpSpec spec_neg() { return unary_spec("neg", Domain::any, neg); }
OpSpec spec_exp() { return unary_spec("exp", Domain::any, exp); }
OpSpec spec_log() { return unary_spec("log", Domain::positive, log); }
OpSpec spec_log1p() { return unary_spec("log1p", Domain::positive, log1p); }
OpSpec spec_expm1() { return unary_spec("expm1", Domain::any, expm1); }
OpSpec spec_sqrt() { return unary_spec("sqrt", Domain::positive, sqrt); }
OpSpec spec_rsqrt() { return unary_spec("rsqrt", Domain::positive, rsqrt); }
OpSpec spec_abs() { return unary_spec("abs", Domain::separated, abs); }
OpSpec spec_relu() { return unary_spec("relu", Domain::separated, relu); }
OpSpec spec_sigmoid() { return unary_spec("sigmoid", Domain::any, sigmoid); }
OpSpec spec_tanh() { return unary_spec("tanh", Domain::any, tanh); }
OpSpec spec_silu() { return unary_spec("silu", Domain::any, silu); }
OpSpec spec_square() { return unary_spec("square", Domain::any, square); }

OpSpec spec_gelu() {
  OpSpec s = unary_spec("gelu", Domain::any, [](const Tensor& x) { return gelu(x); });
  return s;
}
OpSpec spec_gelu_tanh() {
  return unary_spec("gelu_tanh", Domain::any, [](const Tensor& x) { return gelu(x, true); });
}

OpSpec spec_softplus() {
  OpSpec s = unary_spec("softplus", Domain::any, [](const Tensor& x) { return softplus(x, 2.0, 3.0); });
  // Both sides of the threshold (beta x > 3 switches to the identity), away from the switch.
  s.samples = [](Generator& g) {
    Tensor x = from_vector<double>({-3.0, -0.4, 0.2, 1.2, 1.7, 4.0}, {2, 3});
    return std::vector<OpSample>{{"both sides of the threshold", {x}},
                                 {"random", {sample_normal(g, {5, 3}, 0.5)}}};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{{"beta <= 0", [] { softplus(ones({2}), 0.0); }}};
  };
  return s;
}

OpSpec spec_clamp() {
  OpSpec s = unary_spec("clamp", Domain::separated,
                        [](const Tensor& x) { return clamp(x, -0.503, 0.707); });
  s.invalid = [] {
    return std::vector<InvalidCase>{{"lo > hi", [] { clamp(ones({2}), 1.0, -1.0); }}};
  };
  return s;
}

OpSpec spec_pow_scalar() {
  return unary_spec("pow_scalar", Domain::positive, [](const Tensor& x) { return pow(x, 1.7); });
}

OpSpec spec_add() { return binary_spec("add", Domain::any, Domain::any, add); }
OpSpec spec_sub() { return binary_spec("sub", Domain::any, Domain::any, sub); }
OpSpec spec_mul() { return binary_spec("mul", Domain::any, Domain::any, mul); }
OpSpec spec_div() { return binary_spec("div", Domain::any, Domain::positive, div); }
OpSpec spec_pow() { return binary_spec("pow", Domain::positive, Domain::any, pow); }
OpSpec spec_maximum() { return binary_spec("maximum", Domain::separated, Domain::separated_shifted, maximum); }
OpSpec spec_minimum() { return binary_spec("minimum", Domain::separated, Domain::separated_shifted, minimum); }

OpSpec spec_where() {
  OpSpec s;
  s.name = "where";
  s.samples = [](Generator& g) {
    Tensor cond = gt(sample_normal(g, {3, 4}), zeros({}, {DType::f64}));
    return std::vector<OpSample>{
        {"same shape", {cond, sample_normal(g, {3, 4}), sample_normal(g, {3, 4})}},
        {"broadcast", {cond, sample_normal(g, {4}), sample_normal(g, {3, 1})}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{where(in[0], in[1], in[2])};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"non-bool condition", [] { where(ones({2}), ones({2}), ones({2})); }},
        {"shapes do not broadcast", [] { where(eq(ones({2}), ones({2})), ones({3}), ones({2})); }}};
  };
  return s;
}

OpSpec spec_masked_fill() {
  OpSpec s;
  s.name = "masked_fill";
  s.samples = [](Generator& g) {
    Tensor mask = gt(sample_normal(g, {5}), zeros({}, {DType::f64}));
    return std::vector<OpSample>{{"broadcast mask", {sample_normal(g, {3, 5}), mask}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{masked_fill(in[0], in[1], -2.5)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"float mask", [] { masked_fill(ones({2}), ones({2}), 0.0); }},
        {"mask larger than input", [] { masked_fill(ones({2}), eq(ones({3, 2}), ones({3, 2})), 0.0); }}};
  };
  return s;
}

}  // namespace coil::ops
