// Version 2 of the CUDA S4 (DPLR) kernel (kernels.h picks the version). Below the Nyquist bin
// the folded denominators e - f u of s4_math.h factor as f (z - u), z = i y, y_k = 2 tan(pi k/L),
// 2/f = sigma = 1 + i y/2 = 1/s, so
//   r~_p = sigma S_p,  S_p = sum_n v_n / (z - u_n) + conj(v_n) / (z - conj(u_n)),
//   khat = sigma (S_CB - S_CP (I + S_PP)^-1 S_PB)  (the Woodbury step with s = 1).
// With a = -Re u, b = y - Im u, b' = y + Im u, q = 1/(a^2 + b^2), q' = 1/(a^2 + b'^2) one mode adds
//   Re S_p += Re v a (q + q') + Im v (q b - q' b'),
//   Im S_p += Im v a (q - q') - Re v (q b + q' b'):
// four real coefficients per (mode, frequency) shared by all pairs, then 4 FMAs per pair (v1: two
// complex reciprocals, 8 per pair). The backward's sums use the same coefficients and those of
// the squared terms. The Nyquist bin of even L (f = 0) is r~_p = sum_n Re v_n, khat = r~_CB.
// rsave keeps S (r~ at the Nyquist bin); f32 sums, the Woodbury steps in double; no atomics.
#include "core/storage.h"
#include "ops/s4_kernel/cuda_common.cuh"
#include "ops/s4_kernel/kernels.h"

namespace coil::cuda {
namespace {

using namespace s4k;

constexpr int kModes = 32;        // modes staged in shared memory at a time (forward)
constexpr int kFwdThreads = 128;  // forward block: kFwdThreads x FwdShape::kt frequencies
constexpr int kLanes = 16;        // backward block: 32 modes (lanes) x kLanes frequency lanes
constexpr int kBwdThreads = 32 * kLanes;
// Frequencies staged in shared memory at a time by the backward (smaller for wide pairs sets).
template <class T, int NP>
inline constexpr int kStage = NP * sizeof(T) <= 16 ? 256 : 64;

// Frequencies per forward thread (its f32 sums stay in registers) and blocks per SM to aim for.
template <class T, int NP>
struct FwdShape {
  static constexpr int kt = NP * sizeof(T) <= 16 ? 4 : NP * sizeof(T) <= 32 ? 2 : 1;
  static constexpr int min_blocks = sizeof(T) == 4 && NP <= 9 ? 8 : 4;
};

// 1/x: one MUFU.RCP in f32 (about 1 ulp, deterministic), a division in f64.
template <class T>
__device__ __forceinline__ T rcp(T x) {
  if constexpr (sizeof(T) == 4) {
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
    return r;
  } else {
    return T(1) / x;
  }
}

// y_k = 2 tan(pi k / L) for k < Fg = (L + 1) / 2, formed in double and rounded once.
template <class T>
__device__ T y_at(int64_t k, int64_t L) {
  double s, c;
  sincospi(double(k) / double(L), &s, &c);
  return T(2 * s / c);
}

// sigma = 2 / (1 + omega) from the same (rounded) y the sums used.
template <class T>
__device__ Cd sigma_of(T y) {
  return {1.0, 0.5 * double(y)};
}

// One mode's forward constants: a = -Re u, a^2, Im u and v_p = dt x y.
template <class T, int NP>
struct alignas(16) StagedMode {
  T a, a2, ui, pad;
  Cx<T> v[NP];
};

// The four coefficients one (mode, frequency) gives every pair.
template <class T>
struct Coef {
  T qp, qm, bp, bm;  // a (q + q'), a (q - q'), q b + q' b', q b - q' b'
};

template <class T>
__device__ __forceinline__ Coef<T> coef(T y, T a, T a2, T ui, T& q, T& q2, T& e1, T& e2) {
  const T b = y - ui, b2 = y + ui;
  q = rcp(fma(b, b, a2)), q2 = rcp(fma(b2, b2, a2));
  e1 = q * b, e2 = q2 * b2;
  return {a * (q + q2), a * (q - q2), e1 + e2, e1 - e2};
}

// khat (NC, H, F) complex scaled by 1/L; rsave (H, F, NP) complex or null. grid (ceil(Fg / (128
// kt)), H); thread t owns k = blockIdx.x 128 kt + t + 128 j, j < kt (coalesced stores).
template <class T, int NC, int R>
__global__ void __launch_bounds__(kFwdThreads, FwdShape<T, ssm::S4Pairs<NC, R>::kP>::min_blocks)
    forward_kernel(Cx<T>* __restrict__ khat, Cx<T>* __restrict__ rsave,
                   const T* __restrict__ log_dt, const T* __restrict__ wr, const T* __restrict__ wi,
                   const T* __restrict__ P, const T* __restrict__ B, const T* __restrict__ C,
                   Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  constexpr int KT = FwdShape<T, Pr::kP>::kt;
  __shared__ StagedMode<T, Pr::kP> s_m[kModes];
  __shared__ double s_nyq[Pr::kP];  // the Nyquist bin's sums, kept by one thread
  const int64_t h = blockIdx.y, Fg = (d.L + 1) / 2;
  const bool nyq = d.L % 2 == 0 && blockIdx.x == 0 && threadIdx.x == 0;
  if (nyq)
    for (int p = 0; p < Pr::kP; ++p) s_nyq[p] = 0;
  const int64_t k0 = int64_t(blockIdx.x) * kFwdThreads * KT + threadIdx.x;
  const double dt = exp(double(log_dt[h]));
  T y[KT];
  Cx<T> S[KT][Pr::kP];
#pragma unroll
  for (int j = 0; j < KT; ++j) {
    const int64_t k = k0 + int64_t(j) * kFwdThreads;
    y[j] = k < Fg ? y_at<T>(k, d.L) : T(0);
#pragma unroll
    for (int p = 0; p < Pr::kP; ++p) S[j][p] = {T(0), T(0)};
  }
  for (int64_t n0 = 0; n0 < d.N2; n0 += kModes) {
    const int nc = int(d.N2 - n0 < kModes ? d.N2 - n0 : kModes);
    if (threadIdx.x < nc) {
      Cd x[Pr::kX], yy[Pr::kY], w;
      mode_xy<T, NC, R>(wr, wi, P, B, C, h, n0 + threadIdx.x, d, x, yy, w);
      const Cd u = dt * w;
      StagedMode<T, Pr::kP>& m = s_m[threadIdx.x];
      m.a = T(-u.re), m.a2 = T(u.re * u.re), m.ui = T(u.im), m.pad = T(0);
      for (int a = 0; a < Pr::kX; ++a)
        for (int b = 0; b < Pr::kY; ++b) m.v[Pr::idx(a, b)] = ssm::cast<T>(dt * (x[a] * yy[b]));
    }
    __syncthreads();
    for (int m = 0; m < nc; ++m) {
      const T a = s_m[m].a, a2 = s_m[m].a2, ui = s_m[m].ui;
      Coef<T> cf[KT];
#pragma unroll
      for (int j = 0; j < KT; ++j) {
        T q, q2, e1, e2;
        cf[j] = coef(y[j], a, a2, ui, q, q2, e1, e2);
      }
#pragma unroll
      for (int p = 0; p < Pr::kP; ++p) {
        const Cx<T> v = s_m[m].v[p];
#pragma unroll
        for (int j = 0; j < KT; ++j) {
          S[j][p].re = S[j][p].re + v.re * cf[j].qp + v.im * cf[j].bm;
          S[j][p].im = S[j][p].im + v.im * cf[j].qm - v.re * cf[j].bp;
        }
      }
    }
    if (nyq)
      for (int p = 0; p < Pr::kP; ++p) {
        double t = s_nyq[p];
        for (int m = 0; m < nc; ++m) t += double(s_m[m].v[p].re);
        s_nyq[p] = t;
      }
    __syncthreads();
  }
  const double inv_l = 1.0 / double(d.L);
#pragma unroll
  for (int j = 0; j < KT; ++j) {
    const int64_t k = k0 + int64_t(j) * kFwdThreads;
    if (k >= Fg) continue;
    Cd s[Pr::kP], kh[NC];
#pragma unroll
    for (int p = 0; p < Pr::kP; ++p) {
      s[p] = ssm::cast<double>(S[j][p]);
      if (rsave) rsave[(h * d.F + k) * Pr::kP + p] = S[j][p];
    }
    ssm::woodbury_forward<NC, R>(s, Cd{1, 0}, kh);
    const Cd sg = sigma_of(y[j]);
#pragma unroll
    for (int c = 0; c < NC; ++c) khat[(c * d.H + h) * d.F + k] = ssm::cast<T>(inv_l * (sg * kh[c]));
  }
  // The Nyquist bin of even L: r~_p = sum_n Re v_n (summed above in double).
  if (nyq) {
    const int64_t k = d.L / 2;
    Cd r[Pr::kP], kh[NC];
    for (int p = 0; p < Pr::kP; ++p) {
      r[p] = {s_nyq[p], 0};
      if (rsave) rsave[(h * d.F + k) * Pr::kP + p] = ssm::cast<T>(r[p]);
    }
    ssm::woodbury_forward<NC, R>(r, Cd{0, 0}, kh);
    for (int c = 0; c < NC; ++c) khat[(c * d.H + h) * d.F + k] = ssm::cast<T>(inv_l * kh[c]);
  }
}

// gs (H, F, NP) from ghat (NC, H, F) = rfft(dK) and rsave: below the Nyquist bin the gradient of S
// times 1/2 (so that the sums below equal v1's Av, Au), at it the gradient of r~; ytab (Fg) = y_k.
template <class T, int NC, int R>
__global__ void adjoint_kernel(Cx<T>* __restrict__ gs, T* __restrict__ ytab,
                               const Cx<T>* __restrict__ ghat, const Cx<T>* __restrict__ rsave,
                               Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  const int64_t total = d.H * d.F;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t h = i / d.F, k = i % d.F;
    const double wk = (k == 0 || 2 * k == d.L ? 1.0 : 2.0) / double(d.L);
    Cd g[NC], r[Pr::kP], out[Pr::kP];
    for (int c = 0; c < NC; ++c) g[c] = wk * ssm::cast<double>(ghat[(c * d.H + h) * d.F + k]);
    for (int p = 0; p < Pr::kP; ++p) r[p] = ssm::cast<double>(rsave[i * Pr::kP + p]);
    if (2 * k == d.L) {
      ssm::woodbury_backward<NC, R>(r, Cd{0, 0}, g, out);
    } else {
      const T y = y_at<T>(k, d.L);
      if (h == 0) ytab[k] = y;
      const Cd sc = 0.5 * ssm::conj(sigma_of(y));  // khat = sigma W(S): d/dS = conj(sigma) W'
      for (int c = 0; c < NC; ++c) g[c] = sc * g[c];
      ssm::woodbury_backward<NC, R>(r, Cd{1, 0}, g, out);
    }
    for (int p = 0; p < Pr::kP; ++p) gs[i * Pr::kP + p] = ssm::cast<T>(out[p]);
  }
}

// Frequency data of one backward stage, loaded into registers one stage ahead.
template <class T, int NP>
struct StageRegs {
  static constexpr int kS = kStage<T, NP>;
  static constexpr int kPer = (kS * NP + kBwdThreads - 1) / kBwdThreads;
  Cx<T> g[kPer];
  T y;
  __device__ void load(const Cx<T>* gs_h, const T* ytab, int64_t k0, int64_t Fg) {
    const int64_t live = (Fg - k0 < kS ? Fg - k0 : kS) * NP;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t e = threadIdx.x + int64_t(i) * kBwdThreads;
      g[i] = e < live ? gs_h[k0 * NP + e] : Cx<T>{T(0), T(0)};
    }
    y = threadIdx.x < kS && k0 + threadIdx.x < Fg ? ytab[k0 + threadIdx.x] : T(0);
  }
  __device__ void store(Cx<T> (*s_g)[NP], T* s_y) const {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = threadIdx.x + i * kBwdThreads;
      if (e < kS * NP) s_g[e / NP][e % NP] = g[i];
    }
    if (threadIdx.x < kS) s_y[threadIdx.x] = y;
  }
};

// Every gradient: one block per h; lane = mode, warp = frequency lane. Per mode and pair,
//   Av = sum_k G conj(1/(z-u)) + conj(G)/(z-conj u),  Au = the same with squared denominators
// (v1's sums, s4_math.h), summed over the frequency lanes in order in double, plus the Nyquist
// bin (Av += Re G / 2, Au += 0); then s4_mode_grads per mode and log_dt's sum over the modes.
template <class T, int NC, int R>
__global__ void __launch_bounds__(kBwdThreads,
                                  sizeof(T) == 4 && ssm::S4Pairs<NC, R>::kP <= 4 ? 2 : 1)
    grads_kernel(T* __restrict__ g_dt, T* __restrict__ g_wr, T* __restrict__ g_wi,
                 T* __restrict__ g_p, T* __restrict__ g_b, T* __restrict__ g_c,
                 const Cx<T>* __restrict__ gs, const T* __restrict__ ytab,
                 const T* __restrict__ log_dt, const T* __restrict__ wr, const T* __restrict__ wi,
                 const T* __restrict__ P, const T* __restrict__ B, const T* __restrict__ C,
                 Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  constexpr int NP = Pr::kP;
  constexpr int kS = kStage<T, NP>;
  __shared__ alignas(16) Cx<T> s_g[kS][NP];
  __shared__ T s_y[kS];
  __shared__ T s_red[kLanes][32][4];
  __shared__ double s_sum[32][NP][4];
  __shared__ double s_dd[32];
  const int64_t h = blockIdx.x, Fg = (d.L + 1) / 2;
  const int lane = threadIdx.x % 32, fl = threadIdx.x / 32;
  const double dt = exp(double(log_dt[h]));
  const Cx<T>* gs_h = gs + h * d.F * NP;
  double dd = 0;
  for (int64_t n0 = 0; n0 < d.N2; n0 += 32) {
    const int64_t n = n0 + lane;
    const bool live = n < d.N2;
    T a = T(1), a2 = T(1), ui = T(0);  // dead lanes: finite terms, never written
    if (live) {
      const double ur = dt * double(wr[h * d.N2 + n]);
      a = T(-ur), a2 = T(ur * ur), ui = T(dt * double(wi[h * d.N2 + n]));
    }
    const T a2x = a + a;
    Cx<T> Av[NP], Au[NP];
#pragma unroll
    for (int p = 0; p < NP; ++p) Av[p] = Au[p] = {T(0), T(0)};
    StageRegs<T, NP> next;
    next.load(gs_h, ytab, 0, Fg);
    for (int64_t k0 = 0; k0 < Fg; k0 += kS) {
      __syncthreads();
      next.store(s_g, s_y);
      __syncthreads();
      if (k0 + kS < Fg) next.load(gs_h, ytab, k0 + kS, Fg);
      const int cnt = int(Fg - k0 < kS ? Fg - k0 : kS);
      for (int i = fl; i < cnt; i += kLanes) {
        T q, q2, e1, e2;
        const T y = s_y[i];
        const Coef<T> cf = coef(y, a, a2, ui, q, q2, e1, e2);
        // conj(1/(z-u)^2) = c + i s, 1/(z - conj u)^2 = c' - i s'
        const T b = y - ui, b2 = y + ui;
        const T c = fma(-b, b, a2) * (q * q), c2 = fma(-b2, b2, a2) * (q2 * q2);
        const T s = a2x * (e1 * q), s2 = a2x * (e2 * q2);
        const T cp = c + c2, cm = c - c2, sp = s + s2, sm = s - s2;
#pragma unroll
        for (int p = 0; p < NP; ++p) {
          const Cx<T> G = s_g[i][p];
          Av[p].re = Av[p].re + G.re * cf.qp - G.im * cf.bp;
          Av[p].im = Av[p].im + G.im * cf.qm + G.re * cf.bm;
          Au[p].re = Au[p].re + G.re * cp - G.im * sp;
          Au[p].im = Au[p].im + G.re * sm + G.im * cm;
        }
      }
    }
    // Sum the frequency lanes in order, one pair at a time: thread (comp, lane) for comp < 4.
#pragma unroll
    for (int p = 0; p < NP; ++p) {
      __syncthreads();
      s_red[fl][lane][0] = Av[p].re, s_red[fl][lane][1] = Av[p].im;
      s_red[fl][lane][2] = Au[p].re, s_red[fl][lane][3] = Au[p].im;
      __syncthreads();
      if (fl < 4) {
        double t = 0;
        for (int j = 0; j < kLanes; ++j) t += double(s_red[j][lane][fl]);
        s_sum[lane][p][fl] = t;
      }
    }
    __syncthreads();
    if (fl == 0 && live) {
      Cd av[NP], au[NP], x[Pr::kX], yv[Pr::kY], w;
      for (int p = 0; p < NP; ++p) {
        av[p] = {s_sum[lane][p][0], s_sum[lane][p][1]};
        au[p] = {s_sum[lane][p][2], s_sum[lane][p][3]};
        if (d.L % 2 == 0) av[p].re += 0.5 * double(gs_h[(d.L / 2) * NP + p].re);
      }
      mode_xy<T, NC, R>(wr, wi, P, B, C, h, n, d, x, yv, w);
      const auto gr = ssm::s4_mode_grads<NC, R>(av, au, x, yv, w, dt);
      const int64_t hn = h * d.N2 + n;
      g_wr[hn] = T(gr.gW.re), g_wi[hn] = T(gr.gW.im);
      g_b[2 * hn] = T(gr.gB.re), g_b[2 * hn + 1] = T(gr.gB.im);
      for (int j = 0; j < R; ++j) {
        g_p[2 * (j * d.H * d.N2 + hn)] = T(gr.gP[j].re);
        g_p[2 * (j * d.H * d.N2 + hn) + 1] = T(gr.gP[j].im);
      }
      for (int c = 0; c < NC; ++c) {
        g_c[2 * (c * d.H * d.N2 + hn)] = T(gr.gC[c].re);
        g_c[2 * (c * d.H * d.N2 + hn) + 1] = T(gr.gC[c].im);
      }
      dd += gr.ddelta;
    }
  }
  if (fl == 0) s_dd[lane] = dd;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int j = 0; j < 32; ++j) s += s_dd[j];
    g_dt[h] = T(s * dt);
  }
}

template <class T, int NC, int R>
void forward_impl(const Tensor& K, const Tensor& rsave, const std::vector<Tensor>& in) {
  using Pr = ssm::S4Pairs<NC, R>;
  const Dims d = dims_of(in[0], in[1], K.size(2));
  const int dev = K.device().index;
  const int64_t Fg = (d.L + 1) / 2, per_block = int64_t(kFwdThreads) * FwdShape<T, Pr::kP>::kt;
  Storage khat(size_t(NC * d.H * d.F) * 2 * sizeof(T), K.device());
  const dim3 grid(unsigned((Fg + per_block - 1) / per_block), unsigned(d.H));
  forward_kernel<T, NC, R><<<grid, kFwdThreads, 0, stream(dev)>>>(
      static_cast<Cx<T>*>(khat.data()),
      rsave.defined() ? reinterpret_cast<Cx<T>*>(rsave.data<T>()) : nullptr, in[0].data<T>(),
      in[1].data<T>(), in[2].data<T>(), in[3].data<T>(), in[4].data<T>(), in[5].data<T>(), d);
  COIL_CUDA_CHECK_LAUNCH();
  real_fft<T>(dev, true, khat.data(), K.data<T>(), d.L, NC * d.H);
}

template <class T, int NC, int R>
void backward_impl(const std::vector<Tensor>& g, const Tensor& dK, const Tensor& rsave,
                   const std::vector<Tensor>& in) {
  using Pr = ssm::S4Pairs<NC, R>;
  const Dims d = dims_of(in[0], in[1], dK.size(2));
  const int dev = dK.device().index;
  cudaStream_t s = stream(dev);
  Storage ghat(size_t(NC * d.H * d.F) * 2 * sizeof(T), dK.device());
  real_fft<T>(dev, false, dK.data<T>(), ghat.data(), d.L, NC * d.H);
  Storage gs(size_t(d.H * d.F * Pr::kP) * 2 * sizeof(T), dK.device());
  Storage ytab(size_t(d.F) * sizeof(T), dK.device());
  adjoint_kernel<T, NC, R><<<grid_for(d.H * d.F, dev), kBlock, 0, s>>>(
      static_cast<Cx<T>*>(gs.data()), static_cast<T*>(ytab.data()),
      static_cast<const Cx<T>*>(ghat.data()), reinterpret_cast<const Cx<T>*>(rsave.data<T>()), d);
  COIL_CUDA_CHECK_LAUNCH();
  grads_kernel<T, NC, R><<<unsigned(d.H), kBwdThreads, 0, s>>>(
      g[0].data<T>(), g[1].data<T>(), g[2].data<T>(), g[3].data<T>(), g[4].data<T>(),
      g[5].data<T>(), static_cast<const Cx<T>*>(gs.data()), static_cast<const T*>(ytab.data()),
      in[0].data<T>(), in[1].data<T>(), in[2].data<T>(), in[3].data<T>(), in[4].data<T>(),
      in[5].data<T>(), d);
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

void s4_kernel_forward_v2(const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                          const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                          const Tensor& C) {
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(K.dtype(), C.size(0), P.size(0),
                   [&]<class T, int NC, int R>() { forward_impl<T, NC, R>(K, rsave, in); });
}

void s4_kernel_backward_v2(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave,
                           const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                           const Tensor& P, const Tensor& B, const Tensor& C) {
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(dK.dtype(), C.size(0), P.size(0), [&]<class T, int NC, int R>() {
    backward_impl<T, NC, R>(grads, dK, rsave, in);
  });
}

}  // namespace coil::cuda
