// Elementwise front ends and CPU kernels: every UnaryOp and BinaryOp against a float64 <cmath>
// reference on contiguous, transposed, sliced and broadcast inputs; unary backward against
// finite differences; broadcasting, type promotion and where; the f32 CPU gelu that saves its
// slope for backward.
#include "autograd/autograd.h"
#include "core/elementwise.h"
#include "core/views.h"
#include "ops/elementwise/elementwise.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

using UnaryRef = double (*)(double, UnaryParams);
struct UnaryCase {
  UnaryOp op;
  double lo, hi;  // input domain
  UnaryRef ref;
  UnaryParams p = {};
  std::vector<double> kinks = {};  // where f or f' jumps: no finite differences near these
};

double sigm(double x) { return 1 / (1 + std::exp(-x)); }

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {UnaryOp::neg, -3, 3, [](double x, UnaryParams) { return -x; }},
      {UnaryOp::exp, -3, 3, [](double x, UnaryParams) { return std::exp(x); }},
      {UnaryOp::log, 0.1, 5, [](double x, UnaryParams) { return std::log(x); }},
      {UnaryOp::log1p, -0.9, 3, [](double x, UnaryParams) { return std::log1p(x); }},
      {UnaryOp::expm1, -3, 3, [](double x, UnaryParams) { return std::expm1(x); }},
      {UnaryOp::sqrt, 0.1, 5, [](double x, UnaryParams) { return std::sqrt(x); }},
      {UnaryOp::rsqrt, 0.1, 5, [](double x, UnaryParams) { return 1 / std::sqrt(x); }},
      {UnaryOp::abs, -3, 3, [](double x, UnaryParams) { return std::fabs(x); }, {}, {0}},
      {UnaryOp::sign,
       -3,
       3,
       [](double x, UnaryParams) { return double((x > 0) - (x < 0)); },
       {},
       {0}},
      {UnaryOp::relu, -3, 3, [](double x, UnaryParams) { return x > 0 ? x : 0; }, {}, {0}},
      {UnaryOp::sigmoid, -6, 6, [](double x, UnaryParams) { return sigm(x); }},
      {UnaryOp::tanh, -3, 3, [](double x, UnaryParams) { return std::tanh(x); }},
      {UnaryOp::silu, -5, 5, [](double x, UnaryParams) { return x * sigm(x); }},
      {UnaryOp::gelu_erf, -4, 4,
       [](double x, UnaryParams) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {UnaryOp::gelu_tanh, -4, 4,
       [](double x, UnaryParams) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
       }},
      {UnaryOp::softplus,
       -5,
       5,
       [](double x, UnaryParams p) {
         return p.a * x > p.b ? x : std::log1p(std::exp(p.a * x)) / p.a;
       },
       {1, 20}},
      {UnaryOp::softplus,
       -2,
       2,
       [](double x, UnaryParams p) {
         return p.a * x > p.b ? x : std::log1p(std::exp(p.a * x)) / p.a;
       },
       {2, 1},
       {0.5}},
      {UnaryOp::sin, -4, 4, [](double x, UnaryParams) { return std::sin(x); }},
      {UnaryOp::cos, -4, 4, [](double x, UnaryParams) { return std::cos(x); }},
      {UnaryOp::reciprocal, 0.2, 3, [](double x, UnaryParams) { return 1 / x; }},
      {UnaryOp::square, -3, 3, [](double x, UnaryParams) { return x * x; }},
      {UnaryOp::add_scalar, -3, 3, [](double x, UnaryParams p) { return x + p.a; }, {1.5}},
      {UnaryOp::mul_scalar, -3, 3, [](double x, UnaryParams p) { return x * p.a; }, {-2.5}},
      {UnaryOp::pow_scalar,
       0.1,
       3,
       [](double x, UnaryParams p) { return std::pow(x, p.a); },
       {1.7}},
      {UnaryOp::pow_scalar, -2, 2, [](double x, UnaryParams p) { return std::pow(x, p.a); }, {3}},
      {UnaryOp::rpow_scalar,
       -3,
       3,
       [](double x, UnaryParams p) { return std::pow(p.a, x); },
       {2.3}},
      {UnaryOp::clamp,
       -2,
       2,
       [](double x, UnaryParams p) { return x < p.a ? p.a : (x > p.b ? p.b : x); },
       {-0.5, 0.7},
       {-0.5, 0.7}},
  };
  return cases;
}

// Input layouts of one logical shape (7, 33): contiguous, transposed, sliced with a step,
// broadcast-expanded, and one large transposed case that takes the OpenMP path.
std::vector<std::pair<std::string, Tensor>> layouts(double lo, double hi, DType dt) {
  return {
      {"contiguous", uniform_t({7, 33}, lo, hi, dt, 1)},
      {"transposed", core::transpose(uniform_t({33, 7}, lo, hi, dt, 2), 0, 1)},
      {"sliced", core::slice(uniform_t({9, 66}, lo, hi, dt, 3), 1, 1, 66, 2)},
      {"expanded", core::expand(uniform_t({1, 33}, lo, hi, dt, 4), {7, 33})},
      {"large transposed", core::transpose(uniform_t({250, 300}, lo, hi, dt, 5), 0, 1)},
  };
}

double tol_r(DType dt) { return dt == DType::f32 ? 1e-5 : 1e-12; }
double tol_a(DType dt) { return dt == DType::f32 ? 1e-6 : 1e-14; }

// The element of t that broadcasting maps to out_idx.
double broadcast_at(const Tensor& t, const Shape& out_idx) {
  Shape idx(size_t(t.dim()));
  size_t lead = out_idx.size() - idx.size();
  for (size_t d = 0; d < idx.size(); ++d) idx[d] = t.shape()[d] == 1 ? 0 : out_idx[lead + d];
  return at(t, idx);
}

}  // namespace

TEST_CASE("every UnaryOp matches a float64 reference on contiguous and strided inputs") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (const UnaryCase& c : unary_cases()) {
      for (auto& [layout, x] : layouts(c.lo, c.hi, dt)) {
        std::string what = fmt::format("{} {} {}", unary_name(c.op), dtype_name(dt), layout);
        Tensor y = core::unary(c.op, x, c.p);
        CHECK(y.shape() == x.shape());
        CHECK(y.dtype() == dt);
        std::vector<double> want;
        for (double v : read_all(x)) want.push_back(c.ref(v, c.p));
        check_close(y, want, tol_r(dt), tol_a(dt), what);
      }
    }
  }
}

TEST_CASE("unary_backward matches central finite differences of unary in double") {
  const double h = 1e-6;
  for (const UnaryCase& c : unary_cases()) {
    CAPTURE(unary_name(c.op));
    Tensor x = uniform_t({5, 13}, c.lo, c.hi, DType::f64, 10);
    Tensor g = randn_t({5, 13}, DType::f64, 11);
    Tensor dx = core::unary_backward(c.op, x, g, c.p);
    CHECK(dx.dtype() == DType::f64);
    auto xs = read_all(x), gs = read_all(g), got = read_all(dx);
    std::vector<double> xp, xm;
    for (double v : xs) xp.push_back(v + h), xm.push_back(v - h);
    auto fp = read_all(core::unary(c.op, from_vector(xp), c.p));
    auto fm = read_all(core::unary(c.op, from_vector(xm), c.p));
    std::vector<double> g_kept, want;
    for (size_t i = 0; i < xs.size(); ++i) {
      bool near_kink = false;
      for (double k : c.kinks) near_kink |= std::abs(xs[i] - k) < 1e-3;
      if (near_kink) continue;
      g_kept.push_back(got[i]);
      want.push_back(c.op == UnaryOp::sign ? 0.0 : gs[i] * (fp[i] - fm[i]) / (2 * h));
    }
    CHECK(want.size() > 50);
    check_close(g_kept, want, 1e-6, 1e-7, unary_name(c.op));
    // Strided x and g give the same gradient as their contiguous copies; f32 agrees with f64.
    Tensor xt = core::transpose(uniform_t({13, 5}, c.lo, c.hi, DType::f64, 12), 0, 1);
    Tensor gt = core::transpose(randn_t({13, 5}, DType::f64, 13), 0, 1);
    auto strided = read_all(core::unary_backward(c.op, xt, gt, c.p));
    check_close(core::unary_backward(c.op, core::contiguous(xt), core::contiguous(gt), c.p),
                strided, 0, 0, "strided backward");
    Tensor xf = core::to(xt, DType::f32), gf = core::to(gt, DType::f32);
    auto want32 = read_all(
        core::unary_backward(c.op, core::to(xf, DType::f64), core::to(gf, DType::f64), c.p));
    check_close(core::unary_backward(c.op, xf, gf, c.p), want32, 1e-5, 1e-6, "f32 backward");
  }
}

TEST_CASE("logical_not returns bool true exactly where the input is zero") {
  Generator gen(3);
  Tensor x = randint(-1, 2, {4, 9}, {DType::f32, Device::cpu()}, &gen);
  Tensor y = core::unary(UnaryOp::logical_not, core::transpose(x, 0, 1));
  CHECK(y.dtype() == DType::boolean);
  std::vector<double> want;
  for (double v : read_all(core::transpose(x, 0, 1))) want.push_back(v == 0);
  check_equal(y, want);
}

TEST_CASE("every BinaryOp matches a float64 reference on contiguous, strided, broadcast inputs") {
  struct Case {
    BinaryOp op;
    double (*ref)(double, double);
  };
  const std::vector<Case> cases = {
      {BinaryOp::add, [](double a, double b) { return a + b; }},
      {BinaryOp::sub, [](double a, double b) { return a - b; }},
      {BinaryOp::mul, [](double a, double b) { return a * b; }},
      {BinaryOp::div, [](double a, double b) { return a / b; }},
      {BinaryOp::pow, [](double a, double b) { return std::pow(a, b); }},
      {BinaryOp::maximum, [](double a, double b) { return std::max(a, b); }},
      {BinaryOp::minimum, [](double a, double b) { return std::min(a, b); }},
      {BinaryOp::eq, [](double a, double b) { return double(a == b); }},
      {BinaryOp::ne, [](double a, double b) { return double(a != b); }},
      {BinaryOp::lt, [](double a, double b) { return double(a < b); }},
      {BinaryOp::le, [](double a, double b) { return double(a <= b); }},
      {BinaryOp::gt, [](double a, double b) { return double(a > b); }},
      {BinaryOp::ge, [](double a, double b) { return double(a >= b); }},
      {BinaryOp::logical_and, [](double a, double b) { return double(a != 0 && b != 0); }},
      {BinaryOp::logical_or, [](double a, double b) { return double(a != 0 || b != 0); }},
  };
  for (DType dt : {DType::f32, DType::f64}) {
    for (const Case& c : cases) {
      // Comparisons and logical ops get small integers so ties and zeros occur.
      bool discrete = is_comparison(c.op);
      auto make = [&](const Shape& s, bool is_b, uint64_t seed) {
        if (discrete) {
          Generator g(seed);
          return randint(-2, 3, s, {dt, Device::cpu()}, &g);
        }
        if (c.op == BinaryOp::pow)
          return is_b ? uniform_t(s, -2, 2, dt, seed) : uniform_t(s, 0.1, 3, dt, seed);
        if (c.op == BinaryOp::div && is_b) return uniform_t(s, 0.5, 3, dt, seed);
        return uniform_t(s, -3, 3, dt, seed);
      };
      std::vector<std::tuple<std::string, Tensor, Tensor>> pairs = {
          {"contiguous", make({6, 35}, false, 1), make({6, 35}, true, 2)},
          {"transposed vs sliced", core::transpose(make({35, 6}, false, 3), 0, 1),
           core::slice(make({6, 70}, true, 4), 1, 0, 70, 2)},
          {"row broadcast", make({6, 35}, false, 5), make({35}, true, 6)},
          {"outer broadcast", make({6, 1}, false, 7), make({1, 35}, true, 8)},
          {"expanded vs transposed", core::expand(make({1, 35}, false, 9), {6, 35}),
           core::transpose(make({35, 6}, true, 10), 0, 1)},
          {"scalar rhs", make({6, 35}, false, 11), core::select(make({1}, true, 12), 0, 0)},
          {"large", core::transpose(make({260, 130}, false, 13), 0, 1), make({260}, true, 14)},
      };
      for (auto& [layout, a, b] : pairs) {
        std::string what = fmt::format("{} {} {}", binary_name(c.op), dtype_name(dt), layout);
        Tensor y = core::binary(c.op, a, b);
        Shape shape = broadcast_shapes(a.shape(), b.shape(), "test");
        CHECK(y.shape() == shape);
        CHECK(y.dtype() == (discrete ? DType::boolean : dt));
        std::vector<double> want;
        for_each_index(shape, [&](const Shape& i) {
          want.push_back(c.ref(broadcast_at(a, i), broadcast_at(b, i)));
        });
        check_close(y, want, tol_r(dt), tol_a(dt), what);
      }
    }
  }
}

TEST_CASE("(B, L, D) + (D) broadcasts the vector over every row") {
  Tensor x = randn_t({3, 5, 8}, DType::f32, 1), bias = randn_t({8}, DType::f32, 2);
  Tensor y = core::binary(BinaryOp::add, x, bias);
  CHECK(y.shape() == Shape{3, 5, 8});
  for_each_index(y.shape(), [&](const Shape& i) {
    CHECK(at(y, i) == double(float(at(x, i)) + float(at(bias, {i[2]}))));
  });
  Tensor z = core::binary(BinaryOp::mul, core::unsqueeze(bias, 0), randn_t({4, 1}));
  CHECK(z.shape() == Shape{4, 8});
  CHECK(core::binary(BinaryOp::sub, scalar_tensor(1.0), x).shape() == x.shape());
}

TEST_CASE("binary results promote dtypes: i32+f32 is f32, comparisons are bool") {
  auto opts = [](DType d) { return TensorOptions{d, Device::cpu()}; };
  Tensor i = from_vector<int32_t>({1, -2, 3}), f = from_vector<float>({0.5f, 0.25f, -1.f});
  Tensor s = core::binary(BinaryOp::add, i, f);
  CHECK(s.dtype() == DType::f32);
  check_equal(s, {1.5, -1.75, 2});
  CHECK(core::binary(BinaryOp::mul, f, i).dtype() == DType::f32);
  CHECK(core::binary(BinaryOp::add, i, from_vector<int64_t>({1, 2, 3})).dtype() == DType::i64);
  CHECK(core::binary(BinaryOp::add, ones({3}, opts(DType::boolean)), i).dtype() == DType::i32);
  CHECK(core::binary(BinaryOp::add, ones({3}, opts(DType::u8)), ones({3}, opts(DType::boolean)))
            .dtype() == DType::u8);
  CHECK(core::binary(BinaryOp::add, f, ones({3}, opts(DType::f64))).dtype() == DType::f64);
  CHECK(core::binary(BinaryOp::add, ones({3}, opts(DType::bf16)), i).dtype() == DType::bf16);
  CHECK(core::binary(BinaryOp::add, ones({3}, opts(DType::bf16)), f).dtype() == DType::f32);
  Tensor lt = core::binary(BinaryOp::lt, f, i);
  CHECK(lt.dtype() == DType::boolean);
  check_equal(lt, {1, 0, 1});
  Tensor big = core::binary(BinaryOp::mul, from_vector<int64_t>({int64_t(1) << 40}),
                            from_vector<int64_t>({3}));
  CHECK(big.item<int64_t>() == 3 * (int64_t(1) << 40));
  check_equal(core::binary(BinaryOp::maximum, i, from_vector<int32_t>({0, 0, 5})), {1, 0, 5});
}

TEST_CASE("integer division is true division into f32") {
  Tensor a = from_vector<int32_t>({7, -7, 1, 6}), b = from_vector<int32_t>({2, 2, 3, -4});
  Tensor q = core::binary(BinaryOp::div, a, b);
  CHECK(q.dtype() == DType::f32);
  check_close(q, {3.5, -3.5, 1.0 / 3, -1.5}, 1e-7, 0);
  CHECK(core::binary(BinaryOp::div, from_vector<int64_t>({1}), from_vector<uint8_t>({4}))
            .item<float>() == 0.25f);
}

TEST_CASE("unary ops keep integer dtypes only where the result stays integral") {
  Tensor i = from_vector<int32_t>({-3, 0, 4});
  CHECK(core::unary(UnaryOp::neg, i).dtype() == DType::i32);
  check_equal(core::unary(UnaryOp::abs, i), {3, 0, 4});
  check_equal(core::unary(UnaryOp::relu, i), {0, 0, 4});
  check_equal(core::unary(UnaryOp::clamp, i, {-1, 2}), {-1, 0, 2});
  check_equal(core::unary(UnaryOp::mul_scalar, i, {2}), {-6, 0, 8});
  Tensor e = core::unary(UnaryOp::exp, i);
  CHECK(e.dtype() == DType::f32);
  check_close(e, {std::exp(-3.0), 1, std::exp(4.0)}, 1e-6, 0);
  Tensor sq = core::unary(UnaryOp::sqrt, from_vector<int64_t>({4, 9}));
  CHECK(sq.dtype() == DType::f32);
  check_equal(sq, {2, 3});
}

TEST_CASE("bf16 elementwise computes in float and rounds the result once") {
  Tensor x32 = uniform_t({4, 16}, -2, 2);
  Tensor x = core::to(x32, DType::bf16);
  Tensor y = core::unary(UnaryOp::exp, x);
  CHECK(y.dtype() == DType::bf16);
  std::vector<double> want;
  for (double v : read_all(x)) want.push_back(double(float(bf16(std::exp(float(v))))));
  check_close(y, want, 0, 0, "bf16 exp");
  Tensor s = core::binary(BinaryOp::add, x, x);
  check_close(s, read_all(core::unary(UnaryOp::mul_scalar, x, {2})), 0, 0, "bf16 x+x == 2x");
}

TEST_CASE("where picks a or b by a broadcast bool condition, promoting a and b") {
  Tensor x = randn_t({4, 5});
  Tensor cond = core::binary(BinaryOp::gt, randn_t({4, 1}, DType::f32, 7), scalar_tensor(0.0));
  Tensor other = scalar_tensor(-1.0, {DType::i32, Device::cpu()});
  Tensor y = core::where(cond, x, other);
  CHECK(y.shape() == Shape{4, 5});
  CHECK(y.dtype() == DType::f32);
  for_each_index(y.shape(), [&](const Shape& i) {
    CHECK(at(y, i) == (at(cond, {i[0], 0}) ? at(x, i) : -1.0));
  });
  Tensor xt = core::transpose(randn_t({5, 4}, DType::f64), 0, 1);
  Tensor c2 = core::binary(BinaryOp::lt, xt, scalar_tensor(0.0, {DType::f64, Device::cpu()}));
  Tensor r = core::where(c2, core::unary(UnaryOp::neg, xt), xt);  // |x|
  check_equal(r, read_all(core::unary(UnaryOp::abs, xt)), "where(x<0, -x, x) == abs");
}

TEST_CASE("binary_into writes the broadcast result into an existing, possibly strided tensor") {
  Tensor base = randn_t({5, 4});
  Tensor before = core::clone(base);
  Tensor out = core::transpose(base, 0, 1);  // (4, 5) view of base
  Tensor b = randn_t({5});
  core::binary_into(BinaryOp::add, out, out, b);
  for_each_index(base.shape(), [&](const Shape& i) {
    CHECK(at(base, i) == double(float(at(before, i)) + float(at(b, {i[0]}))));
  });
}

TEST_CASE("a differentiated f32 gelu on the CPU (slope saved in the forward) matches float64") {
  // 300 x 250: several blocks of the kernel; the transposed view is made contiguous first.
  Tensor base = uniform_t({300, 250}, -12, 12, DType::f32, 5);
  Tensor g = uniform_t({250, 300}, -2, 2, DType::f32, 6);
  for (bool transposed : {false, true}) {
    CAPTURE(transposed);
    Tensor x = set_requires_grad(transposed ? core::transpose(base, 0, 1)
                                            : core::reshape(base, {250, 300}));
    Tensor y = coil::gelu(x);
    backward(y, g);
    std::vector<double> xs = read_all(x), gs = read_all(g), want, dwant;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double c = 0.5 * std::erfc(-xs[i] / std::sqrt(2.0));
      want.push_back(xs[i] * c);
      dwant.push_back(gs[i] * (c + xs[i] * std::exp(-0.5 * xs[i] * xs[i]) / std::sqrt(2 * M_PI)));
    }
    check_close(y, want, 1e-6, 3e-7, "gelu");
    check_close(grad(x), dwant, 1e-6, 1e-6, "gelu backward");
  }
}
