// CUDA kernel of the selective scan's recurrent step (ops/selective_scan/selective_scan.h): one
// thread per (b, d) walks the N states of its channel; u/delta/z/B/C are f32 or bf16, the state
// and A/D/delta_bias f32, arithmetic in f32. Small and latency-bound by nature (one token).
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "ops/selective_scan/kernels.h"

namespace coil::cuda {
namespace {

struct StepArgs {
  float* state;  // (Bt, Dch, N)
  const float *A, *D, *bias;
  int64_t Bt, Dch, N, G;
  bool softplus;
};

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return float(x); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(bf16* p, float v) { *p = bf16(v); }

template <class T>
__global__ void step_kernel(StepArgs a, T* __restrict__ y, const T* __restrict__ u,
                            const T* __restrict__ delta, const T* __restrict__ B,
                            const T* __restrict__ C, const T* __restrict__ z) {
  const int64_t rows = a.Bt * a.Dch, per_group = a.Dch / a.G;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = r / a.Dch, d = r - b * a.Dch, g = d / per_group;
    float dt = to_f(delta[r]) + (a.bias ? a.bias[d] : 0.0f);
    if (a.softplus && dt <= 20.0f) dt = log1pf(expf(dt));
    const float uv = to_f(u[r]), du = dt * uv;
    float* s = a.state + r * a.N;
    const T *Bn = B + (b * a.G + g) * a.N, *Cn = C + (b * a.G + g) * a.N;
    float acc = 0.0f;
    for (int64_t n = 0; n < a.N; ++n) {
      const float h = expf(dt * a.A[d * a.N + n]) * s[n] + du * to_f(Bn[n]);
      s[n] = h;
      acc += h * to_f(Cn[n]);
    }
    float out = acc + (a.D ? a.D[d] : 0.0f) * uv;
    if (z) {
      const float zv = to_f(z[r]);
      out *= zv / (1.0f + expf(-zv));
    }
    store(y + r, out);
  }
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void selective_scan_step(const Tensor& y, const Tensor& state, const Tensor& u, const Tensor& delta,
                         const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                         const Tensor& z, const Tensor& delta_bias, bool delta_softplus) {
  COIL_CHECK(state.dtype() == DType::f32,
             "[selective_scan_step] CUDA keeps the state in f32, got {}", describe(state));
  const int dev = state.device().index;
  DeviceGuard guard(dev);
  const StepArgs a{
      state.data<float>(), A.data<float>(), ptr_or_null<float>(D), ptr_or_null<float>(delta_bias),
      state.size(0),       state.size(1),   state.size(2),         B.size(1),
      delta_softplus};
  const int64_t rows = a.Bt * a.Dch;
  if (rows == 0) return;
  dispatch<DType::f32, DType::bf16>(u.dtype(), "selective_scan_step", [&](auto tag) {
    using T = typename decltype(tag)::type;
    step_kernel<T><<<grid_for(rows, dev), kBlock, 0, stream(dev)>>>(
        a, y.data<T>(), u.data<T>(), delta.data<T>(), B.data<T>(), C.data<T>(), ptr_or_null<T>(z));
    COIL_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace coil::cuda
