// The fused2 layout's backward of the FFT convolution (ops/fft_conv/fused_cuda.cuh for the FFT):
// one kernel transforms dy and u once per (batch row, channel pair) and takes both du and the
// correlation spectra for dk and dD from those spectra, where conv_kernel (du) and corr_kernel
// (one transform of dy + i u per channel) take four transforms and read dy twice, one channel's
// two scalars at a time.
#pragma once
#include "ops/fft_conv/fused_host_cuda.cuh"

namespace coil::cuda::fused {

// One block per SM, with shared memory for two transforms of every pair of the block
// (bwd_pairs_per_block): f32 16 warps of at most 128 registers (110-124 used, no spills), f64 8
// warps (576 bytes of spills at 128 registers).
template <class T>
constexpr int kBwdThreads = sizeof(T) == 4 ? 512 : 256;
constexpr size_t kMaxSmem = 227 * 1024;  // sm_90's dynamic shared memory per block

// Shared memory of bwd_kernel: G transforms of dy (then du) and of u, 2G accumulators of
// n/2 + 1 bins, the twiddle tables.
template <class T, int Lv>
size_t bwd_smem_bytes(int log2n, int G) {
  const size_t n = size_t(1) << log2n;
  return (size_t(G) * (2 * (n + (n >> Lv)) + 2 * (n / 2 + 1)) + size_t(twiddle_count<Lv>(log2n))) *
         sizeof(Cx<T>);
}

// Pairs per block of bwd_kernel: the most of 4, 2, 1 whose buffers fit; 0 where one pair does not
// (n 8192 in f64).
template <class T>
int bwd_pairs_per_block(int log2n) {
  for (int G : {4, 2, 1})
    if (bwd_smem_bytes<T, 4>(log2n, G) <= kMaxSmem) return G;
  return 0;
}

// du (B, L, H) <- dy convolved with the conjugate kernel spectra kf (conv_kernel with conj_k),
// and part (chunks, H, n/2 + 1) <- for the batch rows [b0, b0 + rows) of chunk y, in order,
// sum_b DY_b,h conj(U_b,h) at every bin pair slot (corr_kernel's sums). Block: pairs
// [G x, G x + G). Per row: the forward FFTs of the packed pairs dy and u, then at each bin pair
// both products from the unpacked spectra, the inverse FFT of du's.
template <class T, int G, int Lv, bool Vec>
__global__ void __launch_bounds__(kBwdThreads<T>, 1)
    bwd_kernel(T* __restrict__ du, Cx<T>* __restrict__ part, const T* __restrict__ dy,
               const T* __restrict__ u, const Cx<T>* __restrict__ kf, int64_t B, int64_t L,
               int64_t H, int64_t rows, int log2n, int kr) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int n = 1 << log2n, slots = n / 2 + 1, span = G * (n + (n >> Lv));
  Cx<T>* zd = reinterpret_cast<Cx<T>*>(smem_raw);  // dy's transforms, then du's
  Cx<T>* zu = zd + span;                           // u's
  Cx<T>* acc = zu + span;                          // (slots, 2G): channel 2 (p0 + g) + e at 2g + e
  Cx<T>* tw = acc + 2 * G * slots;
  fill_twiddles<T, Lv>(tw, log2n);
  const int64_t p0 = int64_t(blockIdx.x) * G, b0 = int64_t(blockIdx.y) * rows;
  const int64_t b1 = b0 + rows < B ? b0 + rows : B;
  for (int q = threadIdx.x; q < 2 * G * slots; q += blockDim.x) acc[q] = {T(0), T(0)};
  __syncthreads();
  const bool fused = fuse_middle<G, Lv>(log2n);
  for (int64_t b = b0; b < b1; ++b) {
    const T *dyr = dy + b * L * H, *ur = u + b * L * H;
    T* dur = du + b * L * H;
    forward_fft<T, G, Lv>(
        zd, tw, log2n, [=](int i, int g) { return load_pair<Vec>(dyr, H, 1, L, H, p0 + g, i); },
        fused);
    forward_fft<T, G, Lv>(zu, tw, log2n,
                          [=](int i, int g) { return load_pair<Vec>(ur, H, 1, L, H, p0 + g, i); });
    // (each forward ends synchronised: u's spectrum is complete before the bin pairs read it)
    bin_pairs<T, G, Lv, true>(zd, log2n, [=](int g, int sl, Cx<T>& z1, Cx<T>& z2, bool self) {
      const int64_t c = 2 * (p0 + g);
      if (c >= H) return;
      int j, j2;
      bin_pair(sl, n, j, j2);
      Cx<T> da, db, ua, ub;
      fftc::unpack(z1, z2, da, db);
      fftc::unpack(zu[at<G, Lv>(j, g)], zu[at<G, Lv>(j2, g)], ua, ub);
      Cx<T>* sum = acc + (sl * G + g) * 2;
      sum[0] = sum[0] + mul(da, fftc::conj(ua));
      sum[1] = sum[1] + mul(db, fftc::conj(ub));
      const int ks = kf_slot(sl, n, kr);
      Cx<T> kb{T(0), T(0)};  // conjugated below as conv_kernel does, for the same bits
      if (c + 1 < H) kb = kf[(c + 1) * slots + ks];
      multiply_pair(z1, z2, self, fftc::conj(kf[c * slots + ks]), fftc::conj(kb));
    });
    inverse_fft<T, G, Lv>(
        zd, tw, log2n, [=](int i, int g, Cx<T> v) { store_pair<Vec>(dur, L, H, p0 + g, i, v); },
        fused);
  }
  for (int q = threadIdx.x; q < 2 * G * slots; q += blockDim.x) {
    const int64_t c = 2 * p0 + q % (2 * G);
    if (c < H) part[(blockIdx.y * H + c) * slots + q / (2 * G)] = acc[q];
  }
}

// kf_slot's kr for backward().
template <class T>
int bwd_runs(int log2n, Variant v) {
  int kr = 0;
  by_shape(bwd_pairs_per_block<T>(log2n), log2n, false,
           [&](auto g, auto) { kr = kf_runs<decltype(g)::value, 4>(log2n, v); });
  return kr;
}

// Rows per chunk of bwd_kernel, as corr_kernel's for its 2G channels a block.
inline int64_t bwd_rows_per_chunk(int64_t B, int64_t H, int G) {
  return rows_per_chunk(B, H, 2 * G);
}

// Elements of backward()'s partial spectra (bwd_pairs_per_block must be > 0).
template <class T>
int64_t bwd_partials_size(int64_t B, int64_t H, int log2n) {
  const int64_t rows = bwd_rows_per_chunk(B, H, bwd_pairs_per_block<T>(log2n));
  return (B + rows - 1) / rows * H * ((int64_t(1) << (log2n - 1)) + 1);
}

// du <- dy convolved with the conjugate kernel spectra kf (spectra() with bwd_runs), and gz (P, n)
// <- the packed correlation spectra of dy and u (as correlate), from bwd_kernel per (pair group,
// chunk) into part (bwd_partials_size) and reduce_kernel. Only where bwd_pairs_per_block > 0.
// Radix-16 passes: at radix 32 (two transforms' state in 128 registers) it spills 438 bytes.
template <class T>
void backward(T* du, Cx<T>* gz, Cx<T>* part, const T* dy, const T* u, const Cx<T>* kf, int64_t B,
              int64_t L, int64_t H, int log2n, Variant v, int device, cudaStream_t s) {
  const int G = bwd_pairs_per_block<T>(log2n);
  const int64_t rows = bwd_rows_per_chunk(B, H, G), chunks = (B + rows - 1) / rows;
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % sizeof(Cx<T>) == 0; };
  const bool vec = v.fused2 && H % 2 == 0 && aligned(du) && aligned(dy) && aligned(u);
  by_shape(G, log2n, false, [&](auto g, auto) {
    constexpr int kG = decltype(g)::value;
    launch<kBwdThreads<T>>(vec ? bwd_kernel<T, kG, 4, true> : bwd_kernel<T, kG, 4, false>,
                           bwd_smem_bytes<T, 4>(log2n, kG), kG, (H + 1) / 2, chunks, s, du, part,
                           dy, u, kf, B, L, H, rows, log2n, bwd_runs<T>(log2n, v));
  });
  reduce(gz, part, chunks, H, log2n, device, s);
}

}  // namespace coil::cuda::fused
