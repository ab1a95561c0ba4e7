// Host side of the fused CUDA FFT convolution (ops/fft_conv/fused_cuda.cuh's kernels): the
// launches, and the variants of the fused and fused2 layouts (kernels.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "core/cuda/context.h"
#include "core/cuda/launch.cuh"
#include "ops/fft_conv/fused_cuda.cuh"

namespace coil::cuda::fused {

// The launches, on `s`: grid (ceil(channels / G), rows), G from pairs_per_block. The largest
// shared-memory carveout, so that the blocks per SM of kMinBlocks fit.
template <int Threads = kThreads, class Kernel>
void launch(Kernel kernel, size_t smem, int G, int64_t channels, int64_t rows, cudaStream_t s,
            auto... args) {
  COIL_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  COIL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                       int(cudaSharedmemCarveoutMaxShared)));
  const dim3 grid(unsigned((channels + G - 1) / G), unsigned(rows));
  kernel<<<grid, Threads, smem, s>>>(args...);
  COIL_CUDA_CHECK_LAUNCH();
}

// What the fused2 layout (kernels.h) changes; the defaults are the fused layout's kernels.
struct Variant {
  // conv_kernel's pair accesses (Vec, where H is even and the operands are aligned); the kernel
  // spectra with one pair a block (H/2 blocks rather than H/8 at n <= 2048: less than one wave on
  // an H100 at H 1024), stored in runs of their reader's middle (kf_slot).
  bool fused2 = false;
  // With fused2: radix-32 passes (Lv 5) in conv_kernel and spectrum_kernel where they are built,
  // one pair a block (n 8192 in f32) and radix32_fits. With 2 pairs they spill 190 bytes at the
  // 128 registers of 2 blocks per SM, and corr_kernel 160 with one: both keep radix 16.
  bool radix32 = false;
  // With fused2: du and the correlation spectra from one bwd_kernel where it fits
  // (fused_bwd_cuda.cuh).
  bool backward = false;
};

// kf_slot's kr for kernels of G pairs a block and Lv levels a pass, under variant v.
template <int G, int Lv>
int kf_runs(int log2n, Variant v) {
  return v.fused2 && fuse_middle<G, Lv>(log2n) ? log2n % Lv : 0;
}

// f(std::integral_constant<int, G>, std::integral_constant<int, Lv>) for G in 1, 2, 4 (pairs per
// block) and Lv 4, or G 1 and Lv 5 where the variant asks for radix 32 and it is built.
template <int V>
using Int = std::integral_constant<int, V>;
template <class F>
void by_shape(int G, int log2n, bool radix32, const F& f) {
  if (radix32 && G == 1 && radix32_fits(log2n)) f(Int<1>{}, Int<5>{});
  else if (G == 1) f(Int<1>{}, Int<4>{});
  else if (G == 2) f(Int<2>{}, Int<4>{});
  else f(Int<4>{}, Int<4>{});
}

// kf <- the kernel spectra of kn, in runs of 2^kr (kf_slot; conv_runs or bwd_runs).
template <class T>
void spectra(Cx<T>* kf, const T* kn, int64_t H, int log2n, Variant v, int kr, cudaStream_t s) {
  const int64_t P = (H + 1) / 2;
  if (v.fused2 && v.radix32 && radix32_fits(log2n))
    return launch(spectrum_kernel<T, 1, 5, true>, smem_bytes<T, 5>(log2n, 1), 1, P, 1, s, kf, kn, H,
                  log2n, kr);
  if (v.fused2)
    return launch(spectrum_kernel<T, 1, 4, true>, smem_bytes<T, 4>(log2n, 1), 1, P, 1, s, kf, kn, H,
                  log2n, kr);
  by_shape(pairs_per_block(int64_t(1) << log2n, sizeof(T)), log2n, false, [&](auto g, auto) {
    constexpr int kG = decltype(g)::value;
    launch(spectrum_kernel<T, kG, 4, false>, smem_bytes<T, 4>(log2n, kG), kG, P, 1, s, kf, kn, H,
           log2n, kr);
  });
}

// kf_slot's kr for convolve().
template <class T>
int conv_runs(int log2n, Variant v) {
  int kr = 0;
  by_shape(
      pairs_per_block(int64_t(1) << log2n, sizeof(T)), log2n, v.fused2 && v.radix32,
      [&](auto g, auto lv) { kr = kf_runs<decltype(g)::value, decltype(lv)::value>(log2n, v); });
  return kr;
}

// y <- x convolved with kf (spectra() with conv_runs).
template <class T>
void convolve(T* y, const T* x, const Cx<T>* kf, int64_t B, int64_t L, int64_t H, int log2n,
              bool conj_k, Variant v, cudaStream_t s) {
  const int kr = conv_runs<T>(log2n, v);
  const int G = pairs_per_block(int64_t(1) << log2n, sizeof(T));
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % sizeof(Cx<T>) == 0; };
  const bool vec = v.fused2 && H % 2 == 0 && aligned(x) && aligned(y);
  by_shape(G, log2n, v.fused2 && v.radix32, [&](auto g, auto lv) {
    constexpr int kG = decltype(g)::value, kLv = decltype(lv)::value;
    const auto kernel = !v.fused2 ? conv_kernel<T, kG, 4, false, false>
                        : vec     ? conv_kernel<T, kG, kLv, true, true>
                                  : conv_kernel<T, kG, kLv, false, true>;
    launch(kernel, smem_bytes<T, kLv>(log2n, kG), kG, (H + 1) / 2, B, s, y, x, kf, L, H, log2n, kr,
           conj_k);
  });
}

// Elements of correlate()'s partial spectra.
template <class T>
int64_t partials_size(int64_t B, int64_t H, int log2n) {
  const int64_t rows = rows_per_chunk(B, H, pairs_per_block(int64_t(1) << log2n, sizeof(T)));
  return (B + rows - 1) / rows * H * ((int64_t(1) << (log2n - 1)) + 1);
}

// gz (P, n) <- the sums of part (chunks, H, n/2 + 1) over the chunks, as reduce_kernel says.
template <class T>
void reduce(Cx<T>* gz, const Cx<T>* part, int64_t chunks, int64_t H, int log2n, int device,
            cudaStream_t s) {
  const int64_t work = (H + 1) / 2 * ((int64_t(1) << (log2n - 1)) + 1);
  reduce_kernel<T><<<grid_for(work, device), kBlock, 0, s>>>(gz, part, chunks, H, log2n);
  COIL_CUDA_CHECK_LAUNCH();
}

// gz (P, n) <- the packed correlation spectra of dy and u (B, L, H), reduced over the batch in a
// fixed order: corr_kernel per (channel group, chunk) into part (partials_size), reduce_kernel.
template <class T>
void correlate(Cx<T>* gz, Cx<T>* part, const T* dy, const T* u, int64_t B, int64_t L, int64_t H,
               int log2n, int device, cudaStream_t s) {
  const int G = pairs_per_block(int64_t(1) << log2n, sizeof(T));
  const int64_t rows = rows_per_chunk(B, H, G), chunks = (B + rows - 1) / rows;
  by_shape(G, log2n, false, [&](auto g, auto) {
    constexpr int kG = decltype(g)::value;
    launch(corr_kernel<T, kG, 4>, smem_bytes<T, 4>(log2n, kG, true), kG, H, chunks, s, part, dy, u,
           B, L, H, rows, log2n);
  });
  reduce(gz, part, chunks, H, log2n, device, s);
}

}  // namespace coil::cuda::fused
