// FFT convolution on the CPU: values and gradients against a direct O(L^2) float64 convolution
// at awkward lengths, both directions, with and without D; thread-count independence of the
// batch reduction, for the AVX2 and the baseline kernels; the FFTW plan caches (real and complex,
// ops/common/fft_plans.h) against a direct DFT.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/views.h"
#include "ops/common/fft_plans.h"
#include "ops/fft_conv/cpu_lanes.h"
#include "ops/fft_conv/fft_conv.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::host_values;
using coil::testing::rel_error;

namespace {

struct Case {
  int64_t B, L, H, C, Lk;
  bool with_d;
};

// Direct sums of the contract in fft_conv.h, in float64: y, and for the cotangent dy the
// adjoints du, dk, dD.
struct Direct {
  std::vector<double> y, du, dk, dD;
};

Direct direct(const Case& c, const std::vector<double>& u, const std::vector<double>& k,
              const std::vector<double>& D, const std::vector<double>& dy) {
  const int64_t B = c.B, L = c.L, H = c.H, Lk = c.Lk;
  Direct r{std::vector<double>(u.size(), 0.0), std::vector<double>(u.size(), 0.0),
           std::vector<double>(k.size(), 0.0), std::vector<double>(size_t(H), 0.0)};
  auto at = [&](int64_t b, int64_t t, int64_t h) { return size_t((b * L + t) * H + h); };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t s = 0; s < L; ++s) {
          double w = 0;  // weight of u[s] in y[t]
          size_t ki = 0;
          bool tap = false;
          if (s <= t && t - s < Lk) ki = size_t(h * Lk + (t - s)), tap = true;
          if (c.C == 2 && s > t && s - t - 1 < Lk)
            ki = size_t((H + h) * Lk + (s - t - 1)), tap = true;
          if (tap) w = k[ki];
          if (s == t && c.with_d) w += D[size_t(h)];
          r.y[at(b, t, h)] += w * u[at(b, s, h)];
          r.du[at(b, s, h)] += w * dy[at(b, t, h)];
          if (tap) r.dk[ki] += dy[at(b, t, h)] * u[at(b, s, h)];
          if (s == t && c.with_d) r.dD[size_t(h)] += dy[at(b, t, h)] * u[at(b, s, h)];
        }
  return r;
}

std::vector<double> values(const Tensor& t) { return host_values(t); }

// Max |a - b| / max |b|.
double rel(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, s = 1e-300;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(a[i] - b[i])), s = std::max(s, std::abs(b[i]));
  return d / s;
}

const std::vector<Case> kCases = {
    {2, 1, 3, 1, 1, true},        // L = 1
    {2, 7, 5, 1, 7, false},       // odd L
    {1, 129, 3, 1, 129, true},    // just past a power of two
    {2, 100, 18, 1, 37, true},    // short kernel, H past the channel tile
    {1, 257, 2, 1, 200, false},   // L > n/2: the first pass cannot skip the upper half
    {1, 700, 17, 1, 700, true},   // n = 2048: the FFT's depth-first recursion
    {1, 2100, 2, 1, 2100, true},  // n = 8192: blocks of n/8 above the L1 leaf size recurse
    {2, 1, 2, 2, 1, true},        // bidirectional: L = 1 has no anti-causal lag
    {2, 9, 3, 2, 9, true},        // bidirectional, Lk = L: k1[L - 1] never reaches y
    {1, 65, 4, 2, 30, false},     // bidirectional, short kernels
    {3, 300, 2, 2, 300, true},    // bidirectional, n = 600 on the GPU, 1024 on the CPU
    // Short bidirectional kernels need n >= L + Lk, one more than the causal L + Lk - 1: at
    // L + Lk - 1 points lag L - 1 wraps onto lag -Lk (that rule gives 4, 7 and 8 points below;
    // the last keeps the CPU, whose power of two is at least 8, on the edge).
    {2, 4, 3, 2, 1, true},
    {1, 5, 2, 2, 3, false},
    {1, 5, 2, 2, 4, true},
};

}  // namespace

TEST_CASE("fft_conv forward and gradients match a direct float64 convolution at awkward lengths") {
  using cpu::fft_lanes::Isa;
  Generator g(5);
  for (const Case& c : kCases) {
    CAPTURE(c.B);
    CAPTURE(c.L);
    CAPTURE(c.H);
    CAPTURE(c.C);
    CAPTURE(c.Lk);
    CAPTURE(c.with_d);
    const TensorOptions f64{DType::f64};
    Tensor u = normal({c.B, c.L, c.H}, 0, 1, f64, &g),
           k = normal({c.C, c.H, c.Lk}, 0, 0.5, f64, &g);
    Tensor D = c.with_d ? normal({c.H}, 0, 1, f64, &g) : Tensor();
    Tensor dy = normal({c.B, c.L, c.H}, 0, 1, f64, &g);
    const Direct ref =
        direct(c, values(u), values(k), c.with_d ? values(D) : std::vector<double>(), values(dy));
    // The CPU kernels for the machine's best instruction set and for the baseline one.
    for (auto [isa, dt] : {std::pair{Isa::best, DType::f64},
                           {Isa::best, DType::f32},
                           {Isa::generic, DType::f64},
                           {Isa::generic, DType::f32}}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(int(isa));
      cpu::fft_lanes::isa() = isa;
      const double tol = dt == DType::f64 ? 1e-12 : 2e-6;
      // Fresh leaves each round (core::to of an f64 tensor to f64 returns the tensor itself).
      auto leaf = [dt](const Tensor& t) { return set_requires_grad(core::clone(core::to(t, dt))); };
      Tensor ut = leaf(u), kt = leaf(k), Dt = c.with_d ? leaf(D) : Tensor();
      Tensor y = fft_conv(ut, kt, Dt, c.C == 2);
      CHECK(y.dtype() == dt);
      CHECK(rel(values(y), ref.y) <= tol);
      backward(y, core::to(dy, dt));
      CHECK(rel(values(grad(ut)), ref.du) <= tol);
      CHECK(rel(values(grad(kt)), ref.dk) <= tol);
      if (c.with_d) CHECK(rel(values(grad(Dt)), ref.dD) <= tol);
    }
    cpu::fft_lanes::isa() = Isa::best;
  }
}

TEST_CASE("fft_conv's bidirectional lag -L kernel entry gets exactly zero gradient") {
  Generator g(9);
  Tensor u = normal({2, 6, 2}, 0, 1, {DType::f64}, &g);
  Tensor k = set_requires_grad(normal({2, 2, 6}, 0, 1, {DType::f64}, &g));
  backward(fft_conv(u, k, Tensor(), true), normal({2, 6, 2}, 0, 1, {DType::f64}, &g));
  std::vector<double> dk = values(grad(k));
  CHECK(dk[size_t(2 * 6 + 5)] == 0.0);  // k[1, 0, L - 1]
  CHECK(dk[size_t(3 * 6 + 5)] == 0.0);  // k[1, 1, L - 1]
  CHECK(dk[size_t(2 * 6 + 4)] != 0.0);  // lag -(L - 1) does reach y
}

// Only some gradients wanted: without du the backward runs no inverse transform of dy; without
// dk and dD it accumulates no correlation.
TEST_CASE("fft_conv computes any subset of its gradients") {
  using cpu::fft_lanes::Isa;
  Generator g(11);
  const Case c{2, 150, 20, 1, 150, true};
  const TensorOptions f64{DType::f64};
  Tensor u = normal({c.B, c.L, c.H}, 0, 1, f64, &g), k = normal({c.C, c.H, c.Lk}, 0, 0.5, f64, &g);
  Tensor D = normal({c.H}, 0, 1, f64, &g), dy = normal({c.B, c.L, c.H}, 0, 1, f64, &g);
  const Direct ref = direct(c, values(u), values(k), values(D), values(dy));
  for (Isa isa : {Isa::best, Isa::generic}) {
    CAPTURE(int(isa));
    cpu::fft_lanes::isa() = isa;
    for (int mask = 1; mask < 8; ++mask) {  // bit 0: u, 1: k, 2: D require grad
      CAPTURE(mask);
      auto leaf = [](const Tensor& t, bool grad) {
        Tensor r = core::clone(t);
        return grad ? set_requires_grad(r) : r;
      };
      Tensor ut = leaf(u, mask & 1), kt = leaf(k, mask & 2), Dt = leaf(D, mask & 4);
      backward(fft_conv(ut, kt, Dt), dy);
      if (mask & 1) CHECK(rel(values(grad(ut)), ref.du) <= 1e-12);
      if (mask & 2) CHECK(rel(values(grad(kt)), ref.dk) <= 1e-12);
      if (mask & 4) CHECK(rel(values(grad(Dt)), ref.dD) <= 1e-12);
    }
  }
  cpu::fft_lanes::isa() = Isa::best;
}

TEST_CASE("fft_conv gradients are bitwise the same with one thread and with several") {
  Generator g(3);
  Tensor u = normal({8, 200, 40}, 0, 1, {}, &g), k = normal({2, 40, 200}, 0, 0.1, {}, &g);
  Tensor D = normal({40}, 0, 1, {}, &g), dy = normal({8, 200, 40}, 0, 1, {}, &g);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor ut = set_requires_grad(core::clone(u)), kt = set_requires_grad(core::clone(k));
    Tensor Dt = set_requires_grad(core::clone(D));
    Tensor y = fft_conv(ut, kt, Dt, true);
    backward(y, dy);
    omp_set_num_threads(saved);
    return std::vector<Tensor>{detach(y), grad(ut), grad(kt), grad(Dt)};
  };
  std::vector<Tensor> a = run(1), b = run(3);
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(bitwise_equal(a[i], b[i]));
  }
}

TEST_CASE("fft_conv takes non-contiguous inputs") {
  Generator g(4);
  Tensor u = normal({3, 2, 20}, 0, 1, {DType::f64}, &g);  // (B, H, L): a transposed view
  Tensor k = normal({1, 2, 20}, 0, 1, {DType::f64}, &g);
  Tensor ut = core::transpose(u, 1, 2);
  CHECK(rel_error(fft_conv(ut, k), fft_conv(core::contiguous(ut), k)) <= 1e-15);
}

TEST_CASE("fft_conv errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(fft_conv(ones({2, 4, 3}), ones({1, 3, 5})),
                       doctest::Contains("[fft_conv] kernel longer than the sequence"), Error);
  CHECK_THROWS_WITH_AS(fft_conv(ones({2, 4, 3}), ones({1, 3, 5})),
                       doctest::Contains("u (2, 4, 3), k (1, 3, 5)"), Error);
  CHECK_THROWS_WITH_AS(fft_conv(ones({2, 4, 3}), ones({1, 3, 4}), Tensor(), true),
                       doctest::Contains("C = 2 kernels for a bidirectional"), Error);
}

TEST_CASE("RealFft matches a direct DFT for strided layouts, odd sizes and unaligned arrays") {
  for (int64_t n : {1, 2, 7, 12, 45, 64}) {
    CAPTURE(n);
    const int64_t nc = n / 2 + 1, howmany = 3;
    // Interleaved layout: transform j sample i at real[i * howmany + j]; spectra row-major.
    const fft::Layout layout{howmany, howmany, 1, 1, nc + 1};
    std::vector<double> x(size_t(n * howmany + 1));
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = std::sin(0.7 * double(i) + 0.3) + 0.1 * double(i % 5);
    std::vector<std::complex<double>> X(size_t(howmany * (nc + 1) + 1));
    const fft::RealFft<double> f(n, layout);
    // Offsets by one element: the arrays are no longer as aligned as the planning arrays.
    for (int64_t off : {0, 1}) {
      CAPTURE(off);
      f.forward(x.data() + off, X.data() + off);
      double err = 0;
      for (int64_t j = 0; j < howmany; ++j)
        for (int64_t b = 0; b < nc; ++b) {
          std::complex<double> want = 0;
          for (int64_t i = 0; i < n; ++i)
            want += x[size_t(off + i * howmany + j)] *
                    std::polar(1.0, -2 * std::numbers::pi * double(i * b) / double(n));
          err = std::max(err, std::abs(X[size_t(off + j * (nc + 1) + b)] - want));
        }
      CHECK(err <= 1e-12 * double(n));
      std::vector<double> back(x.size(), 0.0);
      f.inverse(X.data() + off, back.data() + off);
      double rt = 0;
      for (int64_t i = 0; i < n * howmany; ++i)
        rt = std::max(rt, std::abs(back[size_t(off + i)] / double(n) - x[size_t(off + i)]));
      CHECK(rt <= 1e-13);
    }
  }
  CHECK(fft::good_size(8191) == 8192);
  CHECK(fft::good_size(257) == 270);
  CHECK(fft::good_size(0) == 1);
}

TEST_CASE("ComplexFft matches a direct DFT in place and out of place, aligned or not") {
  for (int64_t n : {1, 6, 35, 64}) {
    CAPTURE(n);
    const fft::ComplexFft<float> f(n);
    fft::Buffer<std::complex<float>> a(size_t(n + 1)), b(size_t(n + 1));
    std::vector<std::complex<double>> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = {std::cos(1.3 * double(i)), 0.2 * double(i % 3)};
    for (int mode = 0; mode < 3; ++mode) {  // in place aligned, out of place, in place unaligned
      CAPTURE(mode);
      std::complex<float>* in = a.data() + (mode == 2 ? 1 : 0);
      std::complex<float>* out = mode == 1 ? b.data() : in;
      for (int64_t i = 0; i < n; ++i) in[i] = std::complex<float>(x[size_t(i)]);
      f.forward(in, out);
      double err = 0;
      for (int64_t k = 0; k < n; ++k) {
        std::complex<double> want = 0;
        for (int64_t i = 0; i < n; ++i)
          want += x[size_t(i)] * std::polar(1.0, -2 * std::numbers::pi * double(i * k) / double(n));
        err = std::max(err, std::abs(std::complex<double>(out[k]) - want));
      }
      CHECK(err <= 1e-5 * double(n));
      f.inverse(out, out);
      double rt = 0;
      for (int64_t i = 0; i < n; ++i)
        rt = std::max(rt, std::abs(std::complex<double>(out[i]) / double(n) - x[size_t(i)]));
      CHECK(rt <= 1e-5);
    }
  }
}
