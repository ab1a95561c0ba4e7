// Discretisation for the step mode, once, in float64 on the host: S4D per mode (s4d_math.h);
// S4 as a dense real matrix of the pair-structured bilinear DPLR transition (LAPACK dgesv), with
// C recovered from C~ = C (I - Abar^L).
#include <complex>
#include <vector>

#include "core/copy.h"
#include "core/factory.h"
#include "ops/s4d_kernel/s4d_math.h"
#include "ops/ssm_step/ssm_step.h"

#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

namespace coil {
namespace {

using ssm::Cd;

std::vector<double> host(const Tensor& t) {
  return core::to(core::to(t, Device::cpu()), DType::f64).to_vector<double>();
}

Tensor back(const std::vector<double>& v, const Shape& shape, const Tensor& like) {
  return core::to(core::to(from_vector<double>(v, shape), like.dtype()), like.device());
}

Cd pair(const std::vector<double>& v, int64_t i) {
  return {v[size_t(2 * i)], v[size_t(2 * i + 1)]};
}

// x <- A^-1 x for a dense (n, n) row-major A and nrhs right-hand sides (row-major, n x nrhs).
void solve(std::vector<double> A, std::vector<double>& x, int64_t n, int64_t nrhs) {
  std::vector<lapack_int> piv(static_cast<size_t>(n));
  const lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, lapack_int(n), lapack_int(nrhs), A.data(),
                                        lapack_int(n), piv.data(), x.data(), lapack_int(nrhs));
  COIL_CHECK(info == 0, "[s4_step_params] LAPACK dgesv failed with info {}", int(info));
}

std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t n) {
  std::vector<double> c(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < n; ++j)
        c[size_t(i * n + j)] += a[size_t(i * n + k)] * b[size_t(k * n + j)];
  return c;
}

}  // namespace

SsmStepParams s4d_step_params(const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im,
                              const Tensor& B, const Tensor& C, SsmDisc disc) {
  COIL_CHECK(C.dim() == 4 && C.size(0) == 1,
             "[s4d_step_params] step mode needs one causal output kernel, C (1, H, N2, 2): C {}",
             shape_str(C.shape()));
  const int64_t H = A_re.size(0), N2 = A_re.size(1);
  auto dt = host(log_dt), ar = host(A_re), ai = host(A_im), b = host(B), c = host(C);
  std::vector<double> Ab(size_t(H * N2 * 2)), Bb(size_t(H * N2 * 2));
  for (int64_t hn = 0; hn < H * N2; ++hn) {
    const ssm::S4dMode m =
        ssm::s4d_mode(std::exp(dt[size_t(hn / N2)]), {ar[size_t(hn)], ai[size_t(hn)]}, int(disc));
    const Cd bb = pair(b, hn) * m.q;
    Ab[size_t(2 * hn)] = m.z.re, Ab[size_t(2 * hn + 1)] = m.z.im;
    Bb[size_t(2 * hn)] = bb.re, Bb[size_t(2 * hn + 1)] = bb.im;
  }
  return {back(Ab, {H, N2, 2}, A_re), back(Bb, {H, N2, 2}, A_re), back(c, {H, N2, 2}, A_re)};
}

SsmStepParams s4_step_params(const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                             const Tensor& P, const Tensor& B, const Tensor& C, int64_t L) {
  COIL_CHECK(C.dim() == 4 && C.size(0) == 1 && P.dim() == 4,
             "[s4_step_params] step mode needs C~ (1, H, N2, 2) and P (R, H, N2, 2): C {}, P {}",
             shape_str(C.shape()), shape_str(P.shape()));
  COIL_CHECK(L >= 1, "[s4_step_params] kernel length L must be at least 1, got {}", L);
  const int64_t H = W_re.size(0), N2 = W_re.size(1), N = 2 * N2, R = P.size(0);
  auto dtv = host(log_dt), wr = host(W_re), wi = host(W_im), pv = host(P), bv = host(B),
       cv = host(C);
  std::vector<double> Ab_all(size_t(H * N * N)), Bb_all(size_t(H * N)), C_all(size_t(H * N));
  for (int64_t h = 0; h < H; ++h) {
    const double dt = std::exp(dtv[size_t(h)]);
    // The real-linear map x -> W x - sum_r P_r 2 Re(P_r^* x) on the half state, as a real matrix
    // over (Re x_0, Im x_0, ...): column j is the image of the j-th real basis vector.
    std::vector<double> MA(size_t(N * N));
    for (int64_t j = 0; j < N; ++j) {
      std::vector<Cd> x(static_cast<size_t>(N2), Cd{0, 0});
      x[size_t(j / 2)] = j % 2 == 0 ? Cd{1, 0} : Cd{0, 1};
      for (int64_t n = 0; n < N2; ++n) {
        Cd y = Cd{wr[size_t(h * N2 + n)], wi[size_t(h * N2 + n)]} * x[size_t(n)];
        for (int64_t r = 0; r < R; ++r) {
          double s = 0;
          for (int64_t m = 0; m < N2; ++m)
            s += 2 * ssm::re_mul(ssm::conj(pair(pv, (r * H + h) * N2 + m)), x[size_t(m)]);
          y = y - s * pair(pv, (r * H + h) * N2 + n);
        }
        MA[size_t((2 * n) * N + j)] = y.re, MA[size_t((2 * n + 1) * N + j)] = y.im;
      }
    }
    std::vector<double> lhs(size_t(N * N)), Ab(size_t(N * N)), Bb(static_cast<size_t>(N));
    for (int64_t i = 0; i < N * N; ++i) {
      const double id = i / N == i % N ? 1.0 : 0.0;
      lhs[size_t(i)] = id - 0.5 * dt * MA[size_t(i)];
      Ab[size_t(i)] = id + 0.5 * dt * MA[size_t(i)];
    }
    for (int64_t n = 0; n < N2; ++n) {
      const Cd b = pair(bv, h * N2 + n);
      Bb[size_t(2 * n)] = dt * b.re, Bb[size_t(2 * n + 1)] = dt * b.im;
    }
    solve(lhs, Ab, N, N);  // Abar = (I - dt/2 A)^-1 (I + dt/2 A)
    solve(lhs, Bb, N, 1);  // Bbar = (I - dt/2 A)^-1 dt B
    // Abar^L by squaring, then C^T = (I - Abar^L)^-T C~^T; y = C_full x_full = 2 Re(C x).
    std::vector<double> pw(size_t(N * N), 0.0), base = Ab;
    for (int64_t i = 0; i < N; ++i) pw[size_t(i * N + i)] = 1.0;
    for (int64_t e = L; e > 0; e >>= 1) {
      if (e & 1) pw = matmul(pw, base, N);
      if (e > 1) base = matmul(base, base, N);
    }
    std::vector<double> IALt(size_t(N * N)), c(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < N; ++j)
        IALt[size_t(j * N + i)] = (i == j ? 1.0 : 0.0) - pw[size_t(i * N + j)];
    for (int64_t n = 0; n < N2; ++n) {
      const Cd ct = pair(cv, h * N2 + n);
      c[size_t(2 * n)] = 2 * ct.re, c[size_t(2 * n + 1)] = -2 * ct.im;
    }
    solve(IALt, c, N, 1);
    std::copy(Ab.begin(), Ab.end(), Ab_all.begin() + h * N * N);
    std::copy(Bb.begin(), Bb.end(), Bb_all.begin() + h * N);
    std::copy(c.begin(), c.end(), C_all.begin() + h * N);
  }
  return {back(Ab_all, {H, N, N}, W_re), back(Bb_all, {H, N}, W_re), back(C_all, {H, N}, W_re)};
}

}  // namespace coil
