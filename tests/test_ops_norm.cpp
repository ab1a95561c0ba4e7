// The normalisation ops (ops/norm/): layer_norm, rms_norm and batch_norm against float64
// references written from elementary math, the fused kernels against compositions of core
// reductions, batch_norm's running statistics and eval mode, and CPU/CUDA agreement for row
// lengths on both CUDA paths (warp per row, block per row) when a GPU is present.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/cpu/isa.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/reduce.h"
#include "core/views.h"
#include "ops/norm/kernels.h"
#include "ops/norm/norm.h"
#include "ops/norm/row_norm_rows.h"
#include "tests/support/compare.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

using Vals = std::vector<double>;

// max |got - want| <= tol * max(1, max |want|): relative to the scale of the whole result.
void check_near(const Vals& got, const Vals& want, double tol, const char* what) {
  CAPTURE(what);
  REQUIRE(got.size() == want.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  CHECK(diff <= tol * scale);
}

Tensor draw(Generator& g, const Shape& s, double lo, double hi, TensorOptions o = {DType::f64}) {
  return core::to(core::to(uniform(s, lo, hi, {DType::f64}, &g), o.dtype), o.device);
}

Tensor leaf(const Tensor& t) {
  if (t.defined()) set_requires_grad(t);
  return t;
}

Vals values_or_empty(const Tensor& t) { return t.defined() ? host_values(t) : Vals{}; }

// Outputs and gradients of one forward + backward with cotangent dy.
struct Result {
  Vals y, dx, dw, db;
};

// ---- layer_norm / rms_norm ---------------------------------------------------------------

// Float64 reference from the definitions; w, b empty = absent.
Result row_reference(bool rms, const Vals& x, const Vals& w, const Vals& b, const Vals& dy,
                     int64_t D, double eps) {
  const int64_t rows = int64_t(x.size()) / D;
  Result r{Vals(x.size()), Vals(x.size()), Vals(size_t(D), 0.0), Vals(size_t(D), 0.0)};
  for (int64_t i = 0; i < rows; ++i) {
    const double* xr = x.data() + i * D;
    double mean = 0, var = 0;
    if (!rms) {
      for (int64_t d = 0; d < D; ++d) mean += xr[d] / double(D);
    }
    for (int64_t d = 0; d < D; ++d) var += (xr[d] - mean) * (xr[d] - mean) / double(D);
    const double rstd = 1 / std::sqrt(var + eps);
    double mg = 0, mgx = 0;
    for (int64_t d = 0; d < D; ++d) {
      const double xh = (xr[d] - mean) * rstd, wd = w.empty() ? 1 : w[size_t(d)];
      const double g = dy[size_t(i * D + d)] * wd;
      r.y[size_t(i * D + d)] = xh * wd + (b.empty() ? 0 : b[size_t(d)]);
      mg += g / double(D);
      mgx += g * xh / double(D);
      r.dw[size_t(d)] += dy[size_t(i * D + d)] * xh;
      r.db[size_t(d)] += dy[size_t(i * D + d)];
    }
    for (int64_t d = 0; d < D; ++d) {
      const double xh = (xr[d] - mean) * rstd, wd = w.empty() ? 1 : w[size_t(d)];
      const double g = dy[size_t(i * D + d)] * wd;
      r.dx[size_t(i * D + d)] = rstd * (g - (rms ? 0 : mg) - xh * mgx);
    }
  }
  return r;
}

Result run_row(bool rms, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
               double eps = 1e-5) {
  leaf(x);
  leaf(w);
  leaf(b);
  Tensor y = rms ? rms_norm(x, w, eps) : layer_norm(x, w, b, eps);
  backward(y, dy);
  return {host_values(y), host_values(grad(x)), values_or_empty(grad(w)), values_or_empty(grad(b))};
}

// Runs the op on (rows, D) inputs of dtype/device `o` and compares with the reference computed
// from the same (rounded) inputs.
void check_row_op(bool rms, int64_t rows, int64_t D, bool affine, TensorOptions o, double tol,
                  uint64_t seed = 1) {
  CAPTURE(rms);
  CAPTURE(D);
  CAPTURE(affine);
  Generator g(seed);
  Tensor x = draw(g, {rows, D}, -1, 3, o), dy = draw(g, {rows, D}, -1, 1, o);
  Tensor w = affine ? draw(g, {D}, 0.5, 1.5, o) : Tensor();
  Tensor b = affine && !rms ? draw(g, {D}, -0.5, 0.5, o) : Tensor();
  Result want = row_reference(rms, host_values(x), values_or_empty(w), values_or_empty(b),
                              host_values(dy), D, 1e-5);
  Result got = run_row(rms, x, w, b, dy);
  check_near(got.y, want.y, tol, "y");
  check_near(got.dx, want.dx, tol, "dx");
  if (w.defined()) check_near(got.dw, want.dw, tol, "dweight");
  if (b.defined()) check_near(got.db, want.db, tol, "dbias");
}

}  // namespace

TEST_CASE("layer_norm and rms_norm match a float64 reference, values and gradients") {
  for (bool rms : {false, true})
    for (int64_t D : {1, 7, 64, 257, 768, 1025, 4100})
      for (bool affine : {true, false}) {
        check_row_op(rms, 5, D, affine, {DType::f64}, 1e-12);
        check_row_op(rms, 5, D, affine, {DType::f32}, 2e-5);
      }
}

TEST_CASE("layer_norm with D = 1 gives the bias and a zero input gradient") {
  Tensor x = from_vector<double>({3.0, -2.0, 0.5}, {3, 1});
  Tensor b = from_vector<double>({0.25}, {1});
  Result r = run_row(false, x, ones({1}, {DType::f64}), b, ones({3, 1}, {DType::f64}));
  CHECK(r.y == Vals{0.25, 0.25, 0.25});
  CHECK(r.dx == Vals{0, 0, 0});
  CHECK(r.db == Vals{3.0});
}

TEST_CASE("layer_norm accepts rank 1 and rank 3 inputs and normalises the last dim") {
  Generator g(3);
  Tensor x3 = draw(g, {2, 3, 9}, -2, 2);
  Tensor y3 = layer_norm(x3);
  Tensor y2 = layer_norm(core::reshape(x3, {6, 9}));
  CHECK(y3.shape() == Shape{2, 3, 9});
  CHECK(rel_error(core::reshape(y3, {6, 9}), y2) == 0);
  Tensor y1 = layer_norm(core::select(core::reshape(x3, {6, 9}), 0, 4));
  CHECK(rel_error(y1, core::select(y2, 0, 4)) == 0);
}

TEST_CASE("fused layer_norm and rms_norm agree with compositions of core mean and variance") {
  Generator g(5);
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor x = draw(g, {6, 300}, -1, 3, {dt}), w = draw(g, {300}, 0.5, 1.5, {dt});
    Tensor b = draw(g, {300}, -0.5, 0.5, {dt});
    using core::binary;
    auto eps_rsqrt = [](const Tensor& v) {
      return core::unary(UnaryOp::rsqrt, core::unary(UnaryOp::add_scalar, v, {1e-5}));
    };
    Tensor mean = core::mean(x, {-1}, true);
    Tensor xc = binary(BinaryOp::sub, x, mean);
    Tensor var = core::mean(binary(BinaryOp::mul, xc, xc), {-1}, true);
    Tensor ln = binary(BinaryOp::add,
                       binary(BinaryOp::mul, binary(BinaryOp::mul, xc, eps_rsqrt(var)), w), b);
    Tensor ms = core::mean(binary(BinaryOp::mul, x, x), {-1}, true);
    Tensor rms = binary(BinaryOp::mul, binary(BinaryOp::mul, x, eps_rsqrt(ms)), w);
    const double tol = dt == DType::f64 ? 1e-13 : 2e-6;
    CHECK(rel_error(layer_norm(x, w, b), ln) <= tol);
    CHECK(rel_error(rms_norm(x, w), rms) <= tol);
  }
}

TEST_CASE("row norm weight gradients do not depend on the number of CPU threads") {
  Generator g(9);
  Tensor x = draw(g, {333, 65}, -1, 3, {DType::f32}), dy = draw(g, {333, 65}, -1, 1, {DType::f32});
  Tensor w = draw(g, {65}, 0.5, 1.5, {DType::f32}), b = draw(g, {65}, -1, 1, {DType::f32});
  auto grads = [&] {
    Tensor xs = core::clone(x), ws = core::clone(w), bs = core::clone(b);
    Result r = run_row(false, xs, ws, bs, dy);
    return std::vector<Vals>{r.dx, r.dw, r.db};
  };
  const int threads = omp_get_max_threads();
  auto many = grads();
  omp_set_num_threads(1);
  auto one = grads();
  omp_set_num_threads(threads);
  CHECK(many == one);
}

// The f32 (forward, backward) row loops of every instruction set this CPU runs.
using RowsFwd = void (*)(RowNorm, float*, float*, float*, const float*, const float*, const float*,
                         int64_t, double, int64_t, int64_t);
using RowsBwd = void (*)(RowNorm, float*, double*, const float*, const float*, const float*,
                         const float*, const float*, int64_t, int64_t, int64_t);
std::vector<std::pair<RowsFwd, RowsBwd>> f32_row_norm_loops() {
  namespace nr = coil::cpu::norm_rows;
  std::vector<std::pair<RowsFwd, RowsBwd>> isas = {
      {nr::generic::forward_rows, nr::generic::backward_rows}};
  if (cpu::cpu_has(cpu::Isa::avx2))
    isas.push_back({nr::avx2::forward_rows, nr::avx2::backward_rows});
  if (cpu::cpu_has(cpu::Isa::avx512))
    isas.push_back({nr::avx512::forward_rows, nr::avx512::backward_rows});
  return isas;
}

TEST_CASE("the f32 row norm loops of every instruction set agree with the f64 ones") {
  namespace nr = coil::cpu::norm_rows;
  const int64_t R = 7, D = 37;  // D: vector bodies and scalar tails
  std::vector<double> x(R * D), dy(R * D), w(D), b(D);
  for (int64_t i = 0; i < R * D; ++i) x[i] = std::sin(0.7 * i) * 2 + 0.5, dy[i] = std::cos(0.3 * i);
  for (int64_t d = 0; d < D; ++d) w[d] = 1 + 0.01 * d, b[d] = 0.1 - 0.02 * d;
  auto f32 = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const auto xf = f32(x), dyf = f32(dy), wf = f32(w), bf = f32(b);
  const auto isas = f32_row_norm_loops();
  for (RowNorm kind : {RowNorm::layer, RowNorm::rms}) {
    std::vector<double> y(R * D), mean(R), rstd(R), dx(R * D), part(2 * D, 0.0);
    double* pm = kind == RowNorm::layer ? mean.data() : nullptr;
    nr::generic::forward_rows(kind, y.data(), pm, rstd.data(), x.data(), w.data(), b.data(), D,
                              1e-5, 0, R);
    nr::generic::backward_rows(kind, dx.data(), part.data(), dy.data(), x.data(), w.data(), pm,
                               rstd.data(), D, 0, R);
    for (size_t i = 0; i < isas.size(); ++i) {
      CAPTURE(i);
      std::vector<float> yf(R * D), mf(R), rf(R), dxf(R * D);
      std::vector<double> pf(2 * D, 0.0);
      float* pmf = pm ? mf.data() : nullptr;
      isas[i].first(kind, yf.data(), pmf, rf.data(), xf.data(), wf.data(), bf.data(), D, 1e-5, 0,
                    R);
      isas[i].second(kind, dxf.data(), pf.data(), dyf.data(), xf.data(), wf.data(), pmf, rf.data(),
                     D, 0, R);
      for (int64_t j = 0; j < R * D; ++j) {
        CHECK(yf[j] == doctest::Approx(y[j]).epsilon(1e-5).scale(1.0));
        CHECK(dxf[j] == doctest::Approx(dx[j]).epsilon(1e-5).scale(1.0));
      }
      for (int64_t j = 0; j < 2 * D; ++j) CHECK(pf[j] == doctest::Approx(part[j]).epsilon(1e-5));
    }
  }
}

TEST_CASE(
    "layer norm of one-element rows has an exactly zero input gradient on every instruction set") {
  // x - mean is exactly 0 and dx = rstd * (g - mean(g)) with mean(g) = g: any nonzero dx is a
  // rounding residual amplified by rstd = 1 / sqrt(eps) (an FMA contracting g = dy * w into the
  // subtraction leaves one), and the GPU parity check sees it as a relative error of 1.
  const int64_t R = 5, D = 1;
  const std::vector<float> x = {0.3f, -1.7f, 2.9f, 0.1f, -0.6f},
                           dy = {0.37f, -1.13f, 0.71f, 2.3f, -0.29f}, w = {1.37f};
  const auto isas = f32_row_norm_loops();
  for (size_t i = 0; i < isas.size(); ++i) {
    CAPTURE(i);
    std::vector<float> y(R), mean(R), rstd(R), dx(R, 1.f);
    isas[i].first(RowNorm::layer, y.data(), mean.data(), rstd.data(), x.data(), w.data(), nullptr,
                  D, 1e-5, 0, R);
    isas[i].second(RowNorm::layer, dx.data(), nullptr, dy.data(), x.data(), w.data(), mean.data(),
                   rstd.data(), D, 0, R);
    for (int64_t r = 0; r < R; ++r) CHECK(dx[r] == 0.f);
  }
}

// ---- batch_norm ----------------------------------------------------------------------------

namespace {

struct BnRef {
  Result r;
  Vals running_mean, running_var;
};

// Float64 reference for x (N, C, L): batch statistics in training (biased variance for the
// output, unbiased for the running update), running statistics in eval.
BnRef bn_reference(const Vals& x, const Vals& rm, const Vals& rv, const Vals& w, const Vals& b,
                   const Vals& dy, int64_t N, int64_t C, int64_t L, bool training, double momentum,
                   double eps) {
  BnRef out{{Vals(x.size()), Vals(x.size()), Vals(size_t(C), 0.0), Vals(size_t(C), 0.0)}, rm, rv};
  const double M = double(N * L);
  auto at = [&](int64_t n, int64_t c, int64_t l) { return size_t((n * C + c) * L + l); };
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    if (training) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < L; ++l) mean += x[at(n, c, l)] / M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < L; ++l) var += (x[at(n, c, l)] - mean) * (x[at(n, c, l)] - mean);
      if (!rm.empty()) {
        out.running_mean[size_t(c)] = (1 - momentum) * rm[size_t(c)] + momentum * mean;
        out.running_var[size_t(c)] = (1 - momentum) * rv[size_t(c)] + momentum * var / (M - 1);
      }
      var /= M;
    } else {
      mean = rm[size_t(c)], var = rv[size_t(c)];
    }
    const double invstd = 1 / std::sqrt(var + eps), wc = w.empty() ? 1 : w[size_t(c)];
    double sdy = 0, sdyxh = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const size_t i = at(n, c, l);
        const double xh = (x[i] - mean) * invstd;
        out.r.y[i] = xh * wc + (b.empty() ? 0 : b[size_t(c)]);
        sdy += dy[i];
        sdyxh += dy[i] * xh;
      }
    out.r.dw[size_t(c)] = sdyxh;
    out.r.db[size_t(c)] = sdy;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const size_t i = at(n, c, l);
        const double xh = (x[i] - mean) * invstd;
        out.r.dx[i] =
            training ? wc * invstd * (dy[i] - sdy / M - xh * sdyxh / M) : wc * invstd * dy[i];
      }
  }
  return out;
}

struct BnCase {
  Shape shape;
  bool training, affine, running;
};

void check_bn(const BnCase& k, TensorOptions o, double tol, uint64_t seed = 2) {
  CAPTURE(shape_str(k.shape));
  CAPTURE(k.training);
  CAPTURE(k.affine);
  CAPTURE(k.running);
  const int64_t N = k.shape[0], C = k.shape[1], L = k.shape.size() == 3 ? k.shape[2] : 1;
  Generator g(seed);
  Tensor x = draw(g, k.shape, -1, 3, o), dy = draw(g, k.shape, -1, 1, o);
  Tensor rm = k.running ? draw(g, {C}, -0.5, 0.5, o) : Tensor();
  Tensor rv = k.running ? draw(g, {C}, 0.5, 1.5, o) : Tensor();
  Tensor w = k.affine ? draw(g, {C}, 0.5, 1.5, o) : Tensor();
  Tensor b = k.affine ? draw(g, {C}, -0.5, 0.5, o) : Tensor();
  BnRef want =
      bn_reference(host_values(x), values_or_empty(rm), values_or_empty(rv), values_or_empty(w),
                   values_or_empty(b), host_values(dy), N, C, L, k.training, 0.1, 1e-5);
  leaf(x);
  leaf(w);
  leaf(b);
  Tensor y = batch_norm(x, rm, rv, w, b, k.training);
  backward(y, dy);
  check_near(host_values(y), want.r.y, tol, "y");
  check_near(host_values(grad(x)), want.r.dx, tol, "dx");
  if (k.affine) {
    check_near(host_values(grad(w)), want.r.dw, tol, "dweight");
    check_near(host_values(grad(b)), want.r.db, tol, "dbias");
  }
  if (k.running) {
    check_near(host_values(rm), want.running_mean, tol, "running_mean");
    check_near(host_values(rv), want.running_var, tol, "running_var");
  }
}

const std::vector<BnCase>& bn_cases() {
  static const std::vector<BnCase> cases = {
      {{8, 3}, true, true, true},     {{4, 5, 7}, true, true, true},
      {{2, 3, 1}, true, false, true}, {{1, 2, 9}, true, true, false},
      {{300, 40}, true, true, true},  {{9, 3, 500}, true, true, true},
      {{8, 3}, false, true, true},    {{4, 5, 7}, false, true, true},
      {{1, 4, 1}, false, true, true}, {{6, 2, 33}, false, false, true},
  };
  return cases;
}

}  // namespace

TEST_CASE("batch_norm matches a float64 reference in training and eval, with running stats") {
  for (const BnCase& k : bn_cases()) {
    check_bn(k, {DType::f64}, 1e-12);
    check_bn(k, {DType::f32}, 2e-5);
  }
}

TEST_CASE("batch_norm running statistics after one training step") {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 holds -1, 1.
  Tensor x = from_vector<double>({1, -1, 2, 1, 3, -1, 4, 1}, {4, 2});
  Tensor rm = from_vector<double>({0.0, 1.0}), rv = from_vector<double>({1.0, 2.0});
  leaf(x);
  Tensor y = batch_norm(x, rm, rv, {}, {}, true, 0.1, 0.0);
  CHECK(!requires_grad(rm));
  CHECK(!grad_fn(rm));
  auto m = rm.to_vector<double>(), v = rv.to_vector<double>();
  CHECK(m[0] == doctest::Approx(0.25).epsilon(1e-14));
  CHECK(m[1] == doctest::Approx(0.9 * 1.0 + 0.1 * 0.0).epsilon(1e-14));
  CHECK(v[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-14));
  CHECK(v[1] == doctest::Approx(0.9 * 2.0 + 0.1 * 4.0 / 3.0).epsilon(1e-14));
  // Normalised with the biased variance: channel 0 -> (x - 2.5) / sqrt(1.25).
  auto yv = y.to_vector<double>();
  CHECK(yv[0] == doctest::Approx(-1.5 / std::sqrt(1.25)).epsilon(1e-14));
  CHECK(yv[1] == doctest::Approx(-1.0).epsilon(1e-14));
}

TEST_CASE("batch_norm eval normalises with the running stats and leaves them unchanged") {
  Tensor x = from_vector<double>({1, -1, 2, 1, 3, -1}, {3, 2});
  Tensor rm = from_vector<double>({0.5, -1.0}), rv = from_vector<double>({4.0, 0.25});
  Tensor w = from_vector<double>({2.0, 1.0}), b = from_vector<double>({0.0, 1.0});
  Tensor y = batch_norm(x, rm, rv, w, b, false, 0.1, 0.0);
  check_near(y.to_vector<double>(), {0.5, 1.0, 1.5, 5.0, 2.5, 1.0}, 1e-15, "y");
  CHECK(rm.to_vector<double>() == Vals{0.5, -1.0});
  CHECK(rv.to_vector<double>() == Vals{4.0, 0.25});
}

TEST_CASE("batch_norm eval gradients match central finite differences") {
  // The spec-less counterpart of the harness gradcheck (the spec runs training mode).
  Generator g(21);
  Tensor x = draw(g, {5, 3, 4}, -1, 2), rm = draw(g, {3}, -0.5, 0.5), rv = draw(g, {3}, 0.5, 1.5);
  Tensor w = draw(g, {3}, 0.5, 1.5), b = draw(g, {3}, -0.5, 0.5), v = draw(g, {5, 3, 4}, -1, 1);
  auto objective = [&] {
    Tensor y = batch_norm(x, rm, rv, w, b, false);
    auto yv = y.to_vector<double>(), vv = v.to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * vv[i];
    return s;
  };
  leaf(x);
  leaf(w);
  leaf(b);
  backward(batch_norm(x, rm, rv, w, b, false), v);
  NoGradGuard no_grad;
  for (const Tensor& t : {x, w, b}) {
    auto ana = grad(t).to_vector<double>();
    double* p = t.data<double>();
    double diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double keep = p[i];
      p[i] = keep + 1e-6;
      const double up = objective();
      p[i] = keep - 1e-6;
      const double down = objective();
      p[i] = keep;
      diff = std::max(diff, std::abs((up - down) / 2e-6 - ana[size_t(i)]));
      scale = std::max(scale, std::abs(ana[size_t(i)]));
    }
    CHECK(diff / scale <= 1e-7);
  }
}

TEST_CASE("fused batch_norm agrees with a composition of core mean and variance") {
  Generator g(8);
  Tensor x = draw(g, {7, 4, 19}, -1, 3, {DType::f32});
  Tensor mean = core::mean(x, {0, 2}, true);
  Tensor xc = core::binary(BinaryOp::sub, x, mean);
  Tensor var = core::mean(core::binary(BinaryOp::mul, xc, xc), {0, 2}, true);
  Tensor want =
      core::binary(BinaryOp::mul, xc,
                   core::unary(UnaryOp::rsqrt, core::unary(UnaryOp::add_scalar, var, {1e-5})));
  CHECK(rel_error(batch_norm(x, {}, {}, {}, {}, true), want) <= 2e-6);
}

TEST_CASE("batch_norm updates non-contiguous running stats in place") {
  Generator g(4);
  Tensor x = draw(g, {6, 3}, -1, 3);
  Tensor wide = from_vector<double>({0, 9, 0, 9, 0, 9}, {3, 2});
  Tensor rm = core::select(wide, 1, 0);  // stride 2
  Tensor rv = full({3}, 1.0, {DType::f64});
  batch_norm(x, rm, rv, {}, {}, true, 0.5);
  Tensor mean = core::mean(x, {0});
  check_near(rm.to_vector<double>(),
             core::unary(UnaryOp::mul_scalar, mean, {0.5}).to_vector<double>(), 1e-15,
             "running_mean");
  CHECK(core::select(wide, 1, 1).to_vector<double>() == Vals{9, 9, 9});
}

TEST_CASE("normalisation ops reject bad shapes and name themselves") {
  auto throws = [](auto f, const char* tag) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(tag), Error);
  };
  throws([] { layer_norm(ones({2, 5}), ones({5}), ones({4})); }, "[layer_norm]");
  throws([] { rms_norm(ones({2, 5}), ones({2, 5})); }, "[rms_norm]");
  throws([] { batch_norm(ones({1, 4}), {}, {}, {}, {}, true); }, "more than 1 value per channel");
  throws(
      [] {
        batch_norm(ones({3, 4}), ones({4}), ones({4}), ones({3}), {}, false);
      },
      "[batch_norm]");
}

// ---- CUDA (skipped without a GPU) ----------------------------------------------------------

TEST_CASE("CUDA row norms match the float64 reference on the warp and block paths") {
  if (!cuda_available()) return;
  const TensorOptions o{DType::f32, Device::cuda()};
  for (bool rms : {false, true})
    for (int64_t D : {1, 7, 31, 64, 257, 768, 1024, 1025, 1028, 4096, 4099, 20000})
      for (bool affine : {true, false}) check_row_op(rms, 67, D, affine, o, 3e-5);
  // Many rows: more rows than the backward keeps resident blocks, several rows per warp.
  check_row_op(false, 4099, 768, true, o, 3e-5);
  check_row_op(true, 2053, 1000, true, o, 3e-5);
  check_row_op(false, 3000, 4096, true, o, 3e-5);
  // f64 on CUDA takes the block path for every D.
  check_row_op(false, 9, 300, true, {DType::f64, Device::cuda()}, 1e-12);
}

TEST_CASE("CUDA row norms handle rows that are not 16-byte aligned") {
  if (!cuda_available()) return;
  Generator g(6);
  // A contiguous view at an odd element offset: same values, no vector loads allowed.
  Tensor base = draw(g, {33 * 64 + 1}, -1, 2, {DType::f32, Device::cuda()});
  Tensor x = core::view(core::narrow(base, 0, 1, 33 * 64), {33, 64});
  Tensor w = draw(g, {64}, 0.5, 1.5, {DType::f32, Device::cuda()});
  Tensor b = draw(g, {64}, -0.5, 0.5, {DType::f32, Device::cuda()});
  Tensor xa = core::clone(x);
  // The scalar and the vector paths sum a row in different orders: equal up to rounding.
  CHECK(rel_error(layer_norm(x, w, b), layer_norm(xa, w, b)) < 1e-6);
  CHECK(rel_error(rms_norm(x, w), rms_norm(xa, w)) < 1e-6);
}

TEST_CASE("CUDA batch_norm matches the float64 reference, training and eval") {
  if (!cuda_available()) return;
  for (const BnCase& k : bn_cases()) check_bn(k, {DType::f32, Device::cuda()}, 3e-5);
  for (const BnCase& k : bn_cases()) check_bn(k, {DType::f64, Device::cuda()}, 1e-11);
  // Many chunks per channel (rows kernel) and many channel tiles (columns kernel).
  check_bn({{16, 3, 5000}, true, true, true}, {DType::f32, Device::cuda()}, 3e-5);
  check_bn({{5000, 70}, true, true, true}, {DType::f32, Device::cuda()}, 3e-5);
  check_bn({{64, 1, 3}, true, true, true}, {DType::f32, Device::cuda()}, 3e-5);
}
