// HiPPO matrices, the NPLR decomposition and the S4D inits (nn/init/): values written down from
// the formulas by hand, normality of A + P P^T, reconstruction of A from (W, P, V), bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>

#include "core/error.h"
#include "nn/init/hippo.h"
#include "nn/init/s4d_init.h"

using namespace coil;
using namespace coil::nn::init;

namespace {

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// V_full (diag(W_full) - P~_full P~_full^*) V_full^* over both halves of each conjugate pair.
std::vector<double> rebuild_A(const Nplr& d) {
  const int64_t N2 = d.N2, N = 2 * N2;
  auto v = [&](int64_t i, int64_t k) {  // column k of V_full
    return k < N2 ? d.V[size_t(i * N2 + k)] : std::conj(d.V[size_t(i * N2 + k - N2)]);
  };
  auto w = [&](int64_t k) { return k < N2 ? d.W[size_t(k)] : std::conj(d.W[size_t(k - N2)]); };
  auto p = [&](int r, int64_t k) {
    return k < N2 ? d.P[size_t(r * N2 + k)] : std::conj(d.P[size_t(r * N2 + k - N2)]);
  };
  std::vector<cdouble> inner(size_t(N * N));  // diag(W) - P P^*
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = 0; b < N; ++b) {
      cdouble s = a == b ? w(a) : 0.0;
      for (int r = 0; r < d.rank; ++r) s -= p(r, a) * std::conj(p(r, b));
      inner[size_t(a * N + b)] = s;
    }
  std::vector<double> A(size_t(N * N));
  double max_imag = 0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      cdouble s = 0;
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b)
          s += v(i, a) * inner[size_t(a * N + b)] * std::conj(v(j, b));
      A[size_t(i * N + j)] = s.real();
      max_imag = std::max(max_imag, std::abs(s.imag()));
    }
  CHECK(max_imag < 1e-10);
  return A;
}

}  // namespace

TEST_CASE("hippo LegS for N = 3 matches the formulas written out by hand") {
  Hippo h = hippo("legs", 3);
  const double s3 = std::sqrt(3.0), s5 = std::sqrt(5.0), s15 = std::sqrt(15.0);
  CHECK(max_abs_diff(h.A, {-1, 0, 0, -s3, -2, 0, -s5, -s15, -3}) < 1e-15);
  CHECK(max_abs_diff(h.B, {1, s3, s5}) < 1e-15);
  CHECK(max_abs_diff(h.P, {std::sqrt(0.5), std::sqrt(1.5), std::sqrt(2.5)}) < 1e-15);
  CHECK(h.rank == 1);
}

TEST_CASE("hippo LegT for N = 2 and FouT for N = 4 match the formulas written out by hand") {
  const double s3 = std::sqrt(3.0), s2 = std::sqrt(2.0), pi = M_PI;
  Hippo t = hippo("legt", 2);
  CHECK(max_abs_diff(t.A, {-0.5, 0.5 * s3, -0.5 * s3, -1.5}) < 1e-15);
  CHECK(max_abs_diff(t.B, {0.5, 0.5 * s3}) < 1e-15);
  CHECK(t.rank == 2);
  CHECK(max_abs_diff(t.P, {0, s3 / s2, 1 / s2, 0}) < 1e-15);  // P0: odd n, P1: even n
  Hippo f = hippo("fout", 4);
  CHECK(max_abs_diff(f.B, {1, 0, s2, 0}) < 1e-15);
  // pi (-diag(d, 1) + diag(d, -1)) with d = (0, 0, 1), minus B B^T.
  CHECK(max_abs_diff(f.A, {-1, 0, -s2, 0, 0, 0, 0, 0, -s2, 0, -2, -pi, 0, 0, pi, 0}) < 1e-15);
  CHECK(max_abs_diff(f.P, f.B) == 0);
}

TEST_CASE("A + P P^T is c I plus a skew-symmetric matrix for every measure") {
  for (const auto& m : hippo_measures()) {
    for (int64_t N : {2, 8, 17, 32}) {
      if (m == "fout" && N % 2) continue;
      CAPTURE(m);
      CAPTURE(N);
      Hippo h = hippo(m, N);
      std::vector<double> ap = h.A;
      for (int r = 0; r < h.rank; ++r)
        for (int64_t i = 0; i < N; ++i)
          for (int64_t j = 0; j < N; ++j)
            ap[size_t(i * N + j)] += h.P[size_t(r * N + i)] * h.P[size_t(r * N + j)];
      const double c = m == "legs" ? -0.5 : 0.0;
      double off = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j)
          off = std::max(off, std::abs(0.5 * (ap[size_t(i * N + j)] + ap[size_t(j * N + i)]) -
                                       (i == j ? c : 0.0)));
      CHECK(off < 1e-12);
    }
  }
}

TEST_CASE("nplr: V (diag W - P P^*) V^* over the conjugate pairs rebuilds A to 1e-10") {
  for (const auto& m : hippo_measures()) {
    for (int64_t N : {4, 8, 16}) {
      CAPTURE(m);
      CAPTURE(N);
      Nplr d = nplr(m, N, 1e9);  // no clipping: B is projected exactly
      Hippo h = hippo(m, N);
      CHECK(max_abs_diff(rebuild_A(d), h.A) < 1e-10);
      for (const auto& w : d.W) CHECK(w.imag() <= 1e-12);
      CHECK(std::abs(d.W[0].real() - (m == "legs" ? -0.5 : 0.0)) < 1e-12);
      // B = V_full [B~; conj B~] (2 Re V B~) when nothing was clipped.
      for (int64_t i = 0; i < N; ++i) {
        cdouble b = 0;
        for (int64_t k = 0; k < d.N2; ++k) b += d.V[size_t(i * d.N2 + k)] * d.B[size_t(k)];
        CHECK(std::abs(2 * b.real() - h.B[size_t(i)]) < 1e-10);
      }
    }
  }
}

TEST_CASE("nplr clips the imaginary part of B and keeps modes sorted by imaginary part") {
  Nplr d = nplr("legs", 64);
  for (const auto& b : d.B) CHECK(std::abs(b.imag()) <= 2.0);
  for (size_t k = 1; k < d.W.size(); ++k) CHECK(d.W[k].imag() >= d.W[k - 1].imag());
  CHECK(d.W.size() == 32);
  CHECK(d.V.size() == 64 * 32);
}

TEST_CASE("S4D inits: lin, inv and real by hand; legs equals the NPLR diagonal of LegS") {
  auto lin = s4d_A("lin", 4);
  CHECK(std::abs(lin[0] - cdouble(-0.5, 0)) < 1e-15);
  CHECK(std::abs(lin[1] - cdouble(-0.5, M_PI)) < 1e-15);
  auto inv = s4d_A("inv", 4);
  CHECK(std::abs(inv[0] - cdouble(-0.5, (4 / M_PI) * 3)) < 1e-13);
  CHECK(std::abs(inv[1] - cdouble(-0.5, (4 / M_PI) * (4.0 / 3 - 1))) < 1e-13);
  auto real = s4d_A("real", 6);
  REQUIRE(real.size() == 3);
  CHECK(std::abs(real[2] - cdouble(-3, 0)) == 0);
  auto legs = s4d_A("legs", 16);
  Nplr d = nplr("legs", 16);
  REQUIRE(legs.size() == 8);
  for (size_t k = 0; k < legs.size(); ++k) CHECK(std::abs(legs[k] - d.W[k]) == 0);
  // LegS modes: real part -1/2, distinct imaginary parts (no degenerate pairs).
  for (size_t k = 1; k < legs.size(); ++k) CHECK(legs[k].imag() - legs[k - 1].imag() > 1e-3);
}

TEST_CASE("bad input to the inits throws naming the function and the valid names") {
  CHECK_THROWS_WITH_AS(hippo("legx", 4), doctest::Contains("legs, legt, fout"), Error);
  CHECK_THROWS_WITH_AS(hippo("fout", 5), doctest::Contains("[hippo]"), Error);
  CHECK_THROWS_WITH_AS(hippo("legs", 0), doctest::Contains("[hippo]"), Error);
  CHECK_THROWS_WITH_AS(nplr("legs", 7), doctest::Contains("[nplr] state size N must be even"),
                       Error);
  CHECK_THROWS_WITH_AS(nplr("chebyshev", 8), doctest::Contains("legs, legt, fout"), Error);
  CHECK_THROWS_WITH_AS(s4d_A("lin", 5), doctest::Contains("[s4d_init]"), Error);
  CHECK_THROWS_WITH_AS(s4d_A("diag", 4), doctest::Contains("lin, inv, real, legs"), Error);
}
