// HiPPO matrices and the NPLR decomposition (REFERENCE.md section 2): a Hermitian eigenproblem
// of -i times the skew part of A + P P^T, solved by LAPACK's zheevd in float64.
#include "nn/init/hippo.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

// LAPACKE takes std::complex when told so before its header.
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

namespace coil::nn::init {
namespace {

std::string measure_list() {
  std::string s;
  for (const auto& m : hippo_measures()) s += (s.empty() ? "" : ", ") + m;
  return s;
}

void legs(Hippo& h) {
  const int64_t N = h.N;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < n; ++k)
      h.A[n * N + k] = -std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1);
    h.A[n * N + n] = -(n + 1.0);
    h.B[n] = std::sqrt(2.0 * n + 1);
    h.P[n] = std::sqrt(n + 0.5);
  }
}

void legt(Hippo& h) {
  const int64_t N = h.N;
  for (int64_t n = 0; n < N; ++n) {
    const double rn = std::sqrt(2.0 * n + 1);
    for (int64_t k = 0; k < N; ++k) {
      const double rk = std::sqrt(2.0 * k + 1);
      const double sign = n < k ? ((n - k) % 2 == 0 ? 1.0 : -1.0) : 1.0;
      h.A[n * N + k] = -0.5 * rn * rk * sign;
    }
    h.B[n] = 0.5 * rn;
    // P0 carries R on odd n, P1 on even n, each scaled by 2^-1/2.
    h.P[(n % 2 == 1 ? 0 : 1) * N + n] = rn / std::sqrt(2.0);
  }
}

void fout(Hippo& h) {
  const int64_t N = h.N;
  for (int64_t n = 0; n < N; ++n) h.B[n] = n == 0 ? 1.0 : (n % 2 == 0 ? std::sqrt(2.0) : 0.0);
  // d = interleave(0, freqs)[1:]: the superdiagonal entry (n, n+1) is d[n], nonzero for even n
  // >= 2.
  for (int64_t n = 0; n + 1 < N; ++n) {
    const double d = n % 2 == 0 ? double(n / 2) : 0.0;
    h.A[n * N + n + 1] = -M_PI * d;
    h.A[(n + 1) * N + n] = M_PI * d;
  }
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < N; ++k) h.A[n * N + k] -= h.B[n] * h.B[k];
    h.P[n] = h.B[n];
  }
}

void check_lapack(int info, const char* routine) {
  COIL_CHECK(info == 0, "[nplr] LAPACK {} failed with info {}", routine, info);
}

// Replaces the columns `cols` of V (n rows, column-major), which span a conjugation-closed
// eigenspace of eigenvalue 0 (FouT's constant mode), by pairs (r_a + i r_b)/sqrt(2) of a real
// orthonormal basis, so that each kept column and its conjugate are orthonormal.
void realify_zero_space(std::vector<cdouble>& V, int64_t n, const std::vector<int64_t>& cols) {
  // The projector onto the space is real; its eigenvectors of eigenvalue 1 are a real basis.
  std::vector<double> proj(size_t(n * n), 0.0);
  for (int64_t c : cols)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        proj[size_t(j * n + i)] +=
            std::real(V[size_t(c * n + i)] * std::conj(V[size_t(c * n + j)]));
  std::vector<double> ev(static_cast<size_t>(n));
  check_lapack(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'L', int(n), proj.data(), int(n), ev.data()),
               "dsyev");
  // Ascending eigenvalues: the last m are the ones. Only the first m/2 columns are kept by the
  // caller (the lower half of the spectrum), so only they are rebuilt.
  const int64_t m = int64_t(cols.size());
  for (int64_t p = 0; p < m / 2; ++p) {
    const double* ra = &proj[size_t((n - m + 2 * p) * n)];
    const double* rb = &proj[size_t((n - m + 2 * p + 1) * n)];
    for (int64_t i = 0; i < n; ++i)
      V[size_t(cols[size_t(p)] * n + i)] = cdouble(ra[i], rb[i]) / std::sqrt(2.0);
  }
}

}  // namespace

const std::vector<std::string>& hippo_measures() {
  static const std::vector<std::string> names = {"legs", "legt", "fout"};
  return names;
}

Hippo hippo(const std::string& measure, int64_t N) {
  COIL_CHECK(std::find(hippo_measures().begin(), hippo_measures().end(), measure) !=
                 hippo_measures().end(),
             "[hippo] unknown measure '{}' (valid: {})", measure, measure_list());
  COIL_CHECK(N >= 1, "[hippo] state size N must be at least 1, got {}", N);
  COIL_CHECK(measure != "fout" || N % 2 == 0,
             "[hippo] fout needs an even state size N (sine/cosine pairs), got {}", N);
  Hippo h;
  h.N = N;
  h.rank = measure == "legt" ? 2 : 1;
  h.A.assign(size_t(N * N), 0.0);
  h.B.assign(size_t(N), 0.0);
  h.P.assign(size_t(h.rank * N), 0.0);
  if (measure == "legs") legs(h);
  else if (measure == "legt") legt(h);
  else fout(h);
  return h;
}

Nplr nplr(const std::string& measure, int64_t N, double b_clip) {
  COIL_CHECK(std::find(hippo_measures().begin(), hippo_measures().end(), measure) !=
                 hippo_measures().end(),
             "[nplr] unknown measure '{}' (valid: {})", measure, measure_list());
  COIL_CHECK(N >= 2 && N % 2 == 0,
             "[nplr] state size N must be even (conjugate pairs) and at least 2, got {}", N);
  const Hippo h = hippo(measure, N);
  // AP = A + sum_r P_r P_r^T; its symmetric part must be c I.
  std::vector<double> ap = h.A;
  for (int r = 0; r < h.rank; ++r)
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j)
        ap[size_t(i * N + j)] += h.P[size_t(r * N + i)] * h.P[size_t(r * N + j)];
  double c = 0;
  for (int64_t i = 0; i < N; ++i) c += ap[size_t(i * N + i)] / double(N);
  double asym = 0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      asym = std::max(asym, std::abs(0.5 * (ap[size_t(i * N + j)] + ap[size_t(j * N + i)]) -
                                     (i == j ? c : 0.0)));
  COIL_CHECK(asym <= 1e-8, "[nplr] {} (N {}): A + P P^T is not c I + skew (off by {})", measure, N,
             asym);
  // M = -i (AP - c I) is Hermitian; column-major for LAPACK.
  std::vector<cdouble> M(size_t(N * N));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      M[size_t(j * N + i)] = cdouble(0, -1) * (ap[size_t(i * N + j)] - (i == j ? c : 0.0));
  std::vector<double> lam(static_cast<size_t>(N));
  check_lapack(LAPACKE_zheevd(LAPACK_COL_MAJOR, 'V', 'L', int(N), M.data(), int(N), lam.data()),
               "zheevd");
  // AP - cI = i M has eigenvalues i lam (ascending): the first N/2 have Im <= 0.
  const int64_t N2 = N / 2;
  const double zero_tol = 1e-9 * std::max(1.0, std::abs(lam.front()));
  std::vector<int64_t> zero_cols;
  for (int64_t k = 0; k < N; ++k)
    if (std::abs(lam[size_t(k)]) <= zero_tol) zero_cols.push_back(k);
  COIL_CHECK(zero_cols.size() % 2 == 0,
             "[nplr] {} (N {}): an odd number ({}) of zero eigenvalues cannot form pairs", measure,
             N, zero_cols.size());
  if (!zero_cols.empty()) realify_zero_space(M, N, zero_cols);
  for (int64_t k : zero_cols) lam[size_t(k)] = 0.0;
  Nplr out;
  out.N2 = N2;
  out.rank = h.rank;
  out.W.resize(size_t(N2));
  out.V.resize(size_t(N * N2));
  out.B.assign(size_t(N2), 0.0);
  out.P.assign(size_t(h.rank * N2), 0.0);
  for (int64_t k = 0; k < N2; ++k) {
    out.W[size_t(k)] = cdouble(c, lam[size_t(k)]);
    for (int64_t i = 0; i < N; ++i) out.V[size_t(i * N2 + k)] = M[size_t(k * N + i)];
  }
  for (int64_t k = 0; k < N2; ++k) {
    cdouble b = 0;
    for (int64_t i = 0; i < N; ++i) b += std::conj(out.V[size_t(i * N2 + k)]) * h.B[size_t(i)];
    out.B[size_t(k)] = cdouble(b.real(), std::clamp(b.imag(), -b_clip, b_clip));
    for (int r = 0; r < h.rank; ++r) {
      cdouble p = 0;
      for (int64_t i = 0; i < N; ++i)
        p += std::conj(out.V[size_t(i * N2 + k)]) * h.P[size_t(r * N + i)];
      out.P[size_t(r * N2 + k)] = p;
    }
  }
  return out;
}

}  // namespace coil::nn::init
