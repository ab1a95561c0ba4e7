// The selective scan's CUDA forward kernel (included by ops/selective_scan/cuda.cu).
//
// Layout: NL lanes of a warp own one (batch b, channel d) pair, each lane S of its N states
// (state n = s*NL + lane; round 5's 4 x 4: n = lane*S + s, see FwdShape), so the state lives in
// registers and is never written to memory. A block of FwdShape::kWarps warps covers BC
// consecutive channels of one batch row and walks the sequence in tiles of kT steps. Each
// tile's dt (bias and softplus applied), dt*u, D*u and the z gate, and B and C are staged in
// shared memory (double-buffered; the next tile's global loads are issued into registers before
// the current tile is computed, so their latency hides behind the scan). The per-step sum over
// states (y = C.h) is a transposing warp reduction over the tile, and the epilogue (+ D*u,
// gate, store) runs once per (t, d) over the block.
// Per-thread loader offsets are fixed, so they are computed once, outside the tile loop.
// With chunks over L (ScanArgs::tpc), block z scans one chunk of tiles. kSummary is the chunked
// scan's first pass: the chunk's state from zero and the product of its decays, no output.
// With ypre (the backward's dz needs it), the epilogue also stores y + D*u before the gate.
// kStage (f32, round 4): the next tile's u, delta and z wait in shared memory (cp.async), not
// in registers held across the scan.
#pragma once
#include "ops/selective_scan/scan_tile_cuda.cuh"

namespace coil::cuda::scan {

// Blocks of 8 warps, 3 per SM (80 registers). Round 5's 4 lanes x 4 states (NL = 4): blocks of
// 4 warps, so that Bt 8 x 1536 channels still make 384 blocks of 32 channels (one wave at 3
// blocks per SM), and 3 blocks per SM leave up to 168 registers for the 4 states, their B and
// C and the 8 tile elements per thread (at 4 blocks, 128 registers, it spilled).
template <int NL>
struct FwdShape {
  static constexpr int kWarps = NL == 4 ? 4 : 8, kThreads = 32 * kWarps;
  static constexpr int kMinBlocks = 3;
  static constexpr int CPW = 32 / NL;           // channels per warp
  static constexpr int BC = kWarps * CPW;       // channels per block
  static constexpr int E = kT * BC / kThreads;  // tile elements per thread
  // Round 5: a lane's states are consecutive (n = l * S + s) and the B and C tiles step-major
  // (one row of kPad floats per step: bc_rows <= 32 values, a compile-time stride), so one
  // 16-byte read of a step row gives all of a lane's B (C) values, and the tiles can be copied
  // 16 bytes at a time (kVecBC).
  static constexpr bool kStepMajor = NL == 4;
};

// Floats of one staged B or C tile: bc_rows (group, state) rows of kPad steps, or kT step rows.
template <int NL>
__host__ __device__ constexpr int bc_tile_floats(int bc_rows) {
  return (FwdShape<NL>::kStepMajor ? kT : bc_rows) * kPad;
}

// Floats of dynamic shared memory the forward needs; kStage adds 3 columns x E per thread.
template <int NL, bool kStage>
int64_t forward_smem_floats(int bc_rows) {
  using Sh = FwdShape<NL>;
  return 2 * (4 * Sh::BC * kPad + 2 * bc_tile_floats<NL>(bc_rows)) + Sh::BC * int64_t(kPad) +
         (kStage ? 3 * Sh::E * Sh::kThreads : 0);
}

// kVecBC (f32, step-major tiles): B and C are copied in 16-byte pieces; the host checks that
// each step's block of (group, state) rows is contiguous and 16-byte aligned (N == 16, strides
// and base pointers multiples of 4 floats).
template <class T, int NL, int S, bool kReset, bool kSmemBC, bool kSummary, bool kStage,
          bool kVecBC = false>
__global__ void __launch_bounds__(FwdShape<NL>::kThreads, FwdShape<NL>::kMinBlocks)
    forward_kernel(const ScanArgs a, T* __restrict__ out, float* __restrict__ final_state,
                   float* __restrict__ ckpt, T* __restrict__ ypre) {
  using Sh = FwdShape<NL>;
  constexpr int BC = Sh::BC, CPW = Sh::CPW, E = Sh::E, kWarps = Sh::kWarps;
  constexpr int kThreads = Sh::kThreads, NP = NL * S, kStride = kThreads / BC;
  constexpr int RW = NL < 16 ? 8 : NL;  // steps per reduction of y over the lanes (registers)
  constexpr bool kSM = Sh::kStepMajor;
  static_assert(!kSM || (S == 4 && kSmemBC), "step-major tiles: 4 states (and steps) per read");
  static_assert(!kVecBC || (kSM && sizeof(T) == 4), "16-byte copies: f32 step-major tiles");
  extern __shared__ float4 smem_f4[];
  float* const sm = reinterpret_cast<float*>(smem_f4);
  const int bc_rows = kSmemBC ? a.ngs * NP : 0;  // (group, state) rows of the B and C tiles
  const int bc_floats = bc_tile_floats<NL>(bc_rows);
  const int buf_floats = 4 * BC * kPad + 2 * bc_floats;
  float* const s_y = sm + 2 * buf_floats;
  static_assert(!kStage || sizeof(T) == 4, "staged columns are f32");

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int l = lane % NL, cs = warp * CPW + lane / NL;
  // State slot s of this lane is n0 + s * dn.
  constexpr int dn = kSM ? 1 : NL;
  const int n0 = kSM ? l * S : l;
  const int64_t b = blockIdx.y, d0 = int64_t(blockIdx.x) * BC, d = d0 + cs;
  const bool dok = d < a.Dch;
  const int64_t g_lo = d0 / a.cpg, g = dok ? d / a.cpg : g_lo;
  const int gi = int(g - g_lo);
  const int64_t L = a.L, N = a.N, Dch = a.Dch;
  const int chunk = blockIdx.z, k_begin = chunk * int(a.tpc);
  const int k_end = int(min(k_begin + a.tpc, a.ntiles));

  // The state entering the chunk: zero in the summary pass, else the combined carry or h0.
  const float* h_in = kSummary  ? nullptr
                      : a.carry ? a.carry + chunk_at(a, b, d, chunk, 0)
                      : a.h0    ? a.h0 + (b * Dch + d) * N
                                : nullptr;
  float A2[S], h[S], P[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = n0 + s * dn;
    const bool ok = dok && n < N;
    A2[s] = ok ? a.A[d * N + n] * kLog2e : 0.f;
    h[s] = ok && h_in ? h_in[n] : 0.f;
    P[s] = 1.f;
  }
  // This lane's checkpoint row (b, d, tile 0, its first state); tile k is k * N further on.
  float* const ck = ckpt && dok ? ckpt + (b * Dch + d) * a.ntiles * N + n0 : nullptr;

  // Loader/epilogue slots: channel ec, steps et0 + i * kStride (fixed for the thread).
  const LoaderSlots<T, BC, kWarps> slots(warp, lane);
  const int ec = slots.ec, et0 = slots.et0;
  const int64_t ed = d0 + ec, edc = ed < Dch ? ed : Dch - 1;
  const bool edok = ed < Dch;
  const float ebias = edok && a.bias ? a.bias[ed] : 0.f;
  const float eD = edok && a.D ? a.D[ed] : 0.f;
  const bool has_z = a.z && !kSummary;
  const T* const Bb = static_cast<const T*>(a.B) + b * a.B_sb;
  const T* const Cb = static_cast<const T*>(a.C) + b * a.C_sb;
  constexpr int kW = kVecBC ? 4 : 1, kSlots = kBCElems / kW / kThreads;
  BCSlots<kSlots, kW> bcs;
  if constexpr (kSmemBC)
    bcs.init(tid, kThreads, bc_rows, NP, g_lo, a.G, N, kSM ? 1 : kPad, kSM ? kPad : 1);
  // Without shared B/C tiles each lane reads its own states' B and C (clamped into range).
  const int64_t nc = l < N ? l : N - 1;
  const T* const Bl = Bb + g * N + nc;
  const T* const Cl = Cb + g * N + nc;

  // B and C: cp.async into the tile's buffer for f32; prefetch registers for bf16.
  constexpr bool kAsyncBC = kSmemBC && sizeof(T) == 4;
  Columns<T, E, kStride, 3, kThreads, kStage> col;  // u, delta, z of the next tile
  col.stage = s_y + BC * kPad + tid;
  T pB[kSlots], pC[kSlots];
  bool pr = false;
  auto fetch = [&](int k, int buf) {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    col.load(0, a.u, a.u_sb, a.u_st, b, edc, tk, et0, last);
    col.load(1, a.delta, a.dl_sb, a.dl_st, b, edc, tk, et0, last);
    if (has_z) col.load(2, a.z, a.z_sb, a.z_st, b, edc, tk, et0, last);
    if constexpr (kAsyncBC) {
      float* sB = sm + buf * buf_floats + 4 * BC * kPad;
      bcs.load_async(sB, reinterpret_cast<const float*>(Bb), a.B_st, tk, last);
      if constexpr (!kSummary)
        bcs.load_async(sB + bc_floats, reinterpret_cast<const float*>(Cb), a.C_st, tk, last);
    } else if constexpr (kSmemBC) {
      bcs.load(pB, Bb, a.B_st, tk, last);
      if constexpr (!kSummary) bcs.load(pC, Cb, a.C_st, tk, last);
    }
    if constexpr (kReset) pr = tk + lane < L && a.reset[b * a.r_sb + (tk + lane) * a.r_st];
  };
  // Converts the prefetched tile k into buffer buf; returns the tile's reset mask (bit t: reset
  // before step t), the same in every warp. Steps past L get dt = 0: the state stays as it is.
  auto commit = [&](int k, int buf) -> uint32_t {
    float* base = sm + buf * buf_floats;
    const int last = last_step(L, k * kT);
    if constexpr (kStage) async_wait();
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStride, at = ec * kPad + tt;
      const float u = col.get(0, i), v = col.get(1, i) + ebias;
      const bool ok = edok && tt <= last;
      float dt;
      if constexpr (kSM) {  // round 5: computed for every slot, then selected (no branches)
        const float sp = a.softplus ? softplus<false>(v) : v;
        dt = ok ? sp : 0.f;
      } else {
        dt = ok ? (a.softplus ? softplus(v) : v) : 0.f;
      }
      base[at] = dt;
      base[BC * kPad + at] = ok ? dt * u : 0.f;
      if constexpr (!kSummary) {
        base[2 * BC * kPad + at] = eD * u;
        base[3 * BC * kPad + at] = has_z ? silu(col.get(2, i)) : 1.f;
      }
    }
    if constexpr (kAsyncBC) {
      if constexpr (!kStage) async_wait();  // kStage waited above
    } else if constexpr (kSmemBC) {
      float* sB = base + 4 * BC * kPad;
      bcs.commit(pB, sB);
      if constexpr (!kSummary) bcs.commit(pC, sB + bc_floats);
    }
    return kReset ? __ballot_sync(0xffffffffu, pr) : 0u;
  };

  fetch(k_begin, 0);
  uint32_t mask = commit(k_begin, 0);
  __syncthreads();
  for (int k = k_begin; k < k_end; ++k) {
    const int buf = (k - k_begin) & 1;
    const int tk = k * kT;
    if (k + 1 < k_end) fetch(k + 1, buf ^ 1);  // buf ^ 1 was released by the last barrier
    if (!kSummary && ck) {
#pragma unroll
      for (int s = 0; s < S; ++s)
        if (n0 + s * dn < N) ck[int64_t(k) * N + s * dn] = h[s];
    }
    const float* base = sm + buf * buf_floats;
    const float* rdt = base + cs * kPad;
    const float* rx = base + (BC + cs) * kPad;
    // B and C of this lane's states: rows (or, kSM, columns) gi * NP + n0 + s * dn.
    const float* rB = base + 4 * BC * kPad + (gi * NP + n0) * (kSM ? 1 : kPad);
    const float* rC = rB + bc_floats;
    const int last = last_step(L, tk);
#pragma unroll
    for (int r0 = 0; r0 < kT; r0 += RW) {
      float yp[RW];
#pragma unroll
      for (int t4 = r0; t4 < r0 + RW; t4 += 4) {
        const float4 dt4 = *reinterpret_cast<const float4*>(rdt + t4);
        const float4 x4 = *reinterpret_cast<const float4*>(rx + t4);
        // B4[s] = state slot s at steps t4 .. t4 + 3; kSM: B4[j] = step t4 + j, slots 0 .. 3.
        float4 B4[S], C4[S];
#pragma unroll
        for (int s = 0; s < S; ++s) {
          if constexpr (kSM) {
            B4[s] = ld4(rB + (t4 + s) * kPad);
            if constexpr (!kSummary) C4[s] = ld4(rC + (t4 + s) * kPad);
          } else if constexpr (kSmemBC) {
            B4[s] = *reinterpret_cast<const float4*>(rB + s * NL * kPad + t4);
            if constexpr (!kSummary)
              C4[s] = *reinterpret_cast<const float4*>(rC + s * NL * kPad + t4);
          } else {
            // Steps past L read step L - 1 (dt = 0 there); states past N read 0.
            float* bp = reinterpret_cast<float*>(&B4[s]);
            float* cp = reinterpret_cast<float*>(&C4[s]);
            const bool nok = s * NL + l < N;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              const int64_t at = (tk + min(t4 + j, last)) * a.B_st + s * NL;
              const int64_t atc = (tk + min(t4 + j, last)) * a.C_st + s * NL;
              bp[j] = nok ? to_f(__ldg(Bl + at)) : 0.f;
              cp[j] = nok && !kSummary ? to_f(__ldg(Cl + atc)) : 0.f;
            }
          }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int t = t4 + j;
          const float dt = reinterpret_cast<const float*>(&dt4)[j];
          const float x = reinterpret_cast<const float*>(&x4)[j];
          float acc = 0.f;
#pragma unroll
          for (int s = 0; s < S; ++s) {
            const float av = ex2(dt * A2[s]);
            const float bx = (kSM ? el(B4[j], s) : el(B4[s], j)) * x;
            const bool rs = kReset && ((mask >> t) & 1u);
            h[s] = rs ? bx : fmaf(av, h[s], bx);
            if constexpr (kSummary) P[s] = rs ? 0.f : P[s] * av;
            else acc = fmaf(kSM ? el(C4[j], s) : el(C4[s], j), h[s], acc);
          }
          yp[t - r0] = acc;
        }
      }
      if constexpr (!kSummary) reduce_steps_to<NL, RW>(yp, l, s_y + cs * kPad, r0);
    }
    if constexpr (kSummary) {
      if (k + 1 < k_end) mask = commit(k + 1, buf ^ 1);
      __syncthreads();
      continue;
    }
    __syncthreads();
    if (edok) {
      const float* sdu = base + 2 * BC * kPad;
      const float* sg = base + 3 * BC * kPad;
      const int64_t row = (b * L + tk) * Dch + ed;
      T* const orow = opaque(out + row);
      T* const yrow = ypre ? opaque(ypre + row) : nullptr;
      auto store = [&](int i) {
        const int tt = et0 + i * kStride, at = ec * kPad + tt;
        const float y = s_y[at] + sdu[at];
        const uint32_t o = uint32_t(tt) * uint32_t(Dch);
        if (yrow) __stcs(yrow + o, from_f<T>(y));
        __stcs(orow + o, from_f<T>(y * sg[at]));
      };
      if (kSM && last == kT - 1) {  // round 5: a whole tile without a check per slot
#pragma unroll
        for (int i = 0; i < E; ++i) store(i);
      } else {
#pragma unroll
        for (int i = 0; i < E; ++i)
          if (et0 + i * kStride <= last) store(i);
      }
    }
    if (k + 1 < k_end) mask = commit(k + 1, buf ^ 1);
    __syncthreads();
  }
  if (dok) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int n = n0 + s * dn;
      if (n >= N) continue;
      if constexpr (kSummary) {
        a.sum_P[chunk_at(a, b, d, chunk, n)] = P[s];
        a.sum_h[chunk_at(a, b, d, chunk, n)] = h[s];
      } else if (k_end == a.ntiles) {
        final_state[(b * Dch + d) * N + n] = h[s];
      }
    }
  }
}

}  // namespace coil::cuda::scan
