// The fused CUDA FFT convolution's kernels (FftConvLayout::fused and fused2; their launches are in
// fused_host_cuda.cuh): one block per (batch row, G channel pairs) runs a whole convolution on
// chip. It reads u straight from (B, L, H), transforms two real
// channels as one complex sequence (as cuda.cu does) in shared memory, multiplies by the kernel
// spectra, transforms back and writes y (B, L, H): u and y cross global memory once each.
//
// The FFT is radix-2 decimation in frequency (forward, natural order in, bit-reversed order out)
// and decimation in time with conjugate twiddles (inverse, bit-reversed in, natural out), so no
// permutation pass is needed. Each pass runs up to 4 (fused2: 5) radix-2 levels on 16 (32) values
// a thread holds in registers; the first forward pass loads from global memory (times >= L read as
// zero, never stored) and the last inverse pass stores the first L times straight to global memory.
// The kernel spectra come from the same FFT (spectrum_kernel) in the order the multiply reads them.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "ops/fft_conv/cx_cuda.cuh"

namespace coil::cuda::fused {

using fftc::Cx;

constexpr int kThreads = 256;
// Blocks per SM the register budget must allow in f32 (f64 is left to the compiler): conv_kernel's
// blocks of 69-73 KB fit 3 per SM; corr_kernel's, with the accumulators, 2; spectrum_kernel (once
// a call, over H/2 pairs) is held to 2 as it spills at 3.
template <class T, int f32_blocks>
constexpr int kMinBlocks = sizeof(T) == 4 ? f32_blocks : 1;
constexpr int kMaxLog2 = 13;  // n <= 8192: one f32 pair is 72 KB of shared memory, 3 blocks per SM

// Channel pairs per block: about 64 KB of shared memory (4 pairs of 2048 f32 points make 32 bytes
// of u per time step, a full sector).
inline int pairs_per_block(int64_t n, size_t elem_bytes) {
  return int(std::clamp<int64_t>(int64_t(65536) / (n * int64_t(2 * elem_bytes)), 1, 4));
}
// Passes of the FFT, Lv levels each (4: radix 16; 5: radix 32, fused2's where a block holds one
// pair, 3 passes of 13 levels rather than 4): pass k covers levels [bot, top), top = log2n - Lv k,
// bot = max(0, top - Lv); its groups start at lo in [0, 2^bot) and need the twiddles
// W_{2^top}^lo (fill_twiddles).
template <int Lv>
__host__ __device__ constexpr int pass_bottom(int top) {
  return top > Lv ? top - Lv : 0;
}
template <int Lv>
__host__ __device__ constexpr int twiddle_count(int log2n) {
  int count = 0;
  for (int top = log2n; top > 0; top -= Lv) count += 1 << pass_bottom<Lv>(top);
  return count;
}

// Shared memory: G transforms (padded, see at()), with `acc` G accumulators of n/2 + 1 bins, and
// the twiddle tables (about n/15 values with Lv 4).
template <class T, int Lv>
size_t smem_bytes(int log2n, int G, bool acc = false) {
  const size_t n = size_t(1) << log2n;
  return (size_t(G) * (n + (n >> Lv) + (acc ? n / 2 + 1 : 0)) + size_t(twiddle_count<Lv>(log2n))) *
         sizeof(Cx<T>);
}

// Batch rows per block of corr_kernel: enough (channel group, chunk) blocks to fill an H200 about
// four times over. A function of the shapes only, so the reduction order is the same on every GPU.
inline int64_t rows_per_chunk(int64_t B, int64_t H, int G) {
  const int64_t groups = (H + G - 1) / G, chunks = std::clamp<int64_t>(528 / groups, 1, B);
  return (B + chunks - 1) / chunks;
}

// Element i of pair g in shared memory: one spare slot per 2^Lv elements spreads every pass's
// strided accesses over all banks (with one per 16 at Lv 5, the radix-32 pass of stride 8 at n
// 8192 would be 2-way conflicted); pairs interleave so neighbouring threads take neighbouring g.
template <int G, int Lv>
__device__ __forceinline__ int at(int i, int g) {
  return (i + (i >> Lv)) * G + g;
}

// x * exp(-i pi e / 16) (forward) or x * exp(+i pi e / 16) (Inv), e in [0, 16): the twiddles
// inside a pass; e is a constant once the pass's loops unroll. (Radix-16 passes use even e only,
// with the same constants as before radix 32 came.)
template <class T, bool Inv>
__device__ __forceinline__ Cx<T> rot32(Cx<T> x, int e) {
  if (e == 0) return x;
  if (e == 8) return Inv ? Cx<T>{-x.im, x.re} : Cx<T>{x.im, -x.re};
  const double cos_pi16[9] = {1.0,
                              0.98078528040323043,
                              0.92387953251128674,
                              0.83146961230254524,
                              0.70710678118654752,
                              0.55557023301960218,
                              0.38268343236508977,
                              0.19509032201612825,
                              0.0};
  const T c = T(e <= 8 ? cos_pi16[e] : -cos_pi16[16 - e]), s = T(cos_pi16[e <= 8 ? 8 - e : e - 8]);
  return Inv ? Cx<T>{x.re * c - x.im * s, x.im * c + x.re * s}
             : Cx<T>{x.re * c + x.im * s, x.im * c - x.re * s};
}

// tw <- the twiddle table of every pass, in pass order: W_{2^top}^lo for lo in [0, 2^bot), rounded
// from double: each pass squares them up to Lv - 1 times, doubling their error each time, and f32
// twiddles within 1 ulp (sincospif) left dk's error at L 4096 within 1.4x of the tests' 1e-5 (host
// emulation). The block must synchronise before the first pass reads them.
template <class T, int Lv>
__device__ void fill_twiddles(Cx<T>* tw, int log2n) {
  for (int top = log2n; top > 0; top -= Lv) {
    const int s = 1 << pass_bottom<Lv>(top);
    for (int lo = threadIdx.x; lo < s; lo += blockDim.x) {
      double sn, cs;
      sincospi(double(lo) / double(1 << (top - 1)), &sn, &cs);
      tw[lo] = {T(cs), T(-sn)};
    }
    tw += s;
  }
}

// M radix-2 levels on the R = 2^M values x[j] = v[i0 + j s] (lo = i0 mod s) of one transform,
// half spans s, 2s, .., 2^(M-1) s. Level l's butterfly (j, j + 2^l) has the twiddle
// W_{2^(l+1) s}^(lo + (j mod 2^l) s) = b_l * W_{2^(l+1)}^(j mod 2^l), W_m = exp(-2 pi i / m), with
// b_(M-1) = W_{2^M s}^lo from the table and b_(l-1) = b_l^2 (conjugated for the inverse).
template <class T, int M, bool Inv>
__device__ __forceinline__ void butterflies(Cx<T> (&x)[1 << M], Cx<T> base) {
  Cx<T> b[M];
  b[M - 1] = Inv ? fftc::conj(base) : base;
#pragma unroll
  for (int l = M - 1; l > 0; --l) b[l - 1] = mul(b[l], b[l]);
#pragma unroll
  for (int step = 0; step < M; ++step) {
    const int l = Inv ? step : M - 1 - step, w = 1 << l;
#pragma unroll
    for (int j = 0; j < (1 << M); ++j) {
      if (j & w) continue;
      const int e = (j & (w - 1)) << (4 - l);
      const Cx<T> a = x[j];
      if (Inv) {  // decimation in time: twiddle, then butterfly
        const Cx<T> c = mul(rot32<T, Inv>(x[j + w], e), b[l]);
        x[j] = a + c;
        x[j + w] = a - c;
      } else {  // decimation in frequency: butterfly, then twiddle
        const Cx<T> c = x[j + w];
        x[j] = a + c;
        x[j + w] = mul(rot32<T, Inv>(a - c, e), b[l]);
      }
    }
  }
}

// One pass over every group of every pair of the block: load(i, g) -> butterflies -> store.
template <class T, int G, int M, bool Inv, class Load, class Store>
__device__ __forceinline__ void pass(int log2n, int s, const Cx<T>* tw, const Load& load,
                                     const Store& store) {
  const int groups = (1 << (log2n - M)) * G;
  for (int q = threadIdx.x; q < groups; q += blockDim.x) {
    const int g = q % G, r = q / G, lo = r & (s - 1), i0 = ((r - lo) << M) + lo;
    Cx<T> x[1 << M];
#pragma unroll
    for (int j = 0; j < (1 << M); ++j) x[j] = load(i0 + j * s, g);
    butterflies<T, M, Inv>(x, tw[lo]);
#pragma unroll
    for (int j = 0; j < (1 << M); ++j) store(i0 + j * s, g, x[j]);
  }
}

// Sizes the radix-32 kernels (Lv 5) are built for: 5-level passes and, where log2n mod 5 is 2 or
// 3, a fused middle of that many levels, so a transform there must run with its middle
// (conv_kernel and spectrum_kernel do). Building no other pass or middle keeps conv_kernel
// within the 128 registers of 2 blocks per SM (158 bytes of spills with every size built, 72
// without).
__host__ __device__ constexpr bool radix32_fits(int log2n) {
  return log2n == 5 || log2n == 10 || (log2n > 5 && (log2n % 5 == 2 || log2n % 5 == 3));
}

// pass<.., m, ..> for the m in [1, Lv] the kernel can meet (radix32_fits), since the largest one
// sets every path's register count.
template <class T, int G, int Lv, bool Inv, class Load, class Store>
__device__ __forceinline__ void pass_of(int m, int log2n, int s, const Cx<T>* tw, const Load& load,
                                        const Store& store) {
  if constexpr (Lv == 5) pass<T, G, 5, Inv>(log2n, s, tw, load, store);
  else if (m == 1) pass<T, G, 1, Inv>(log2n, s, tw, load, store);
  else if (m == 2) pass<T, G, 2, Inv>(log2n, s, tw, load, store);
  else if (m == 3) pass<T, G, 3, Inv>(log2n, s, tw, load, store);
  else pass<T, G, 4, Inv>(log2n, s, tw, load, store);
}

// Forward runs the passes k = 0, 1, ..; the inverse the same passes in reverse. tw: the tables of
// fill_twiddles. Each ends with the block synchronised. With `middle` (see fuse_middle), forward
// leaves out its last pass and inverse its first.
template <class T, int G, int Lv, class Load>
__device__ void forward_fft(Cx<T>* z, const Cx<T>* tw, int log2n, const Load& load,
                            bool middle = false) {
  auto sload = [z](int i, int g) { return z[at<G, Lv>(i, g)]; };
  auto sstore = [z](int i, int g, Cx<T> v) { z[at<G, Lv>(i, g)] = v; };
  for (int top = log2n; top > (middle ? Lv : 0); top -= Lv) {
    const int bot = pass_bottom<Lv>(top);
    if (top == log2n) pass_of<T, G, Lv, false>(top - bot, log2n, 1 << bot, tw, load, sstore);
    else pass_of<T, G, Lv, false>(top - bot, log2n, 1 << bot, tw, sload, sstore);
    tw += 1 << bot;
    __syncthreads();
  }
}
template <class T, int G, int Lv, class Store>
__device__ void inverse_fft(Cx<T>* z, const Cx<T>* tw, int log2n, const Store& store,
                            bool middle = false) {
  auto sload = [z](int i, int g) { return z[at<G, Lv>(i, g)]; };
  auto sstore = [z](int i, int g, Cx<T> v) { z[at<G, Lv>(i, g)] = v; };
  tw += twiddle_count<Lv>(log2n) - (middle ? 1 : 0);  // the last pass's table is W^0
  for (int top = log2n - Lv * ((log2n - 1) / Lv) + (middle ? Lv : 0); top <= log2n; top += Lv) {
    const int bot = pass_bottom<Lv>(top);
    tw -= 1 << bot;
    if (top == log2n) pass_of<T, G, Lv, true>(top - bot, log2n, 1 << bot, tw, sload, store);
    else pass_of<T, G, Lv, true>(top - bot, log2n, 1 << bot, tw, sload, sstore);
    __syncthreads();
  }
}

// Bin pair slot sl in [0, n/2]: the bit-reversed positions j, j2 of bins k and n - k. Position 0
// is bin 0, position 1 bin n/2; positions [2^q, 2^(q+1)) hold the bins whose lowest set bit is
// log2n - 1 - q, and there bin n - k sits at the mirror image 3 * 2^q - 1 - j of bin k. Slots
// [2^(q-1), 2^q) take the lower half of that octave, so neighbouring slots touch neighbouring
// positions.
__device__ __forceinline__ void bin_pair(int sl, int n, int& j, int& j2) {
  if (sl == 0 || sl == n / 2) {
    j = j2 = sl == 0 ? 0 : 1;
    return;
  }
  const int half = 1 << (31 - __clz(sl));
  j = sl + half;
  j2 = 6 * half - 1 - j;
}

// Whether the kernels run the last forward pass and what follows it (conv_kernel: the multiply and
// the first inverse pass) as one (middle): when that pass has M = log2n mod Lv in 1..Lv-1 levels
// and is not also the first. With Lv 4 and one pair a block (n 8192 in f32) only M = 1 is built:
// M 2 and 3 spill at the 80 registers of 3 blocks per SM there, and do not occur. Lv 5 kernels
// run 2 blocks per SM (128 registers) and build M 2 and 3 (radix32_fits).
template <int G, int Lv>
__host__ __device__ constexpr bool fuse_middle(int log2n) {
  return log2n > Lv && log2n % Lv != 0 && (G > 1 || Lv > 4 || log2n % Lv == 1);
}

// The middle of the kernels. The last forward pass works on groups of R = 2^M consecutive
// (bit-reversed) positions with the twiddles W_32^e only (its lo is 0), and bin_pair's mirror maps
// such a group onto another one (groups [0, R) and [R, 2R) onto themselves), so one thread runs
// that pass and op(g, sl, z1, z2, self) on every bin pair slot sl of a group and its mirror in
// registers (z1 at j, z2 at j2; one value when self, j = j2); with Inv it then runs the first
// inverse pass and stores the group back: shared-memory round trips fewer (conv two, the others
// one). Ends with the block synchronised.
__host__ __device__ constexpr int ilog2(int a) { return a < 2 ? 0 : 1 + ilog2(a / 2); }

template <class T, int G, int Lv, int M, bool Inv, class Op>
__device__ void middle_pass(Cx<T>* z, int log2n, const Op& mult) {
  constexpr int R = 1 << M;
  const Cx<T> one{T(1), T(0)};
  const int items = (1 << (log2n - 1 - M)) + 1;
  for (int q = threadIdx.x; q < items * G; q += blockDim.x) {
    const int g = q % G, w = q / G;
    // w 0: group [0, R) (octaves 0..M-1); w 1: group [R, 2R) (octave M); w >= 2: the lower-half
    // group ia of octave o > M and its mirror ib.
    int o = M, ia = w * R, ib = 0;
    if (w >= 2) {
      const int v = w - 1, t = 31 - __clz(v);
      o = M + 1 + t;
      ia = (1 << o) + (v - (1 << t)) * R;
      ib = 3 * (1 << o) - ia - R;
    }
    Cx<T> xa[R], xb[R];
#pragma unroll
    for (int a = 0; a < R; ++a) xa[a] = z[at<G, Lv>(ia + a, g)];
    if (w >= 2) {
#pragma unroll
      for (int a = 0; a < R; ++a) xb[a] = z[at<G, Lv>(ib + a, g)];
      butterflies<T, M, false>(xb, one);
    }
    butterflies<T, M, false>(xa, one);
    if (w == 0) {
#pragma unroll
      for (int a = 0; a < R; ++a) {
        const int oa = ilog2(a);  // position a's octave; a < 2 pair with themselves
        if (a < 2) mult(g, a == 0 ? 0 : 1 << (log2n - 1), xa[a], xa[a], true);
        else if (a - (1 << oa) < (1 << oa) / 2)
          mult(g, a - (1 << oa) / 2, xa[a], xa[3 * (1 << oa) - 1 - a], false);
      }
    } else if (w == 1) {
#pragma unroll
      for (int a = 0; a < R / 2; ++a) mult(g, R / 2 + a, xa[a], xa[R - 1 - a], false);
    } else {
#pragma unroll
      for (int a = 0; a < R; ++a) mult(g, ia + a - (1 << o) / 2, xa[a], xb[R - 1 - a], false);
    }
    if (!Inv) continue;
    butterflies<T, M, true>(xa, one);
#pragma unroll
    for (int a = 0; a < R; ++a) z[at<G, Lv>(ia + a, g)] = xa[a];
    if (w >= 2) {
      butterflies<T, M, true>(xb, one);
#pragma unroll
      for (int a = 0; a < R; ++a) z[at<G, Lv>(ib + a, g)] = xb[a];
    }
  }
  __syncthreads();
}

// middle_pass<.., log2n mod Lv, ..>: M 1-3 with Lv 4 (1 only with one pair a block, see
// fuse_middle), 2-3 with Lv 5 (radix32_fits).
template <class T, int G, int Lv, bool Inv, class Op>
__device__ void middle(Cx<T>* z, int log2n, const Op& op) {
  const int m = log2n % Lv;
  if constexpr (Lv == 4 && G == 1) {
    middle_pass<T, G, Lv, 1, Inv>(z, log2n, op);
  } else {
    if (Lv == 4 && m == 1) middle_pass<T, G, Lv, 1, Inv>(z, log2n, op);
    else if (m == 2) middle_pass<T, G, Lv, 2, Inv>(z, log2n, op);
    else middle_pass<T, G, Lv, 3, Inv>(z, log2n, op);
  }
}

// op(g, sl, z1, z2, self) on every bin pair slot of the forward FFT without its last pass where
// fuse_middle (middle), of the whole forward FFT otherwise; with Inv the results go back to z for
// the inverse. Ends with the block synchronised.
template <class T, int G, int Lv, bool Inv, class Op>
__device__ void bin_pairs(Cx<T>* z, int log2n, const Op& op) {
  if (fuse_middle<G, Lv>(log2n)) return middle<T, G, Lv, Inv>(z, log2n, op);
  const int n = 1 << log2n;
  for (int q = threadIdx.x; q < (n / 2 + 1) * G; q += blockDim.x) {
    const int g = q % G, sl = q / G;
    int j, j2;
    bin_pair(sl, n, j, j2);
    Cx<T> z1 = z[at<G, Lv>(j, g)], z2 = z[at<G, Lv>(j2, g)];
    op(g, sl, z1, z2, j == j2);
    if (Inv) z[at<G, Lv>(j, g)] = z1;
    if (Inv && j2 != j) z[at<G, Lv>(j2, g)] = z2;
  }
  __syncthreads();
}

// Where a channel's kernel spectrum (n/2 + 1 values) keeps bin pair slot sl: in runs of R = 2^kr
// slots transposed, so that where the consumer's fused middle (fuse_middle) has kr levels, its
// thread w >= 2, which takes slots R (w - 1) .. R w - 1 one by one, reads next to its neighbours
// (kr 3: 16 wavefronts a warp's load become 2). kr 0 (the fused layout) is slot order.
__host__ __device__ inline int kf_slot(int sl, int n, int kr) {
  const int R = 1 << kr;
  if (sl < R || sl == n / 2) return sl;
  return R + (sl & (R - 1)) * (n / (2 * R) - 1) + (sl >> kr) - 1;
}

// Channel pairs of a strided (time, channel) array x[t * ts + c * cs]: pair p is channels 2p and
// 2p + 1 as one complex value; channels >= H and times >= len are zero. Vec (cs 1, H even, x
// aligned to a pair): one 2T-wide load. Each load of a warp touches its own 128-byte line when
// pairs are H apart, so one wide load instead of two halves the L1 wavefronts of the I/O.
template <bool Vec = false, class T>
__device__ __forceinline__ Cx<T> load_pair(const T* x, int64_t ts, int64_t cs, int64_t len,
                                           int64_t H, int64_t p, int64_t t) {
  Cx<T> v{T(0), T(0)};
  const int64_t c = 2 * p;
  if (t < len && c < H) {
    const T* e = x + t * ts + c * cs;
    if constexpr (Vec) return *reinterpret_cast<const Cx<T>*>(e);
    v.re = e[0];
    if (c + 1 < H) v.im = e[cs];
  }
  return v;
}

// y[t, 2p] <- v.re and y[t, 2p + 1] <- v.im for times t < L of a (time, H) row y (channels past
// H dropped); Vec as load_pair.
template <bool Vec, class T>
__device__ __forceinline__ void store_pair(T* y, int64_t L, int64_t H, int64_t p, int64_t t,
                                           Cx<T> v) {
  const int64_t c = 2 * p;
  if (t >= L || c >= H) return;
  T* e = y + t * H + c;
  if constexpr (Vec) {
    *reinterpret_cast<Cx<T>*>(e) = v;
    return;
  }
  e[0] = v.re;
  if (c + 1 < H) e[1] = v.im;
}

// z1, z2 (Z[k] and Z[n - k], one value when self) of a pair's packed spectrum <- the packed
// spectrum of (A ka, B kb), A and B the spectra of the pair's two channels.
template <class T>
__device__ __forceinline__ void multiply_pair(Cx<T>& z1, Cx<T>& z2, bool self, Cx<T> ka, Cx<T> kb) {
  Cx<T> a, b, w1, w2;
  fftc::unpack(z1, z2, a, b);
  fftc::repack(mul(a, ka), mul(b, kb), w1, w2);
  z1 = w1;
  if (!self) z2 = w2;
}

// kf (H, n/2 + 1) <- the spectra of kn (H, n) (the two-sided kernels, D and 1/n folded in) in
// bin pair slot order (bin_pair), with Runs in runs of 2^kr (kf_slot). Block: pairs [G x, G x + G).
template <class T, int G, int Lv, bool Runs>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T, 2>)
    spectrum_kernel(Cx<T>* __restrict__ kf, const T* __restrict__ kn, int64_t H, int log2n,
                    int kr) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Cx<T>* z = reinterpret_cast<Cx<T>*>(smem_raw);
  const int n = 1 << log2n, slots = n / 2 + 1;
  const int64_t p0 = int64_t(blockIdx.x) * G;
  Cx<T>* tw = z + G * (n + (n >> Lv));
  fill_twiddles<T, Lv>(tw, log2n);
  __syncthreads();
  forward_fft<T, G, Lv>(
      z, tw, log2n, [=](int i, int g) { return load_pair(kn, 1, n, n, H, p0 + g, i); },
      fuse_middle<G, Lv>(log2n));
  bin_pairs<T, G, Lv, false>(z, log2n, [=](int g, int sl, Cx<T>& z1, Cx<T>& z2, bool) {
    const int64_t c = 2 * (p0 + g);
    if (c >= H) return;
    Cx<T> a, b;
    fftc::unpack(z1, z2, a, b);
    const int ks = Runs ? kf_slot(sl, n, kr) : sl;
    kf[c * slots + ks] = a;
    if (c + 1 < H) kf[(c + 1) * slots + ks] = b;
  });
}

// y (B, L, H) <- x (B, L, H) convolved with the kernel spectra kf (spectrum_kernel's output), or
// with their conjugates (conj_k: the adjoint, du from dy). Block: pairs [G x, G x + G) of batch
// row y. Vec: x and y move a pair per access (load_pair; H even, x and y aligned to pairs). Runs:
// kf in runs of 2^kr (kf_slot; fused2's, so that fused's kernel keeps its registers: kf_slot
// costs it a 4-byte spill). Lv 5 (32 values a thread) needs 2 blocks per SM to stay clear of
// spills.
template <class T, int G, int Lv, bool Vec, bool Runs>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T, Lv == 4 ? 3 : 2>)
    conv_kernel(T* __restrict__ y, const T* __restrict__ x, const Cx<T>* __restrict__ kf, int64_t L,
                int64_t H, int log2n, int kr, bool conj_k) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Cx<T>* z = reinterpret_cast<Cx<T>*>(smem_raw);
  const int n = 1 << log2n, slots = n / 2 + 1;
  const int64_t p0 = int64_t(blockIdx.x) * G, row = int64_t(blockIdx.y) * L * H;
  const T* xr = x + row;
  Cx<T>* tw = z + G * (n + (n >> Lv));
  fill_twiddles<T, Lv>(tw, log2n);
  __syncthreads();
  // Bin pair slot sl of pair g: the spectra (z1 at j, z2 at j2) times the kernel spectra.
  auto mult = [=](int g, int sl, Cx<T>& z1, Cx<T>& z2, bool self) {
    const int64_t c = 2 * (p0 + g);
    if (c >= H) return;
    const int ks = Runs ? kf_slot(sl, n, kr) : sl;
    Cx<T> ka = kf[c * slots + ks], kb{T(0), T(0)};
    if (c + 1 < H) kb = kf[(c + 1) * slots + ks];
    if (conj_k) ka = fftc::conj(ka), kb = fftc::conj(kb);
    multiply_pair(z1, z2, self, ka, kb);
  };
  const bool fused = fuse_middle<G, Lv>(log2n);
  forward_fft<T, G, Lv>(
      z, tw, log2n, [=](int i, int g) { return load_pair<Vec>(xr, H, 1, L, H, p0 + g, i); }, fused);
  bin_pairs<T, G, Lv, true>(z, log2n, mult);
  T* yr = y + row;
  inverse_fft<T, G, Lv>(
      z, tw, log2n, [=](int i, int g, Cx<T> v) { store_pair<Vec>(yr, L, H, p0 + g, i, v); }, fused);
}

// part (chunks, H, n/2 + 1) <- for channels [G x, G x + G) and the batch rows [b0, b0 + rows) of
// chunk y: sum_b DY_b,h conj(U_b,h) at bin pair slot sl (bin k; bin n - k is its conjugate), rows
// in order. One FFT per (row, channel): z = dy + i u packs the two real signals.
template <class T, int G, int Lv>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T, 2>)
    corr_kernel(Cx<T>* __restrict__ part, const T* __restrict__ dy, const T* __restrict__ u,
                int64_t B, int64_t L, int64_t H, int64_t rows, int log2n) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Cx<T>* z = reinterpret_cast<Cx<T>*>(smem_raw);
  const int n = 1 << log2n, slots = n / 2 + 1;
  Cx<T>* acc = z + G * (n + (n >> Lv));  // (slots, G), zeroed and written out after barriers
  Cx<T>* tw = acc + G * slots;
  fill_twiddles<T, Lv>(tw, log2n);
  const int64_t h0 = int64_t(blockIdx.x) * G, b0 = int64_t(blockIdx.y) * rows;
  const int64_t b1 = b0 + rows < B ? b0 + rows : B;
  for (int q = threadIdx.x; q < slots * G; q += blockDim.x) acc[q] = {T(0), T(0)};
  __syncthreads();
  for (int64_t b = b0; b < b1; ++b) {
    const T *dyr = dy + b * L * H, *ur = u + b * L * H;
    forward_fft<T, G, Lv>(
        z, tw, log2n,
        [=](int i, int g) {
          const int64_t h = h0 + g;
          Cx<T> v{T(0), T(0)};
          if (i < L && h < H) v = {dyr[int64_t(i) * H + h], ur[int64_t(i) * H + h]};
          return v;
        },
        fuse_middle<G, Lv>(log2n));
    // (bin_pairs ends synchronised: the next row's FFT may overwrite z)
    bin_pairs<T, G, Lv, false>(z, log2n, [=](int g, int sl, Cx<T>& z1, Cx<T>& z2, bool) {
      Cx<T> d, v;
      fftc::unpack(z1, z2, d, v);
      acc[sl * G + g] = acc[sl * G + g] + mul(d, fftc::conj(v));
    });
  }
  for (int q = threadIdx.x; q < slots * G; q += blockDim.x) {
    const int64_t h = h0 + q % G;
    if (h < H) part[(blockIdx.y * H + h) * slots + q / G] = acc[q];
  }
}

// gz (P, n) <- the chunks' sums of part, in chunk order, times 1/n, packed per channel pair
// (2p, 2p + 1) in natural bin order: cuda.cu's inverse FFT and kernel_grads take it from there.
template <class T>
__global__ void reduce_kernel(Cx<T>* __restrict__ gz, const Cx<T>* __restrict__ part,
                              int64_t chunks, int64_t H, int log2n) {
  const int n = 1 << log2n, slots = n / 2 + 1;
  const int64_t P = (H + 1) / 2;
  const T inv_n = T(1) / T(n);
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < P * slots;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = idx / slots, ha = 2 * p;
    const int sl = int(idx - p * slots);
    Cx<T> ga{T(0), T(0)}, gb{T(0), T(0)};
    for (int64_t c = 0; c < chunks; ++c) {
      ga = ga + part[(c * H + ha) * slots + sl];
      if (ha + 1 < H) gb = gb + part[(c * H + ha + 1) * slots + sl];
    }
    int j, j2;
    bin_pair(sl, n, j, j2);
    const int k = int(__brev(unsigned(j)) >> (32 - log2n));
    Cx<T> w1, w2;
    fftc::repack(Cx<T>{ga.re * inv_n, ga.im * inv_n}, Cx<T>{gb.re * inv_n, gb.im * inv_n}, w1, w2);
    gz[p * n + k] = w1;
    if (j2 != j) gz[p * n + (n - k)] = w2;
  }
}

}  // namespace coil::cuda::fused
