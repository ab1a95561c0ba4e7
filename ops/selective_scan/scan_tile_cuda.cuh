// Device helpers shared by the selective scan's CUDA forward and backward (ops/selective_scan/
// cuda.cu): the launch arguments, time tiles staged through shared memory, and warp reductions.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"

namespace coil::cuda::scan {

// Time steps per tile. Also the checkpoint interval: the forward stores the state before every
// tile, and the backward recomputes one tile at a time from it.
inline constexpr int kT = 32;
// Shared-memory row stride (floats) of a (channel or state) row of one tile: 16-byte aligned rows
// for float4 reads, and rows 4 banks apart so neighbouring channels' float4 reads do not collide.
inline constexpr int kPad = kT + 4;
// B and C tile elements each thread prefetches when the tiles are staged in shared memory (the
// host stages them only when kT * groups * padded states fits in kBCSlots per thread).
inline constexpr int kBCSlots = 4;
inline constexpr float kLog2e = 1.4426950408889634f;

// Everything a kernel reads, as the front end's SelectiveScanParams give it (element strides),
// plus the launch geometry the host chose.
struct ScanArgs {
  int64_t Bt, L, Dch, N, G, cpg;  // cpg: channels per group
  bool bf;                        // u, delta, z, B, C (and out, du, ...) are bf16, else f32
  const void *u, *delta, *z, *B, *C;
  int64_t u_sb, u_st, dl_sb, dl_st, z_sb, z_st, B_sb, B_st, C_sb, C_st;
  const float *A, *D, *bias;
  bool softplus;
  const float* h0;  // (Bt, Dch, N) or null
  const bool* reset;
  int64_t r_sb, r_st;
  int64_t ntiles;  // ceil(L / kT)
  int ngs;         // most groups any block's channel range touches
  // Chunks over L, when Bt x channel blocks alone cannot fill the GPU: block z = c scans tiles
  // [c * tpc, min(ntiles, (c + 1) * tpc)). A summary pass writes per (b, d, c, n) the product of
  // the chunk's decays (sum_P) and its state from zero (sum_h; the backward: dh from zero); a
  // sequential combine turns sum_h into `carry`, the true state entering each chunk (backward:
  // dh leaving it), with which the main pass rescans the chunk. Unchunked: tpc = ntiles,
  // nchunks = 1, carry = null.
  int64_t tpc;
  int nchunks;
  const float* carry;    // (Bt, Dch, nchunks, N) or null
  float *sum_P, *sum_h;  // (Bt, Dch, nchunks, N), written by the summary pass
};

// Index of (b, d, chunk, n) in the chunk arrays.
__device__ __forceinline__ int64_t chunk_at(const ScanArgs& a, int64_t b, int64_t d, int64_t c,
                                            int64_t n) {
  return ((b * a.Dch + d) * a.nchunks + c) * a.N + n;
}

// ex2.approx: one special-function-unit op; ftz is harmless (states that small are zero).
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// log(1 + e^x), and x itself past 20 as in mamba_ssm; NaN stays NaN.
__device__ __forceinline__ float softplus(float x) { return x <= 20.f ? log1pf(__expf(x)) : x; }
__device__ __forceinline__ float sigmoid(float x) { return __fdividef(1.f, 1.f + __expf(-x)); }

// Raw bits of element i (bf16 in the low half), so a prefetch never waits on the conversion.
__device__ __forceinline__ uint32_t load_raw(const void* p, int64_t i, bool bf) {
  return bf ? uint32_t(__ldg(static_cast<const unsigned short*>(p) + i))
            : __float_as_uint(__ldg(static_cast<const float*>(p) + i));
}
__device__ __forceinline__ float raw_to_float(uint32_t r, bool bf) {
  return __uint_as_float(bf ? r << 16 : r);
}
__device__ __forceinline__ float load_float(const void* p, int64_t i, bool bf) {
  return raw_to_float(load_raw(p, i, bf), bf);
}
__device__ __forceinline__ void store_float(void* p, int64_t i, float v, bool bf) {
  if (bf) static_cast<uint16_t*>(p)[i] = bf16::round(v);
  else static_cast<float*>(p)[i] = v;
}

// v[W] holds one value per time step in each of the NL lanes of an aligned lane group; sums
// them across the group so that afterwards lane l of the group holds, in v[0 .. W/NL), the
// totals of steps l*(W/NL) + i. Each level halves the values a lane carries (a transposing
// reduction): about W shuffles per lane instead of W*log2(NL).
template <int NL, int W>
__device__ __forceinline__ void transpose_reduce(float (&v)[W], int l) {
  static_assert(W % NL == 0, "a lane must end with whole steps");
  int h = W / 2;
#pragma unroll
  for (int o = NL / 2; o >= 1; o /= 2, h /= 2) {
    const bool up = l & o;
#pragma unroll
    for (int i = 0; i < W / 2; ++i) {
      if (i < h) {
        const float send = up ? v[i] : v[i + h];
        const float keep = up ? v[i + h] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, o);
      }
    }
  }
}

// Sums v across the NL lanes of a group; every lane gets all W totals (W < NL).
template <int NL, int W>
__device__ __forceinline__ void butterfly_reduce(float (&v)[W]) {
#pragma unroll
  for (int i = 0; i < W; ++i)
#pragma unroll
    for (int o = NL / 2; o >= 1; o /= 2) v[i] += __shfl_xor_sync(0xffffffffu, v[i], o);
}

// Writes the group totals of v[W] (steps t0 .. t0+W) to row[t0 + step], each step once.
template <int NL, int W>
__device__ __forceinline__ void reduce_steps_to(float (&v)[W], int l, float* row, int t0) {
  if constexpr (W >= NL) {
    transpose_reduce<NL, W>(v, l);
#pragma unroll
    for (int i = 0; i < W / NL; ++i) row[t0 + l * (W / NL) + i] = v[i];
  } else {
    butterfly_reduce<NL, W>(v);
#pragma unroll
    for (int i = 0; i < W; ++i)
      if (l == i) row[t0 + i] = v[i];
  }
}

}  // namespace coil::cuda::scan
