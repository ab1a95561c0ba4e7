// Device helpers shared by the selective scan's CUDA forward and backward (ops/selective_scan/
// cuda.cu): the launch arguments, element types, the tile loaders (offsets precomputed once per
// thread, 32-bit inside a tile), the fast softplus, and warp reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace coil::cuda::scan {

// Time steps per tile. Also the checkpoint interval: the forward stores the state before every
// tile, and the backward recomputes one tile at a time from it.
inline constexpr int kT = 32;
// Shared-memory row stride (floats) of a (channel or state) row of one tile: 16-byte aligned rows
// for float4 reads, and rows 4 banks apart so neighbouring channels' float4 reads do not collide.
inline constexpr int kPad = kT + 4;
// B and C tiles are staged in shared memory only when they have at most 32 (group, state) rows.
inline constexpr int kBCElems = kT * 32;  // most (step, group row) elements of a B or C tile
inline constexpr float kLog2e = 1.4426950408889634f;
// Largest time stride (elements) of an input: a tile's offsets (< kT strides) stay 32-bit.
inline constexpr int64_t kMaxStride = int64_t(1) << 26;

// Everything a kernel reads, as the front end's SelectiveScanParams give it (element strides),
// plus the launch geometry the host chose. The element type of u, delta, z, B, C (and of out,
// du, ...) is the kernels' template parameter T: float, or bf16 held as its raw 16 bits.
struct ScanArgs {
  int64_t Bt, L, Dch, N, G, cpg;  // cpg: channels per group
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

// ---- element types: float, or bf16 as uint16_t (no per-element dtype branch) ----------------
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(uint16_t x) { return __uint_as_float(uint32_t(x) << 16); }
template <class T>
__device__ __forceinline__ T from_f(float v) {
  if constexpr (sizeof(T) == 2) return __bfloat16_as_ushort(__float2bfloat16_rn(v));
  else return v;
}

// ---- special functions --------------------------------------------------------------------
// ex2.approx: one special-function-unit op; ftz is harmless (states that small are zero).
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float sigmoid(float x) {
  return __fdividef(1.f, 1.f + ex2(-x * kLog2e));
}
__device__ __forceinline__ float silu(float x) { return __fdividef(x, 1.f + ex2(-x * kLog2e)); }

// softplus(v) = log(1 + e^v), and v itself past 20 as in mamba_ssm, computed as
// max(v, 0) + log1p(e) with e = e^-|v| <= 1, and log1p(e) = 2 atanh(s), s = e / (2 + e) <= 1/3,
// by its odd series to s^13 (remainder < 2e-8 relative): no log, no cancellation for tiny e,
// two special-function ops instead of log1pf's long path. If sig, *sig = sigmoid(v) (softplus'
// derivative; 1 past 20) from the same e. NaN stays NaN. The cut past 20 changes nothing in f32
// (e < 2.1e-9 is below half an ulp of v, and 1 + e rounds to 1), so kCut = false (round 5's
// forward) leaves it out: no branch around the series.
template <bool kCut = true>
__device__ __forceinline__ float softplus(float v, float* sig = nullptr) {
  const float e = ex2(-fabsf(v) * kLog2e);
  const float s = __fdividef(e, 2.f + e), s2 = s * s;
  float p = 1.f / 13;
  p = fmaf(p, s2, 1.f / 11);
  p = fmaf(p, s2, 1.f / 9);
  p = fmaf(p, s2, 1.f / 7);
  p = fmaf(p, s2, 1.f / 5);
  p = fmaf(p, s2, 1.f / 3);
  p = fmaf(p, s2, 1.f);
  const bool cut = kCut && v > 20.f;
  if (sig) *sig = cut ? 1.f : __fdividef(v >= 0.f ? 1.f : e, 1.f + e);
  return cut ? v : fmaf(2.f * s, p, fmaxf(v, 0.f));
}

// ---- tile loaders -------------------------------------------------------------------------
// Offsets inside a tile are 32-bit unsigned (kT steps of a stride below kMaxStride), so each
// address is one wide multiply-add off the tile's base pointer. `opaque` keeps the compiler
// from folding a base pointer back into 64-bit index arithmetic for every element.
template <class P>
__device__ __forceinline__ P* opaque(P* p) {
  asm("" : "+l"(p));
  return p;
}
//
// Loads slots i = 0 .. E of tile tk of a (batch, time, channel) input, p at (b, t = 0, the slot
// channel clamped into range), time stride st: steps et0 + i * kStride, clamped to `last` (the
// tile's last step before L), so every load is in bounds and unpredicated; commit zeroes the
// steps past L. The pointer is rebuilt per tile from the kernel arguments rather than kept in
// registers across the scan.
template <int E, int kStride, class T>
__device__ __forceinline__ void load_column(T (&r)[E], const void* p, int64_t sb, int64_t st,
                                            int64_t b, int64_t ch, int tk, int et0, int last) {
  const T* base = opaque(static_cast<const T*>(p) + (b * sb + ch) + int64_t(tk) * st);
#pragma unroll
  for (int i = 0; i < E; ++i)
    r[i] = __ldg(base + uint32_t(min(et0 + i * kStride, last)) * uint32_t(st));
}

// Copies 4 bytes global -> shared without passing through registers; zero: store 0 instead
// (src is not read, but must be a valid address). Complete with async_wait().
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool zero = false) {
  const uint32_t d = uint32_t(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src),
               "r"(zero ? 0 : 4));
}

// Waits for this thread's cp.async copies.
__device__ __forceinline__ void async_wait() { asm volatile("cp.async.wait_all;\n" ::); }

// load_column for f32 through cp.async: slot i goes to dst[i * threads] (this thread's slots of
// a staging area; no registers held until the values are used).
template <int E, int kStride>
__device__ __forceinline__ void load_column_async(float* dst, int threads, const void* p,
                                                  int64_t sb, int64_t st, int64_t b, int64_t ch,
                                                  int tk, int et0, int last) {
  const float* base = opaque(static_cast<const float*>(p) + (b * sb + ch) + int64_t(tk) * st);
#pragma unroll
  for (int i = 0; i < E; ++i)
    cp_async4(dst + i * threads, base + uint32_t(min(et0 + i * kStride, last)) * uint32_t(st));
}

// kC input columns of a tile (load_column's slots) between their fetch and their use: in
// registers, or with kAsync (f32 only) in this thread's slots of a shared staging area, slot
// (c, i) at stage[(c * E + i) * kThreads], filled by cp.async: no registers held meanwhile.
// get() reads a column once async_wait() has returned.
template <class T, int E, int kStride, int kC, int kThreads, bool kAsync>
struct Columns {
  static_assert(!kAsync || sizeof(T) == 4, "cp.async stages f32 columns");
  T r[kAsync ? 1 : kC][E];
  float* stage;  // this thread's slot (0, 0)
  __device__ __forceinline__ void load(int c, const void* p, int64_t sb, int64_t st, int64_t b,
                                       int64_t ch, int tk, int et0, int last) {
    if constexpr (kAsync)
      load_column_async<E, kStride>(stage + c * E * kThreads, kThreads, p, sb, st, b, ch, tk, et0,
                                    last);
    else load_column<E, kStride>(r[c], p, sb, st, b, ch, tk, et0, last);
  }
  __device__ __forceinline__ float get(int c, int i) const {
    if constexpr (kAsync) return stage[(c * E + i) * kThreads];
    else return to_f(r[c][i]);
  }
};

// Columns of bf16 (raw 16 bits) held two slots to a 32-bit register (slot 2i in the low half,
// 2i + 1 in the high half) between their fetch and their use: half the registers held across
// the scan for one byte-permute per pair (round 5's backward).
template <int E, int kStride, int kC>
struct PackedColumns {
  static_assert(E % 2 == 0, "slots come in pairs");
  uint32_t r[kC][E / 2];
  float* stage;  // unused: Columns' interface
  __device__ __forceinline__ void load(int c, const void* p, int64_t sb, int64_t st, int64_t b,
                                       int64_t ch, int tk, int et0, int last) {
    uint16_t v[E];
    load_column<E, kStride>(v, p, sb, st, b, ch, tk, et0, last);
#pragma unroll
    for (int i = 0; i < E / 2; ++i) r[c][i] = uint32_t(v[2 * i]) | uint32_t(v[2 * i + 1]) << 16;
  }
  __device__ __forceinline__ float get(int c, int i) const {
    const uint32_t w = r[c][i / 2];
    return __uint_as_float(i & 1 ? w & 0xffff0000u : w << 16);
  }
};

// Loader slots of a block of kWarps warps over BC channels x kT steps. Each warp reads rows of
// kCW consecutive channels (32 bytes: whole sectors) at 32 / kCW steps, so global loads and
// stores use full sectors and the column writes into the padded shared rows (stride kPad) hit
// distinct banks. A thread keeps one channel ec and steps et0 + i * (threads / BC).
template <class T, int BC, int kWarps>
struct LoaderSlots {
  static constexpr int kCW = BC < 32 / int(sizeof(T)) ? BC : 32 / int(sizeof(T));
  static constexpr int kGroups = BC / kCW;
  static_assert(kWarps % kGroups == 0, "a thread's slots must share one channel");
  int ec, et0;
  __device__ LoaderSlots(int warp, int lane)
      : ec((warp % kGroups) * kCW + lane % kCW), et0((warp / kGroups) * (32 / kCW) + lane / kCW) {}
};

// The tile's last step before L, relative to the tile start tk (kT - 1 for every full tile).
__device__ __forceinline__ int last_step(int64_t L, int tk) {
  return int(min(L - 1 - tk, int64_t(kT - 1)));
}

// Copies 16 bytes global -> shared (both 16-byte aligned) without passing through registers;
// zero: store zeros instead (src is not read). Complete with async_wait().
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool zero) {
  const uint32_t d = uint32_t(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src),
               "r"(zero ? 0 : 16));
}

// One thread's slots of the B and C tiles staged in shared memory: element e = j * threads + tid
// of the (step, group row) tile, row = (group slot, state). Fixed per thread, so computed once.
// The tile sits at row * rstride + step * sstride: state-major rows of kPad steps by default,
// step-major rows for round 5's forward. W = 4 (load_async only): each slot is 4 consecutive
// rows of one step, copied as 16 bytes (the caller checks that they are contiguous and aligned).
template <int kSlots, int W = 1>
struct BCSlots {
  int tt[kSlots];   // step in the tile
  int off[kSlots];  // element offset (group * N + state) in one step
  int at[kSlots];   // shared-memory index row * rstride + tt * sstride; -1: no slot
  uint32_t zero;    // bit j: the row does not exist (state >= N or group >= G): stage 0
  __device__ void init(int tid, int threads, int bc_rows, int NP, int64_t g_lo, int64_t G,
                       int64_t N, int rstride = kPad, int sstride = 1) {
    zero = 0;
    const int per_step = bc_rows / W;  // slots per step
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const int e = j * threads + tid;
      const int step = e / max(per_step, 1), row = (e - step * per_step) * W;
      const int64_t gg = g_lo + row / NP, n = row % NP;
      const bool used = e < kT * per_step, real = n < N && gg < G;
      tt[j] = used ? step : 0;
      off[j] = used && real ? int(gg * N + n) : 0;
      at[j] = used ? row * rstride + step * sstride : -1;
      zero |= real ? 0u : 1u << j;
    }
  }
  // p: the tensor at (b, t = 0, group 0, state 0).
  template <class T>
  __device__ __forceinline__ void load(T (&r)[kSlots], const T* p, int64_t st, int tk,
                                       int last) const {
    static_assert(W == 1, "register slots are single elements");
    const T* base = opaque(p + int64_t(tk) * st);
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
      if (at[j] >= 0) r[j] = __ldg(base + (uint32_t(min(tt[j], last)) * uint32_t(st) + off[j]));
  }
  // f32: copies the slots of tile tk straight into shared memory (s, the tile's B or C rows)
  // with cp.async, no registers held across the scan; rows that do not exist are zero-filled.
  // Complete with async_wait() before the barrier that publishes the tile.
  __device__ __forceinline__ void load_async(float* s, const float* p, int64_t st, int tk,
                                             int last) const {
    const float* base = opaque(p + int64_t(tk) * st);
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      if (at[j] < 0) continue;
      const float* src = base + (uint32_t(min(tt[j], last)) * uint32_t(st) + off[j]);
      if constexpr (W == 4) cp_async16(s + at[j], src, (zero >> j) & 1u);
      else cp_async4(s + at[j], src, (zero >> j) & 1u);
    }
  }
  template <class T>
  __device__ __forceinline__ void commit(const T (&r)[kSlots], float* s) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
      if (at[j] >= 0) s[at[j]] = (zero >> j) & 1u ? 0.f : to_f(r[j]);
  }
};

// BCSlots for state-major tiles (rows of kPad steps) when the block's threads are a multiple of
// the tile's rows: the thread keeps row tid % rows at steps tid / rows + j * (threads / rows)
// (while below kT), so four registers describe every slot where BCSlots keeps three per slot
// (round 5's backward holds them in registers).
template <int kSlots>
struct BCRowSlots {
  int off;  // element offset (group * N + state) of the row in one step; -1: no such row
  int at0;  // shared-memory index of slot 0
  int step0, dstep;
  __device__ void init(int tid, int threads, int rows, int NP, int64_t g_lo, int64_t G, int64_t N) {
    const int row = tid % rows;
    const int64_t gg = g_lo + row / NP, n = row % NP;
    off = n < N && gg < G ? int(gg * N + n) : -1;
    step0 = tid / rows, dstep = threads / rows;
    at0 = row * kPad + step0;
  }
  // Slot j's source in tile tk (rows that do not exist read row 0: in bounds, never used).
  template <class T>
  __device__ __forceinline__ const T* src(const T* p, int64_t st, int tk, int last, int j) const {
    const T* base = opaque(p + int64_t(tk) * st + max(off, 0));
    return base + uint32_t(min(step0 + j * dstep, last)) * uint32_t(st);
  }
  template <class T>
  __device__ __forceinline__ void load(T (&r)[kSlots], const T* p, int64_t st, int tk,
                                       int last) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
      if (step0 + j * dstep < kT) r[j] = __ldg(src(p, st, tk, last, j));
  }
  __device__ __forceinline__ void load_async(float* s, const float* p, int64_t st, int tk,
                                             int last) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
      if (step0 + j * dstep < kT) cp_async4(s + at0 + j * dstep, src(p, st, tk, last, j), off < 0);
  }
  template <class T>
  __device__ __forceinline__ void commit(const T (&r)[kSlots], float* s) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j)
      if (step0 + j * dstep < kT) s[at0 + j * dstep] = off < 0 ? 0.f : to_f(r[j]);
  }
  // bf16 slots two to a register (slot 2i in the low half, 2i + 1 in the high half).
  __device__ __forceinline__ void load(uint32_t (&r)[kSlots / 2], const uint16_t* p, int64_t st,
                                       int tk, int last) const {
#pragma unroll
    for (int i = 0; i < kSlots / 2; ++i) {
      const bool lo = step0 + 2 * i * dstep < kT, hi = step0 + (2 * i + 1) * dstep < kT;
      r[i] = uint32_t(lo ? __ldg(src(p, st, tk, last, 2 * i)) : 0) |
             uint32_t(hi ? __ldg(src(p, st, tk, last, 2 * i + 1)) : 0) << 16;
    }
  }
  __device__ __forceinline__ void commit(const uint32_t (&r)[kSlots / 2], float* s) const {
#pragma unroll
    for (int j = 0; j < kSlots; ++j) {
      const uint32_t w = r[j / 2];
      if (step0 + j * dstep < kT)
        s[at0 + j * dstep] = off < 0 ? 0.f : __uint_as_float(j & 1 ? w & 0xffff0000u : w << 16);
    }
  }
};

// float4 of a shared-memory row at a step that is a multiple of 4, and its element j.
__device__ __forceinline__ float4 ld4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float el(const float4& v, int j) {
  return reinterpret_cast<const float*>(&v)[j];
}

// ---- warp reductions (fixed order: bitwise reproducible) ------------------------------------
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
