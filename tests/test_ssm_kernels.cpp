// The S4D and S4 (DPLR) kernels against float64 references written independently here: the S4D
// Vandermonde sum with std::complex, and the S4 kernel as C Abar^l Bbar by explicit dense matrix
// powers (own small complex matrix code). Also the recurrent step mode against the convolution.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/fft_conv/fft_conv.h"
#include "ops/s4_kernel/s4_kernel.h"
#include "ops/s4d_kernel/s4d_kernel.h"
#include "ops/ssm_step/ssm_step.h"
#include "tests/support/compare.h"

using namespace coil;
using cd = std::complex<double>;

namespace {

struct Params {
  int64_t H, N2, Cn, R;
  Tensor log_dt, a_re, a_im, P, B, C;
};

Params draw(int64_t H, int64_t N2, int64_t Cn, int64_t R, uint64_t seed, double dt_lo = 0.01,
            double dt_hi = 0.3) {
  Generator g(seed);
  TensorOptions o{DType::f64};
  Params p;
  p.H = H, p.N2 = N2, p.Cn = Cn, p.R = R;
  p.log_dt = uniform({H}, std::log(dt_lo), std::log(dt_hi), o, &g);
  p.a_re = uniform({H, N2}, -1.0, -0.1, o, &g);
  p.a_im = uniform({H, N2}, -6.0, 6.0, o, &g);
  p.P = normal({R, H, N2, 2}, 0.0, 0.5, o, &g);
  p.B = normal({H, N2, 2}, 0.0, 1.0, o, &g);
  p.C = normal({Cn, H, N2, 2}, 0.0, 1.0, o, &g);
  return p;
}

cd at(const std::vector<double>& v, int64_t i) { return {v[size_t(2 * i)], v[size_t(2 * i + 1)]}; }

// ---- dense complex matrices (row-major n x n) ----
using Mat = std::vector<cd>;
Mat matmul(const Mat& a, const Mat& b, int64_t n) {
  Mat c(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < n; ++j)
        c[size_t(i * n + j)] += a[size_t(i * n + k)] * b[size_t(k * n + j)];
  return c;
}
// a^-1 by Gauss-Jordan with partial pivoting.
Mat inverse(Mat a, int64_t n) {
  Mat inv(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) inv[size_t(i * n + i)] = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t piv = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::abs(a[size_t(r * n + col)]) > std::abs(a[size_t(piv * n + col)])) piv = r;
    for (int64_t j = 0; j < n; ++j) {
      std::swap(a[size_t(col * n + j)], a[size_t(piv * n + j)]);
      std::swap(inv[size_t(col * n + j)], inv[size_t(piv * n + j)]);
    }
    const cd d = a[size_t(col * n + col)];
    for (int64_t j = 0; j < n; ++j) a[size_t(col * n + j)] /= d, inv[size_t(col * n + j)] /= d;
    for (int64_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const cd f = a[size_t(r * n + col)];
      for (int64_t j = 0; j < n; ++j) {
        a[size_t(r * n + j)] -= f * a[size_t(col * n + j)];
        inv[size_t(r * n + j)] -= f * inv[size_t(col * n + j)];
      }
    }
  }
  return inv;
}

// K (Cn, H, L) of the DPLR system by explicit powers over the full 2 N2 state:
// A = diag(W_full) - sum_r P_full,r P_full,r^*, bilinear, C = C~ (I - Abar^L)^-1.
std::vector<double> s4_reference(const Params& p, int64_t L) {
  const int64_t n = 2 * p.N2;
  auto dt_v = p.log_dt.to_vector<double>(), wr = p.a_re.to_vector<double>(),
       wi = p.a_im.to_vector<double>(), P = p.P.to_vector<double>(), B = p.B.to_vector<double>(),
       C = p.C.to_vector<double>();
  std::vector<double> K(size_t(p.Cn * p.H * L));
  for (int64_t h = 0; h < p.H; ++h) {
    const double dt = std::exp(dt_v[size_t(h)]);
    auto full = [&](const std::vector<double>& v, int64_t base, int64_t k) {
      return k < p.N2 ? at(v, base + k) : std::conj(at(v, base + k - p.N2));
    };
    Mat A(size_t(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      A[size_t(i * n + i)] =
          i < p.N2 ? cd(wr[size_t(h * p.N2 + i)], wi[size_t(h * p.N2 + i)])
                   : cd(wr[size_t(h * p.N2 + i - p.N2)], -wi[size_t(h * p.N2 + i - p.N2)]);
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t j = 0; j < n; ++j)
          A[size_t(i * n + j)] -=
              full(P, (r * p.H + h) * p.N2, i) * std::conj(full(P, (r * p.H + h) * p.N2, j));
    }
    Mat lhs(size_t(n * n)), rhs(size_t(n * n));
    for (int64_t i = 0; i < n * n; ++i) {
      const double id = (i / n == i % n) ? 1.0 : 0.0;
      lhs[size_t(i)] = id - 0.5 * dt * A[size_t(i)];
      rhs[size_t(i)] = id + 0.5 * dt * A[size_t(i)];
    }
    const Mat li = inverse(lhs, n), Ab = matmul(li, rhs, n);
    std::vector<cd> Bb(size_t(n), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        Bb[size_t(i)] += li[size_t(i * n + j)] * dt * full(B, h * p.N2, j);
    Mat AL(size_t(n * n), 0.0);  // Abar^L
    for (int64_t i = 0; i < n; ++i) AL[size_t(i * n + i)] = 1.0;
    for (int64_t l = 0; l < L; ++l) AL = matmul(AL, Ab, n);
    Mat IAL(size_t(n * n));
    for (int64_t i = 0; i < n * n; ++i)
      IAL[size_t(i)] = ((i / n == i % n) ? 1.0 : 0.0) - AL[size_t(i)];
    const Mat IALi = inverse(IAL, n);
    for (int64_t c = 0; c < p.Cn; ++c) {
      std::vector<cd> Crow(size_t(n), 0.0);  // C = C~ (I - Abar^L)^-1
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < n; ++i)
          Crow[size_t(j)] += full(C, (c * p.H + h) * p.N2, i) * IALi[size_t(i * n + j)];
      std::vector<cd> x = Bb;  // Abar^l Bbar
      for (int64_t l = 0; l < L; ++l) {
        cd y = 0;
        for (int64_t i = 0; i < n; ++i) y += Crow[size_t(i)] * x[size_t(i)];
        CHECK(std::abs(y.imag()) < 1e-9 * (1 + std::abs(y.real())));
        K[size_t((c * p.H + h) * L + l)] = y.real();
        std::vector<cd> nx(size_t(n), 0.0);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) nx[size_t(i)] += Ab[size_t(i * n + j)] * x[size_t(j)];
        x = nx;
      }
    }
  }
  return K;
}

// K (Cn, H, L) of the diagonal system: 2 Re sum_n C B q z^l, written with std::complex.
std::vector<double> s4d_reference(const Params& p, int64_t L, SsmDisc disc) {
  auto dt_v = p.log_dt.to_vector<double>(), ar = p.a_re.to_vector<double>(),
       ai = p.a_im.to_vector<double>(), B = p.B.to_vector<double>(), C = p.C.to_vector<double>();
  std::vector<double> K(size_t(p.Cn * p.H * L), 0.0);
  for (int64_t c = 0; c < p.Cn; ++c)
    for (int64_t h = 0; h < p.H; ++h)
      for (int64_t n = 0; n < p.N2; ++n) {
        const double dt = std::exp(dt_v[size_t(h)]);
        const cd a(ar[size_t(h * p.N2 + n)], ai[size_t(h * p.N2 + n)]);
        cd z, q;
        if (disc == SsmDisc::zoh) z = std::exp(dt * a), q = (z - 1.0) / a;
        else z = (1.0 + dt * a / 2.0) / (1.0 - dt * a / 2.0), q = dt / (1.0 - dt * a / 2.0);
        const cd coef = at(C, (c * p.H + h) * p.N2 + n) * at(B, h * p.N2 + n) * q;
        for (int64_t l = 0; l < L; ++l)
          K[size_t((c * p.H + h) * L + l)] += 2 * (coef * std::pow(z, double(l))).real();
      }
  return K;
}

double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, s = 1e-300;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(a[i] - b[i])), s = std::max(s, std::abs(b[i]));
  return d / s;
}

std::vector<Tensor> as_f32(const Params& p) {
  return {core::to(p.log_dt, DType::f32), core::to(p.a_re, DType::f32),
          core::to(p.a_im, DType::f32),   core::to(p.P, DType::f32),
          core::to(p.B, DType::f32),      core::to(p.C, DType::f32)};
}

// y[b, t, h] = sum_{l <= t} K[h, l] u[b, t - l, h] + D[h] u[b, t, h], the O(L^2) causal conv.
std::vector<double> conv_reference(const std::vector<double>& K, const std::vector<double>& u,
                                   const std::vector<double>& D, int64_t Bn, int64_t L, int64_t H) {
  std::vector<double> y(size_t(Bn * L * H));
  for (int64_t b = 0; b < Bn; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < H; ++h) {
        double acc = D[size_t(h)] * u[size_t((b * L + t) * H + h)];
        for (int64_t l = 0; l <= t; ++l)
          acc += K[size_t(h * L + l)] * u[size_t((b * L + t - l) * H + h)];
        y[size_t((b * L + t) * H + h)] = acc;
      }
  return y;
}

// Runs step(state, u_t) over the sequence u (B, L, H) and collects y (B, L, H).
template <class Step>
std::vector<double> run_steps(Step step, Tensor state, const std::vector<double>& u, int64_t Bn,
                              int64_t L, int64_t H, TensorOptions o) {
  std::vector<double> y(size_t(Bn * L * H));
  for (int64_t t = 0; t < L; ++t) {
    std::vector<double> ut(size_t(Bn * H));
    for (int64_t b = 0; b < Bn; ++b)
      for (int64_t h = 0; h < H; ++h) ut[size_t(b * H + h)] = u[size_t((b * L + t) * H + h)];
    auto [yt, next] =
        step(state, core::to(core::to(from_vector<double>(ut, {Bn, H}), o.dtype), o.device));
    state = next;
    auto yv = core::to(yt, Device::cpu()).template to_vector<double>();
    for (int64_t b = 0; b < Bn; ++b)
      for (int64_t h = 0; h < H; ++h) y[size_t((b * L + t) * H + h)] = yv[size_t(b * H + h)];
  }
  return y;
}

}  // namespace

TEST_CASE("s4d_kernel equals the Vandermonde sum for ZOH and bilinear, f64 and f32") {
  // 600: several CPU blocks; 5000: past two of the CPU's exact anchors (every 2048 steps).
  for (int64_t L : {600, 5000})
    for (SsmDisc disc : {SsmDisc::zoh, SsmDisc::bilinear}) {
      CAPTURE(int(disc));
      CAPTURE(L);
      Params p = draw(3, 5, 2, 1, 11);
      auto ref = s4d_reference(p, L, disc);
      Tensor k64 = s4d_kernel(p.log_dt, p.a_re, p.a_im, p.B, p.C, L, disc);
      CHECK(rel_diff(k64.to_vector<double>(), ref) < 1e-12);
      auto f = as_f32(p);
      Tensor k32 = s4d_kernel(f[0], f[1], f[2], f[4], f[5], L, disc);
      CHECK(rel_diff(k32.to_vector<double>(), ref) < 1e-5);
    }
}

TEST_CASE("s4_kernel equals C Abar^l Bbar by explicit matrix powers (R 1 and 2, Cn 1 and 2)") {
  for (int64_t R : {1, 2})
    for (int64_t L : {1, 2, 7, 16}) {
      CAPTURE(R);
      CAPTURE(L);
      Params p = draw(2, 3, 2, R, 5 + uint64_t(R * 100 + L), 0.05, 0.5);
      auto ref = s4_reference(p, L);
      Tensor k64 = s4_kernel(p.log_dt, p.a_re, p.a_im, p.P, p.B, p.C, L);
      CHECK(rel_diff(k64.to_vector<double>(), ref) < 1e-9);
      auto f = as_f32(p);
      Tensor k32 = s4_kernel(f[0], f[1], f[2], f[3], f[4], f[5], L);
      CHECK(rel_diff(k32.to_vector<double>(), ref) < 1e-4);
    }
}

TEST_CASE("stepping S4D and S4 through a sequence equals the causal convolution (f64 and f32)") {
  const int64_t Bn = 2, L = 40, H = 3, N2 = 4;
  Generator g(77);
  auto u = normal({Bn, L, H}, 0, 1, {DType::f64}, &g).to_vector<double>();
  Tensor D = normal({H}, 0, 1, {DType::f64}, &g);
  auto Dv = D.to_vector<double>();
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::f64 ? 1e-9 : 1e-4;
    TensorOptions o{dt};
    Tensor Dt = core::to(D, dt);
    for (SsmDisc disc : {SsmDisc::zoh, SsmDisc::bilinear}) {
      Params p = draw(H, N2, 1, 1, 21 + int(disc));
      Tensor K = s4d_kernel(p.log_dt, p.a_re, p.a_im, p.B, p.C, L, disc);
      auto ref = conv_reference(K.to_vector<double>(), u, Dv, Bn, L, H);
      // The same convolution through ops/fft_conv agrees with the direct loop.
      CHECK(rel_diff(fft_conv(from_vector<double>(u, {Bn, L, H}), K, D).to_vector<double>(), ref) <
            1e-12);
      SsmStepParams sp =
          s4d_step_params(core::to(p.log_dt, dt), core::to(p.a_re, dt), core::to(p.a_im, dt),
                          core::to(p.B, dt), core::to(p.C, dt), disc);
      auto y =
          run_steps([&](const Tensor& s,
                        const Tensor& ut) { return s4d_step(s, ut, sp.Abar, sp.Bbar, sp.C, Dt); },
                    zeros({Bn, H, N2, 2}, o), u, Bn, L, H, o);
      CHECK(rel_diff(y, ref) < tol);
    }
    for (int64_t R : {1, 2}) {
      Params p = draw(H, N2, 1, R, 31 + uint64_t(R), 0.05, 0.5);
      auto ref =
          conv_reference(s4_kernel(p.log_dt, p.a_re, p.a_im, p.P, p.B, p.C, L).to_vector<double>(),
                         u, Dv, Bn, L, H);
      SsmStepParams sp =
          s4_step_params(core::to(p.log_dt, dt), core::to(p.a_re, dt), core::to(p.a_im, dt),
                         core::to(p.P, dt), core::to(p.B, dt), core::to(p.C, dt), L);
      auto y =
          run_steps([&](const Tensor& s,
                        const Tensor& ut) { return ssm_step(s, ut, sp.Abar, sp.Bbar, sp.C, Dt); },
                    zeros({Bn, H, 2 * N2}, o), u, Bn, L, H, o);
      CHECK(rel_diff(y, ref) < tol);
    }
  }
}
