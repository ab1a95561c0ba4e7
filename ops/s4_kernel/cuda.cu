// Version 1 of the CUDA S4 (DPLR) kernel. Forward: one thread per (h, frequency k) sums the
// Cauchy terms of every (x, y) pair over the modes (staged in shared memory), applies the Woodbury
// combination in double and writes khat / L; cuFFT's batched C2R gives K. Backward: cuFFT R2C of
// dK, the Woodbury adjoint per (h, k), then a Cauchy backward kernel (block = 32 modes x 8
// frequency lanes over a chunk of frequencies) whose lanes are summed in a fixed order, and a
// final kernel (one block per h) that sums the chunks in order and forms every gradient.
// cuFFT plans come from the shared cache (ops/common/fft_plans_cuda.cuh); no atomics anywhere.
// The public entry points at the end pick the version (kernels.h).
#include <cstdlib>
#include <string>

#include "core/storage.h"
#include "ops/s4_kernel/cuda_common.cuh"
#include "ops/s4_kernel/kernels.h"

namespace coil::cuda {
namespace {

using namespace s4k;

constexpr int kThreads = 256, kModeChunk = 32, kLanes = kThreads / kModeChunk;
constexpr int64_t kFreqBlock = 256;  // frequencies per backward block
constexpr int kFreqStage = 64;       // frequencies staged in shared memory at a time

// khat (NC, H, F) complex (scaled by 1/L), rsave (H, F, NP) complex or null; grid (ceil(F/256), H).
template <class T, int NC, int R>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Cx<T>* __restrict__ khat, Cx<T>* __restrict__ rsave,
                   const T* __restrict__ log_dt, const T* __restrict__ wr, const T* __restrict__ wi,
                   const T* __restrict__ P, const T* __restrict__ B, const T* __restrict__ C,
                   Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  __shared__ Cx<T> s_u[kModeChunk];
  __shared__ Cx<T> s_v[kModeChunk][Pr::kP];
  const int64_t h = blockIdx.y, k = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  const double dt = exp(double(log_dt[h]));
  const ssm::Freq fq = ssm::freq_at(k, d.L);
  const Cx<T> e = ssm::cast<T>(fq.e), f = ssm::cast<T>(fq.f);
  Cx<T> r[Pr::kP];
#pragma unroll
  for (int p = 0; p < Pr::kP; ++p) r[p] = {T(0), T(0)};
  for (int64_t n0 = 0; n0 < d.N2; n0 += kModeChunk) {
    const int nc = int(d.N2 - n0 < kModeChunk ? d.N2 - n0 : kModeChunk);
    if (threadIdx.x < nc) {
      Cd x[Pr::kX], y[Pr::kY], w;
      mode_xy<T, NC, R>(wr, wi, P, B, C, h, n0 + threadIdx.x, d, x, y, w);
      s_u[threadIdx.x] = ssm::cast<T>(dt * w);
      for (int a = 0; a < Pr::kX; ++a)
        for (int b = 0; b < Pr::kY; ++b)
          s_v[threadIdx.x][Pr::idx(a, b)] = ssm::cast<T>(dt * (x[a] * y[b]));
    }
    __syncthreads();
    for (int m = 0; m < nc; ++m) {
      const Cx<T> u = s_u[m];
      const Cx<T> rd = ssm::recip(e - f * u), rdc = ssm::recip(e - f * ssm::conj(u));
#pragma unroll
      for (int p = 0; p < Pr::kP; ++p) {
        const Cx<T> v = s_v[m][p];
        r[p] = r[p] + v * rd + ssm::conj(v) * rdc;
      }
    }
    __syncthreads();
  }
  if (k >= d.F) return;
  Cd rr[Pr::kP];
#pragma unroll
  for (int p = 0; p < Pr::kP; ++p) {
    rr[p] = 2.0 * ssm::cast<double>(r[p]);
    if (rsave) rsave[(h * d.F + k) * Pr::kP + p] = ssm::cast<T>(rr[p]);
  }
  Cd kh[NC];
  ssm::woodbury_forward<NC, R>(rr, fq.s, kh);
#pragma unroll
  for (int c = 0; c < NC; ++c)
    khat[(c * d.H + h) * d.F + k] = ssm::cast<T>((1.0 / double(d.L)) * kh[c]);
}

// gp (H, F, NP) from ghat (NC, H, F) = rfft(dK) and rsave; one thread per (h, k).
template <class T, int NC, int R>
__global__ void woodbury_adjoint_kernel(Cx<T>* __restrict__ gp, const Cx<T>* __restrict__ ghat,
                                        const Cx<T>* __restrict__ rsave, Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  const int64_t total = d.H * d.F;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t h = i / d.F, k = i % d.F;
    const double wk = (k == 0 || 2 * k == d.L ? 1.0 : 2.0) / double(d.L);
    Cd g[NC], r[Pr::kP], out[Pr::kP];
    for (int c = 0; c < NC; ++c) g[c] = wk * ssm::cast<double>(ghat[(c * d.H + h) * d.F + k]);
    for (int p = 0; p < Pr::kP; ++p) r[p] = ssm::cast<double>(rsave[i * Pr::kP + p]);
    ssm::woodbury_backward<NC, R>(r, ssm::freq_at(k, d.L).s, g, out);
    for (int p = 0; p < Pr::kP; ++p) gp[i * Pr::kP + p] = ssm::cast<T>(out[p]);
  }
}

// part (H, chunks, N2, 2 NP) complex: per frequency chunk, the sums Av_p and Au_p of each mode
// (s4_math.h); grid (chunks, H), thread = (mode lane = tid % 32, frequency lane = tid / 32).
template <class T, int NC, int R>
__global__ void __launch_bounds__(kThreads)
    cauchy_backward_kernel(Cx<T>* __restrict__ part, const Cx<T>* __restrict__ gp,
                           const T* __restrict__ log_dt, const T* __restrict__ wr,
                           const T* __restrict__ wi, Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  __shared__ Cx<T> s_g[kFreqStage][Pr::kP];
  __shared__ Cx<T> s_e[kFreqStage], s_f[kFreqStage];
  __shared__ Cx<T> s_red[kLanes][kModeChunk];
  const int64_t h = blockIdx.y, chunks = gridDim.x, k_begin = int64_t(blockIdx.x) * kFreqBlock;
  const int64_t k_end = k_begin + kFreqBlock < d.F ? k_begin + kFreqBlock : d.F;
  const int lane = threadIdx.x % kModeChunk, fl = threadIdx.x / kModeChunk;
  const double dt = exp(double(log_dt[h]));
  for (int64_t n0 = 0; n0 < d.N2; n0 += kModeChunk) {
    const int64_t n = n0 + lane;
    Cx<T> u = {T(0), T(0)};
    if (n < d.N2) u = ssm::cast<T>(dt * Cd{double(wr[h * d.N2 + n]), double(wi[h * d.N2 + n])});
    Cx<T> Av[Pr::kP], Au[Pr::kP];
#pragma unroll
    for (int p = 0; p < Pr::kP; ++p) Av[p] = Au[p] = {T(0), T(0)};
    for (int64_t k0 = k_begin; k0 < k_end; k0 += kFreqStage) {
      __syncthreads();
      for (int i = threadIdx.x; i < kFreqStage * Pr::kP; i += kThreads) {
        const int64_t k = k0 + i / Pr::kP;
        s_g[i / Pr::kP][i % Pr::kP] =
            k < k_end ? gp[(h * d.F + k) * Pr::kP + i % Pr::kP] : Cx<T>{T(0), T(0)};
      }
      for (int i = threadIdx.x; i < kFreqStage; i += kThreads) {
        const ssm::Freq fq = ssm::freq_at(k0 + i, d.L);
        s_e[i] = ssm::cast<T>(fq.e), s_f[i] = ssm::cast<T>(fq.f);
      }
      __syncthreads();
      for (int i = fl; i < kFreqStage && k0 + i < k_end; i += kLanes) {
        const Cx<T> f = s_f[i];
        const Cx<T> rd = ssm::recip(s_e[i] - f * u), rdc = ssm::recip(s_e[i] - f * ssm::conj(u));
        const Cx<T> a = ssm::conj(rd), au = ssm::conj(f * rd * rd), bu = f * rdc * rdc;
#pragma unroll
        for (int p = 0; p < Pr::kP; ++p) {
          const Cx<T> g = s_g[i][p], gc = ssm::conj(g);
          Av[p] = Av[p] + g * a + gc * rdc;
          Au[p] = Au[p] + g * au + gc * bu;
        }
      }
    }
    // Sum the frequency lanes in order, one accumulator at a time.
#pragma unroll
    for (int q = 0; q < 2 * Pr::kP; ++q) {
      __syncthreads();
      s_red[fl][lane] = q < Pr::kP ? Av[q] : Au[q - Pr::kP];
      __syncthreads();
      if (fl == 0 && n < d.N2) {
        Cx<T> s = s_red[0][lane];
        for (int j = 1; j < kLanes; ++j) s = s + s_red[j][lane];
        part[((h * chunks + blockIdx.x) * d.N2 + n) * 2 * Pr::kP + q] = s;
      }
    }
  }
}

// One block per h: sums the chunks in order per mode and forms the gradients; ddelta (H, N2).
template <class T, int NC, int R>
__global__ void __launch_bounds__(kThreads)
    final_kernel(T* __restrict__ g_dt, T* __restrict__ g_wr, T* __restrict__ g_wi,
                 T* __restrict__ g_p, T* __restrict__ g_b, T* __restrict__ g_c,
                 double* __restrict__ ddelta, const Cx<T>* __restrict__ part, int64_t chunks,
                 const T* __restrict__ log_dt, const T* __restrict__ wr, const T* __restrict__ wi,
                 const T* __restrict__ P, const T* __restrict__ B, const T* __restrict__ C,
                 Dims d) {
  using Pr = ssm::S4Pairs<NC, R>;
  const int64_t h = blockIdx.x;
  const double dt = exp(double(log_dt[h]));
  for (int64_t n = threadIdx.x; n < d.N2; n += kThreads) {
    Cd Av[Pr::kP], Au[Pr::kP];
    for (int p = 0; p < Pr::kP; ++p) Av[p] = Au[p] = {0, 0};
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const Cx<T>* src = part + ((h * chunks + ch) * d.N2 + n) * 2 * Pr::kP;
      for (int p = 0; p < Pr::kP; ++p) {
        Av[p] = Av[p] + ssm::cast<double>(src[p]);
        Au[p] = Au[p] + ssm::cast<double>(src[Pr::kP + p]);
      }
    }
    Cd x[Pr::kX], y[Pr::kY], w;
    mode_xy<T, NC, R>(wr, wi, P, B, C, h, n, d, x, y, w);
    const auto gr = ssm::s4_mode_grads<NC, R>(Av, Au, x, y, w, dt);
    const int64_t hn = h * d.N2 + n;
    g_wr[hn] = T(gr.gW.re), g_wi[hn] = T(gr.gW.im);
    g_b[2 * hn] = T(gr.gB.re), g_b[2 * hn + 1] = T(gr.gB.im);
    for (int j = 0; j < R; ++j)
      g_p[2 * (j * d.H * d.N2 + hn)] = T(gr.gP[j].re),
                                g_p[2 * (j * d.H * d.N2 + hn) + 1] = T(gr.gP[j].im);
    for (int c = 0; c < NC; ++c)
      g_c[2 * (c * d.H * d.N2 + hn)] = T(gr.gC[c].re),
                                g_c[2 * (c * d.H * d.N2 + hn) + 1] = T(gr.gC[c].im);
    ddelta[hn] = gr.ddelta;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int64_t n = 0; n < d.N2; ++n) s += ddelta[h * d.N2 + n];
    g_dt[h] = T(s * dt);
  }
}

template <class T, int NC, int R>
void forward_impl(const Tensor& K, const Tensor& rsave, const std::vector<Tensor>& in) {
  const Dims d = dims_of(in[0], in[1], K.size(2));
  const int dev = K.device().index;
  Storage khat(size_t(NC * d.H * d.F) * 2 * sizeof(T), K.device());
  const dim3 grid(unsigned((d.F + kThreads - 1) / kThreads), unsigned(d.H));
  forward_kernel<T, NC, R><<<grid, kThreads, 0, stream(dev)>>>(
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
  Storage gp(size_t(d.H * d.F * Pr::kP) * 2 * sizeof(T), dK.device());
  woodbury_adjoint_kernel<T, NC, R><<<grid_for(d.H * d.F, dev), kBlock, 0, s>>>(
      static_cast<Cx<T>*>(gp.data()), static_cast<const Cx<T>*>(ghat.data()),
      reinterpret_cast<const Cx<T>*>(rsave.data<T>()), d);
  COIL_CUDA_CHECK_LAUNCH();
  const int64_t chunks = (d.F + kFreqBlock - 1) / kFreqBlock;
  Storage part(size_t(d.H * chunks * d.N2 * 2 * Pr::kP) * 2 * sizeof(T), dK.device());
  cauchy_backward_kernel<T, NC, R><<<dim3(unsigned(chunks), unsigned(d.H)), kThreads, 0, s>>>(
      static_cast<Cx<T>*>(part.data()), static_cast<const Cx<T>*>(gp.data()), in[0].data<T>(),
      in[1].data<T>(), in[2].data<T>(), d);
  COIL_CUDA_CHECK_LAUNCH();
  Storage ddelta(size_t(d.H * d.N2) * sizeof(double), dK.device());
  final_kernel<T, NC, R><<<unsigned(d.H), kThreads, 0, s>>>(
      g[0].data<T>(), g[1].data<T>(), g[2].data<T>(), g[3].data<T>(), g[4].data<T>(),
      g[5].data<T>(), static_cast<double*>(ddelta.data()), static_cast<const Cx<T>*>(part.data()),
      chunks, in[0].data<T>(), in[1].data<T>(), in[2].data<T>(), in[3].data<T>(), in[4].data<T>(),
      in[5].data<T>(), d);
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

S4Version s4_default_version() {
  static const S4Version version = [] {
    const char* env = std::getenv("COIL_S4_KERNEL");
    if (!env || !*env) return kS4Default;
    const std::string v = env;
    COIL_CHECK(v == "1" || v == "2", "[s4_kernel] COIL_S4_KERNEL={} is not 1 or 2", v);
    return v == "1" ? S4Version::v1 : S4Version::v2;
  }();
  return version;
}

void s4_kernel_forward(S4Version v, const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                       const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                       const Tensor& C) {
  DeviceGuard guard(K.device().index);
  if (v == S4Version::v2) return s4_kernel_forward_v2(K, rsave, log_dt, W_re, W_im, P, B, C);
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(K.dtype(), C.size(0), P.size(0),
                   [&]<class T, int NC, int R>() { forward_impl<T, NC, R>(K, rsave, in); });
}

void s4_kernel_backward(S4Version v, const std::vector<Tensor>& grads, const Tensor& dK,
                        const Tensor& rsave, const Tensor& log_dt, const Tensor& W_re,
                        const Tensor& W_im, const Tensor& P, const Tensor& B, const Tensor& C) {
  DeviceGuard guard(dK.device().index);
  if (v == S4Version::v2)
    return s4_kernel_backward_v2(grads, dK, rsave, log_dt, W_re, W_im, P, B, C);
  const std::vector<Tensor> in = {log_dt, W_re, W_im, P, B, C};
  ssm::dispatch_s4(dK.dtype(), C.size(0), P.size(0), [&]<class T, int NC, int R>() {
    backward_impl<T, NC, R>(grads, dK, rsave, in);
  });
}

void s4_kernel_forward(const Tensor& K, const Tensor& rsave, const Tensor& log_dt,
                       const Tensor& W_re, const Tensor& W_im, const Tensor& P, const Tensor& B,
                       const Tensor& C) {
  s4_kernel_forward(s4_default_version(), K, rsave, log_dt, W_re, W_im, P, B, C);
}

void s4_kernel_backward(const std::vector<Tensor>& grads, const Tensor& dK, const Tensor& rsave,
                        const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im,
                        const Tensor& P, const Tensor& B, const Tensor& C) {
  s4_kernel_backward(s4_default_version(), grads, dK, rsave, log_dt, W_re, W_im, P, B, C);
}

}  // namespace coil::cuda
