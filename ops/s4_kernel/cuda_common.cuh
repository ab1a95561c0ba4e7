// Pieces shared by the CUDA versions of the S4 (DPLR) kernel (cuda.cu: v1, cuda_v2.cu: v2): the
// problem sizes, one mode's loads, the batched real FFTs and the (dtype, Cn, R) dispatch.
#pragma once
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/tensor.h"
#include "ops/common/fft_plans_cuda.cuh"
#include "ops/s4_kernel/dispatch_s4.h"
#include "ops/s4_kernel/s4_math.h"

namespace coil::cuda::s4k {

using ssm::Cd;
using ssm::Cx;

struct Dims {
  int64_t H, N2, L, F;
};

inline Dims dims_of(const Tensor& log_dt, const Tensor& W_re, int64_t L) {
  return {log_dt.size(0), W_re.size(1), L, L / 2 + 1};
}

template <class T>
__device__ Cd load_pair(const T* p, int64_t i) {
  return {double(p[2 * i]), double(p[2 * i + 1])};
}

// x (B, P_j), y (C_c, conj P_i) of mode (h, n), and W.
template <class T, int NC, int R>
__device__ void mode_xy(const T* wr, const T* wi, const T* P, const T* B, const T* C, int64_t h,
                        int64_t n, const Dims& d, Cd* x, Cd* y, Cd& w) {
  const int64_t hn = h * d.N2 + n;
  w = {double(wr[hn]), double(wi[hn])};
  x[0] = load_pair(B, hn);
  for (int j = 0; j < R; ++j) x[1 + j] = load_pair(P, j * d.H * d.N2 + hn);
  for (int c = 0; c < NC; ++c) y[c] = load_pair(C, c * d.H * d.N2 + hn);
  for (int i = 0; i < R; ++i) y[NC + i] = ssm::conj(x[1 + i]);
}

// Batched inverse (C2R) or forward (R2C) real FFTs of length L over contiguous rows.
template <class T>
void real_fft(int dev, bool inverse, void* in, void* out, int64_t L, int64_t batch) {
  fft::PlanKey key;
  key.n = L, key.batch = batch, key.device = dev;
  key.idist = inverse ? L / 2 + 1 : L, key.odist = inverse ? L : L / 2 + 1;
  key.type = sizeof(T) == 4 ? (inverse ? CUFFT_C2R : CUFFT_R2C) : (inverse ? CUFFT_Z2D : CUFFT_D2Z);
  fft::execute(key, in, out);
}

}  // namespace coil::cuda::s4k
