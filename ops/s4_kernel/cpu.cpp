// CPU kernels of the S4 (DPLR) kernel, all arithmetic in float64 (also the reference the GPU is
// checked against). OpenMP over channels h: per h, the Cauchy sums for every frequency, the
// Woodbury combination and FFTW's inverse real FFT; the backward runs FFTW's forward real FFT of
// dK, the Woodbury adjoint per frequency, then per mode the sums over frequencies in order.
// FFTW plans come from the shared cache in ops/common/fft_plans.h.
#include <complex>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/common/fft_plans.h"
#include "ops/s4_kernel/dispatch_s4.h"
#include "ops/s4_kernel/kernels.h"
#include "ops/s4_kernel/s4_math.h"

namespace coil::cpu {
namespace {

using ssm::Cd;

template <class T>
Cd pair_at(const T* p, int64_t i) {
  return {double(p[2 * i]), double(p[2 * i + 1])};
}

// The per-mode quantities of one channel h: u = dt W, and x (B, P_j), y (C_c, conj P_i).
template <class T, int NC, int R>
struct Modes {
  using Pr = ssm::S4Pairs<NC, R>;
  int64_t N2;
  double dt;
  std::vector<Cd> u, w, x, y, v;  // x: (N2, kX), y: (N2, kY), v: (N2, kP)
  Modes(const std::vector<Tensor>& in, int64_t h) {
    const int64_t H = in[0].size(0);
    N2 = in[1].size(1);
    dt = std::exp(double(in[0].data<T>()[h]));
    const T *wr = in[1].data<T>(), *wi = in[2].data<T>(), *pp = in[3].data<T>();
    const T *bp = in[4].data<T>(), *cp = in[5].data<T>();
    u.resize(size_t(N2)), w.resize(size_t(N2));
    x.resize(size_t(N2 * Pr::kX)), y.resize(size_t(N2 * Pr::kY)), v.resize(size_t(N2 * Pr::kP));
    for (int64_t n = 0; n < N2; ++n) {
      const int64_t hn = h * N2 + n;
      w[size_t(n)] = {double(wr[hn]), double(wi[hn])};
      u[size_t(n)] = dt * w[size_t(n)];
      Cd* xn = &x[size_t(n * Pr::kX)];
      Cd* yn = &y[size_t(n * Pr::kY)];
      xn[0] = pair_at(bp, hn);
      for (int j = 0; j < R; ++j) xn[1 + j] = pair_at(pp, j * H * N2 + hn);
      for (int c = 0; c < NC; ++c) yn[c] = pair_at(cp, c * H * N2 + hn);
      for (int i = 0; i < R; ++i) yn[NC + i] = ssm::conj(xn[1 + i]);
      for (int a = 0; a < Pr::kX; ++a)
        for (int b = 0; b < Pr::kY; ++b)
          v[size_t(n * Pr::kP + Pr::idx(a, b))] = dt * (xn[a] * yn[b]);
    }
  }
};

template <class T, int NC, int R>
void forward_impl(const Tensor& K, const Tensor& rsave, const std::vector<Tensor>& in) {
  using Pr = ssm::S4Pairs<NC, R>;
  const int64_t H = in[0].size(0), L = K.size(2), F = L / 2 + 1;
  std::vector<ssm::Freq> fq(static_cast<size_t>(F));
  for (int64_t k = 0; k < F; ++k) fq[size_t(k)] = ssm::freq_at(k, L);
  const fft::RealFft<double> fft(L);
  T* kp = K.data<T>();
  T* rs = rsave.defined() ? rsave.data<T>() : nullptr;
  parallel_for(H, 0, [&](int64_t h) {
    const Modes<T, NC, R> m(in, h);
    std::vector<std::complex<double>> khat(size_t(NC * F));
    std::vector<double> row(static_cast<size_t>(L));
    for (int64_t k = 0; k < F; ++k) {
      const ssm::Freq f = fq[size_t(k)];
      Cd r[Pr::kP] = {};
      for (int64_t n = 0; n < m.N2; ++n) {
        const Cd un = m.u[size_t(n)];
        const Cd rd = ssm::recip(f.e - f.f * un), rdc = ssm::recip(f.e - f.f * ssm::conj(un));
        const Cd* vn = &m.v[size_t(n * Pr::kP)];
        for (int p = 0; p < Pr::kP; ++p) r[p] = r[p] + vn[p] * rd + ssm::conj(vn[p]) * rdc;
      }
      for (int p = 0; p < Pr::kP; ++p) r[p] = 2.0 * r[p];
      if (rs)
        for (int p = 0; p < Pr::kP; ++p) {
          T* o = rs + 2 * ((h * F + k) * Pr::kP + p);
          o[0] = T(r[p].re), o[1] = T(r[p].im);
        }
      Cd kh[NC];
      ssm::woodbury_forward<NC, R>(r, f.s, kh);
      for (int c = 0; c < NC; ++c)
        khat[size_t(c * F + k)] = {kh[c].re / double(L), kh[c].im / double(L)};
    }
    for (int c = 0; c < NC; ++c) {
      fft.inverse(khat.data() + c * F, row.data());
      T* out = kp + (c * H + h) * L;
      for (int64_t l = 0; l < L; ++l) out[l] = T(row[size_t(l)]);
    }
  });
}

template <class T, int NC, int R>
void backward_impl(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave,
                   const std::vector<Tensor>& in) {
  using Pr = ssm::S4Pairs<NC, R>;
  const int64_t H = in[0].size(0), N2 = in[1].size(1), L = dK.size(2), F = L / 2 + 1;
  std::vector<ssm::Freq> fq(static_cast<size_t>(F));
  for (int64_t k = 0; k < F; ++k) fq[size_t(k)] = ssm::freq_at(k, L);
  const fft::RealFft<double> fft(L);
  const T *gk = dK.data<T>(), *rs = rsave.data<T>();
  T *g_dt = grads[0].data<T>(), *g_wr = grads[1].data<T>(), *g_wi = grads[2].data<T>();
  T *g_p = grads[3].data<T>(), *g_b = grads[4].data<T>(), *g_c = grads[5].data<T>();
  parallel_for(H, 0, [&](int64_t h) {
    const Modes<T, NC, R> m(in, h);
    // g_c,k: the gradient of khat_c,k (before the 1/L): rfft(dK) weighted for the folded bins.
    std::vector<std::complex<double>> ghat(size_t(NC * F));
    std::vector<Cd> gp(size_t(F * Pr::kP));
    std::vector<double> row(static_cast<size_t>(L));
    for (int c = 0; c < NC; ++c) {
      for (int64_t l = 0; l < L; ++l) row[size_t(l)] = double(gk[(c * H + h) * L + l]);
      fft.forward(row.data(), ghat.data() + c * F);
    }
    for (int64_t k = 0; k < F; ++k) {
      const double wk = (k == 0 || 2 * k == L ? 1.0 : 2.0) / double(L);
      Cd g[NC], r[Pr::kP];
      for (int c = 0; c < NC; ++c) {
        const std::complex<double> gh = ghat[size_t(c * F + k)];
        g[c] = {wk * gh.real(), wk * gh.imag()};
      }
      for (int p = 0; p < Pr::kP; ++p) r[p] = pair_at(rs, (h * F + k) * Pr::kP + p);
      ssm::woodbury_backward<NC, R>(r, fq[size_t(k)].s, g, &gp[size_t(k * Pr::kP)]);
    }
    double ddelta = 0;
    for (int64_t n = 0; n < N2; ++n) {
      const Cd un = m.u[size_t(n)];
      Cd Av[Pr::kP] = {}, Au[Pr::kP] = {};
      for (int64_t k = 0; k < F; ++k) {
        const ssm::Freq f = fq[size_t(k)];
        const Cd rd = ssm::recip(f.e - f.f * un), rdc = ssm::recip(f.e - f.f * ssm::conj(un));
        const Cd a = ssm::conj(rd), au = ssm::conj(f.f * rd * rd), bu = f.f * rdc * rdc;
        const Cd* g = &gp[size_t(k * Pr::kP)];
        for (int p = 0; p < Pr::kP; ++p) {
          const Cd gc = ssm::conj(g[p]);
          Av[p] = Av[p] + g[p] * a + gc * rdc;
          Au[p] = Au[p] + g[p] * au + gc * bu;
        }
      }
      const auto gr = ssm::s4_mode_grads<NC, R>(Av, Au, &m.x[size_t(n * Pr::kX)],
                                                &m.y[size_t(n * Pr::kY)], m.w[size_t(n)], m.dt);
      const int64_t hn = h * N2 + n;
      g_wr[hn] = T(gr.gW.re), g_wi[hn] = T(gr.gW.im);
      g_b[2 * hn] = T(gr.gB.re), g_b[2 * hn + 1] = T(gr.gB.im);
      for (int j = 0; j < R; ++j)
        g_p[2 * (j * H * N2 + hn)] = T(gr.gP[j].re),
                              g_p[2 * (j * H * N2 + hn) + 1] = T(gr.gP[j].im);
      for (int c = 0; c < NC; ++c)
        g_c[2 * (c * H * N2 + hn)] = T(gr.gC[c].re),
                              g_c[2 * (c * H * N2 + hn) + 1] = T(gr.gC[c].im);
      ddelta += gr.ddelta;
    }
    g_dt[h] = T(ddelta * m.dt);
  });
}

}  // namespace

void s4_kernel_forward(const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                       const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                       const Tensor& C) {
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(K.dtype(), C.size(0), P.size(0),
                   [&]<class T, int NC, int R>() { forward_impl<T, NC, R>(K, rsave, in); });
}

void s4_kernel_backward(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave,
                        const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                        const Tensor& P, const Tensor& B, const Tensor& C) {
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(dK.dtype(), C.size(0), P.size(0), [&]<class T, int NC, int R>() {
    backward_impl<T, NC, R>(grads, dK, rsave, in);
  });
}

}  // namespace coil::cpu
