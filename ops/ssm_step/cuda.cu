// CUDA kernels of the step mode. Diagonal: one thread per (b, h) walks its modes. Dense: one
// block per (b, h), one thread per state row, the output summed by a fixed shared-memory tree.
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "ops/ssm_step/kernels.h"

namespace coil::cuda {
namespace {

template <class T>
__global__ void s4d_kernel(T* __restrict__ y, T* __restrict__ next, const T* __restrict__ state,
                           const T* __restrict__ u, const T* __restrict__ A,
                           const T* __restrict__ Bb, const T* __restrict__ C,
                           const T* __restrict__ D, int64_t rows, int64_t H, int64_t N2) {
  for (int64_t bh = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; bh < rows;
       bh += int64_t(gridDim.x) * blockDim.x) {
    const int64_t h = bh % H;
    const T uu = u[bh];
    T acc = D[h] * uu;
    for (int64_t n = 0; n < N2; ++n) {
      const int64_t i = 2 * (h * N2 + n), s = 2 * (bh * N2 + n);
      const T xr = A[i] * state[s] - A[i + 1] * state[s + 1] + Bb[i] * uu;
      const T xi = A[i] * state[s + 1] + A[i + 1] * state[s] + Bb[i + 1] * uu;
      next[s] = xr, next[s + 1] = xi;
      acc += T(2) * (C[i] * xr - C[i + 1] * xi);
    }
    y[bh] = acc;
  }
}

constexpr int kMaxN = 1024;

template <class T>
__global__ void __launch_bounds__(kMaxN)
    dense_kernel(T* __restrict__ y, T* __restrict__ next, const T* __restrict__ state,
                 const T* __restrict__ u, const T* __restrict__ A, const T* __restrict__ Bb,
                 const T* __restrict__ C, const T* __restrict__ D, int64_t H, int64_t N) {
  __shared__ T s_x[kMaxN];
  __shared__ T s_red[kMaxN];
  const int64_t bh = blockIdx.x, h = bh % H;
  const int i = threadIdx.x;
  const T uu = u[bh];
  if (i < N) s_x[i] = state[bh * N + i];
  __syncthreads();
  T contrib = T(0);
  if (i < N) {
    const T* row = A + (h * N + i) * N;
    T v = Bb[h * N + i] * uu;
    for (int64_t j = 0; j < N; ++j) v += row[j] * s_x[j];
    next[bh * N + i] = v;
    contrib = C[h * N + i] * v;
  }
  s_red[i] = contrib;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {  // blockDim is a power of two
    if (i < w) s_red[i] += s_red[i + w];
    __syncthreads();
  }
  if (i == 0) y[bh] = s_red[0] + D[h] * uu;
}

}  // namespace

void s4d_step_forward(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
                      const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  const int dev = u.device().index;
  DeviceGuard guard(dev);
  const int64_t rows = u.size(0) * u.size(1);
  if (rows == 0) return;
  dispatch<DType::f32, DType::f64>(u.dtype(), "s4d_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    s4d_kernel<T><<<grid_for(rows, dev), kBlock, 0, stream(dev)>>>(
        y.data<T>(), next.data<T>(), state.data<T>(), u.data<T>(), Abar.data<T>(), Bbar.data<T>(),
        C.data<T>(), D.data<T>(), rows, u.size(1), Abar.size(1));
    COIL_CUDA_CHECK_LAUNCH();
  });
}

void ssm_step_forward(const Tensor& y, const Tensor& next, const Tensor& state, const Tensor& u,
                      const Tensor& Abar, const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  const int dev = u.device().index;
  DeviceGuard guard(dev);
  const int64_t rows = u.size(0) * u.size(1), N = Abar.size(1);
  if (rows == 0) return;
  int threads = 32;
  while (threads < N) threads *= 2;
  dispatch<DType::f32, DType::f64>(u.dtype(), "ssm_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dense_kernel<T><<<unsigned(rows), threads, 0, stream(dev)>>>(
        y.data<T>(), next.data<T>(), state.data<T>(), u.data<T>(), Abar.data<T>(), Bbar.data<T>(),
        C.data<T>(), D.data<T>(), u.size(1), N);
    COIL_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace coil::cuda
