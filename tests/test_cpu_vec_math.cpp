// The vectorisable f32 math of the CPU kernels (core/cpu/vec_math.h) against double <cmath>, and
// the f32 ops built on it (sigmoid, silu, gelu and their backwards) on contiguous, strided and
// multi-threaded inputs.
#include <cmath>
#include <limits>

#include "core/cpu/isa.h"
#include "core/cpu/vec_kernels.h"
#include "core/cpu/vec_math.h"
#include "core/elementwise.h"
#include "core/views.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;
namespace vec = coil::cpu::vec;

namespace {

double sigm(double x) { return 1 / (1 + std::exp(-x)); }
double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }
double cdf(double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

TEST_CASE("vec::exp is within 2 ulp of exp over the whole normal range") {
  double worst = 0;
  for (double x = -87.3; x <= 88.3; x += 1e-3) {
    float f = float(x);
    double want = std::exp(double(f));
    worst = std::max(worst, std::fabs(vec::exp(f) - want) / want);
  }
  CHECK(worst < 2 * 5.97e-8);
  CHECK(vec::exp(0.0f) == 1.0f);
  CHECK(std::isnan(vec::exp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(vec::exp(-1000.0f) < 1.2e-38f);  // clamped, not garbage
  CHECK(vec::exp(1000.0f) > 2e38f);
}

TEST_CASE("vec::erfc stays relatively accurate into the tail; normal_cdf follows it") {
  // Relative error bound: the fit and the f32 arithmetic, plus the f32 rounding of -z^2 in exp.
  double worst = 0;
  for (double z = -3; z <= 9; z += 1e-4) {
    float f = float(z);
    double want = std::erfc(double(f));
    worst = std::max(worst, std::fabs(vec::erfc(f) - want) / want / (5e-7 + 1.5e-7 * z * z));
  }
  CHECK(worst <= 1.0);
  CHECK(vec::normal_cdf(0.0f) == doctest::Approx(0.5).epsilon(1e-7));
  CHECK(vec::normal_cdf(-20.0f) >= 0.0f);
  CHECK(vec::normal_cdf(20.0f) == 1.0f);
  CHECK(std::isnan(vec::erfc(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("f32 sigmoid, silu, gelu and their backwards match double references") {
  struct Case {
    UnaryOp op;
    double (*f)(double);
    double (*df)(double);
  };
  const Case cases[] = {
      {UnaryOp::sigmoid, sigm, [](double x) { return sigm(x) * (1 - sigm(x)); }},
      {UnaryOp::silu, [](double x) { return x * sigm(x); },
       [](double x) { return sigm(x) * (1 + x * (1 - sigm(x))); }},
      {UnaryOp::gelu_erf, [](double x) { return x * cdf(x); },
       [](double x) { return cdf(x) + x * phi(x); }},
  };
  // 300 x 250 elements: above the OpenMP grain, so the threaded path runs too; the transposed
  // view takes the strided loop, the contiguous one the vectorised loop.
  Tensor base = uniform_t({300, 250}, -12, 12, DType::f32, 3);
  Tensor grad = uniform_t({300, 250}, -2, 2, DType::f32, 4);
  for (bool transposed : {false, true}) {
    Tensor x = transposed ? core::transpose(base, 0, 1) : base;
    Tensor g = transposed ? core::transpose(grad, 0, 1) : grad;
    std::vector<double> xs = read_all(x), gs = read_all(g);
    for (const Case& c : cases) {
      std::string what =
          fmt::format("{} {}", unary_name(c.op), transposed ? "strided" : "contiguous");
      std::vector<double> want, dwant;
      for (size_t i = 0; i < xs.size(); ++i) {
        want.push_back(c.f(xs[i]));
        dwant.push_back(gs[i] * c.df(xs[i]));
      }
      check_close(core::unary(c.op, x), want, 1e-6, 3e-7, what);
      check_close(core::unary_backward(c.op, x, g), dwant, 1e-6, 1e-6, what + " backward");
    }
  }
}

TEST_CASE("the baseline, AVX2 and AVX-512 loops of vec_kernels agree with double references") {
  std::vector<float> x, g, a;
  for (int i = 0; i < 1001; ++i) {  // an odd length: vector bodies and scalar tails
    x.push_back(-12.0f + 0.024f * float(i));
    g.push_back(1.0f - 0.002f * float(i));
    a.push_back(0.5f - 0.003f * float(i));
  }
  const bool avx2 = cpu::cpu_has(cpu::Isa::avx2), avx512 = cpu::cpu_has(cpu::Isa::avx512);
  struct Loops {
    const char* isa;
    void (*fwd)(UnaryOp, float*, const float*, int64_t);
    void (*bwd)(UnaryOp, float*, const float*, const float*, int64_t);
    void (*gelu_slope)(float*, float*, const float*, int64_t);
    void (*glu)(float*, const float*, const float*, const float*, const float*, int64_t);
    void (*glu_grad)(float*, float*, const float*, const float*, const float*, const float*,
                     const float*, int64_t);
  };
  std::vector<Loops> isas = {{"generic", vec::generic::unary_f32, vec::generic::unary_grad_f32,
                              vec::generic::gelu_slope_f32, vec::generic::glu_f32,
                              vec::generic::glu_grad_f32}};
  if (avx2)
    isas.push_back({"avx2", vec::avx2::unary_f32, vec::avx2::unary_grad_f32,
                    vec::avx2::gelu_slope_f32, vec::avx2::glu_f32, vec::avx2::glu_grad_f32});
  if (avx512)
    isas.push_back({"avx512", vec::avx512::unary_f32, vec::avx512::unary_grad_f32,
                    vec::avx512::gelu_slope_f32, vec::avx512::glu_f32, vec::avx512::glu_grad_f32});
  const auto n = int64_t(x.size());
  std::vector<float> ba(x.size()), bb(x.size());  // GLU's biases, for the second pass
  for (size_t i = 0; i < x.size(); ++i)
    ba[i] = 0.1f * float(i % 7) - 0.3f, bb[i] = -0.01f * float(i % 11);
  for (const Loops& l : isas) {
    CAPTURE(l.isa);
    std::vector<float> y(x.size()), dx(x.size());
    l.fwd(UnaryOp::gelu_erf, y.data(), x.data(), n);
    l.bwd(UnaryOp::silu, dx.data(), x.data(), g.data(), n);
    std::vector<float> y2(x.size()), slope(x.size());
    l.gelu_slope(y2.data(), slope.data(), x.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      double xi = x[i], s = sigm(xi);
      CHECK(y2[i] == y[i]);
      CHECK(slope[i] == doctest::Approx(cdf(xi) + xi * phi(xi)).epsilon(1e-6).scale(1.0));
      CHECK(y[i] == doctest::Approx(xi * cdf(xi)).epsilon(1e-6).scale(0.3));
      CHECK(dx[i] == doctest::Approx(g[i] * s * (1 + xi * (1 - s))).epsilon(1e-6).scale(1.0));
    }
    for (bool biased : {false, true}) {  // GLU's halves: a gated by sigmoid(x)
      CAPTURE(biased);
      const float *pa = biased ? ba.data() : nullptr, *pb = biased ? bb.data() : nullptr;
      std::vector<float> out(x.size()), da(x.size()), db(x.size());
      l.glu(out.data(), a.data(), x.data(), pa, pb, n);
      l.glu_grad(da.data(), db.data(), a.data(), x.data(), pa, pb, g.data(), n);
      for (size_t i = 0; i < x.size(); ++i) {
        double av = a[i] + (biased ? ba[i] : 0.0), s = sigm(double(x[i]) + (biased ? bb[i] : 0.0));
        CHECK(out[i] == doctest::Approx(av * s).epsilon(1e-6).scale(0.3));
        CHECK(da[i] == doctest::Approx(g[i] * s).epsilon(1e-6).scale(0.3));
        CHECK(db[i] == doctest::Approx(g[i] * av * s * (1 - s)).epsilon(1e-6).scale(0.3));
      }
    }
  }
}
