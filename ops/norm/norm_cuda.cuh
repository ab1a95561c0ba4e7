// Device helpers shared by the normalisation kernels (row_norm_cuda.cu, batch_norm_cuda.cu):
// reproducible warp and block sums, and the alignment test for vector access.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace coil::cuda::norm {

constexpr int kWarp = 32;

// Butterfly sum: every lane ends with the same bits (each step adds a pair in either order,
// and IEEE addition is commutative), and the tree depends only on the warp.
template <class A>
__device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int m = kWarp / 2; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}

// Sums K values over the block (blockDim.x a multiple of 32); every thread gets the totals.
// red: shared scratch of K * 32 values. Starts with a barrier, so calls can follow each other.
template <int K, class A>
__device__ __forceinline__ void block_sum(A (&v)[K], A* red) {
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = warp_sum(v[k]);
  __syncthreads();
  if (lane == 0)
#pragma unroll
    for (int k = 0; k < K; ++k) red[k * kWarp + warp] = v[k];
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    A t = 0;
    for (int i = 0; i < warps; ++i) t += red[k * kWarp + i];
    v[k] = t;
  }
}

__device__ __forceinline__ float inv_sqrt(float v) { return 1.0f / sqrtf(v); }
__device__ __forceinline__ double inv_sqrt(double v) { return 1.0 / ::sqrt(v); }

// True when every pointer is 16-byte aligned (null counts as aligned): vector access is legal.
template <class... P>
bool aligned16(const P*... ptrs) {
  return ((reinterpret_cast<uintptr_t>(ptrs) % 16 == 0) && ...);
}

}  // namespace coil::cuda::norm
