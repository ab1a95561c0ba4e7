// The selective scan's CUDA forward kernel (included by ops/selective_scan/cuda.cu).
//
// Layout: NL lanes of a warp own one (batch b, channel d) pair, each lane S of its N states
// (state n = s*NL + lane), so the state lives in registers and is never written to memory. A
// block of kFwdWarps warps covers BC consecutive channels of one batch row and walks the
// sequence in tiles of kT steps. Each tile's u, delta (bias and softplus applied), z, B and C are
// staged in shared memory (double-buffered; the next tile's global loads are issued into
// registers before the current tile is computed, so their latency hides behind the scan). The
// per-step sum over states (y = C.h) is a transposing warp reduction over the tile, and the
// epilogue (D*u, z gating, store) runs once per (t, d) over the whole block.
// With chunks over L (ScanArgs::tpc), block z scans one chunk of tiles. kSummary is the chunked
// scan's first pass: the chunk's state from zero and the product of its decays, no output.
#pragma once
#include "ops/selective_scan/scan_tile_cuda.cuh"

namespace coil::cuda::scan {

inline constexpr int kFwdWarps = 8, kFwdThreads = 32 * kFwdWarps;

template <int NL>
struct FwdShape {
  static constexpr int CPW = 32 / NL;              // channels per warp
  static constexpr int BC = kFwdWarps * CPW;       // channels per block
  static constexpr int E = kT * BC / kFwdThreads;  // tile elements per thread
};

// Floats of dynamic shared memory the forward needs.
inline int64_t forward_smem_floats(int BC, int bc_rows) {
  return (2 * (4 * BC + 2 * bc_rows) + BC) * int64_t(kPad);
}

template <int NL, int S, bool kReset, bool kSmemBC, bool kSummary>
__global__ void __launch_bounds__(kFwdThreads, 2)
    forward_kernel(const ScanArgs a, void* __restrict__ out, float* __restrict__ final_state,
                   float* __restrict__ ckpt) {
  constexpr int BC = FwdShape<NL>::BC, CPW = FwdShape<NL>::CPW, E = FwdShape<NL>::E;
  constexpr int NP = NL * S, kStepStride = kFwdThreads / BC;
  constexpr int RW = NL < 16 ? 16 : NL;  // steps per reduction of y over the lanes (registers)
  extern __shared__ float4 smem_f4[];
  float* const sm = reinterpret_cast<float*>(smem_f4);
  const int bc_rows = kSmemBC ? a.ngs * NP : 0;  // (group, state) rows of the B and C tiles
  const int buf_floats = (4 * BC + 2 * bc_rows) * kPad;
  float* const s_y = sm + 2 * buf_floats;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int l = lane % NL, cs = warp * CPW + lane / NL;
  const int64_t b = blockIdx.y, d0 = int64_t(blockIdx.x) * BC, d = d0 + cs;
  const bool dok = d < a.Dch;
  const int64_t g_lo = d0 / a.cpg, g = dok ? d / a.cpg : g_lo;
  const int gi = int(g - g_lo);
  const int64_t L = a.L, N = a.N, Dch = a.Dch;
  const int64_t chunk = blockIdx.z, k_begin = chunk * a.tpc;
  const int64_t k_end = k_begin + a.tpc < a.ntiles ? k_begin + a.tpc : a.ntiles;

  // The state entering the chunk: zero in the summary pass, else the combined carry or h0.
  const float* h_in = kSummary  ? nullptr
                      : a.carry ? a.carry + chunk_at(a, b, d, chunk, 0)
                      : a.h0    ? a.h0 + (b * Dch + d) * N
                                : nullptr;
  float A2[S], h[S], P[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = s * NL + l;
    const bool ok = dok && n < N;
    A2[s] = ok ? a.A[d * N + n] * kLog2e : 0.f;
    h[s] = ok && h_in ? h_in[n] : 0.f;
    P[s] = 1.f;
  }

  // Loader/epilogue slots: channel ec, steps et0 + i * kStepStride (fixed for the thread).
  const int ec = tid % BC, et0 = tid / BC;
  const int64_t ed = d0 + ec;
  const bool edok = ed < Dch;
  const float ebias = edok && a.bias ? a.bias[ed] : 0.f;
  const float eD = edok && a.D ? a.D[ed] : 0.f;

  uint32_t pu[E], pd[E], pz[E], pB[kBCSlots], pC[kBCSlots];
  bool pr = false;
  auto fetch = [&](int64_t k) {
    const int64_t tk = k * kT;
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int64_t t = tk + et0 + i * kStepStride;
      const bool ok = edok && t < L;
      pu[i] = ok ? load_raw(a.u, b * a.u_sb + t * a.u_st + ed, a.bf) : 0u;
      pd[i] = ok ? load_raw(a.delta, b * a.dl_sb + t * a.dl_st + ed, a.bf) : 0u;
      pz[i] = ok && a.z && !kSummary ? load_raw(a.z, b * a.z_sb + t * a.z_st + ed, a.bf) : 0u;
    }
    if constexpr (kSmemBC) {
#pragma unroll
      for (int j = 0; j < kBCSlots; ++j) {
        const int e = j * kFwdThreads + tid;
        const int tt = e / max(bc_rows, 1), rem = e - tt * bc_rows;
        const int64_t t = tk + tt, gg = g_lo + rem / NP, n = rem % NP;
        const bool ok = e < kT * bc_rows && t < L && n < N && gg < a.G;
        pB[j] = ok ? load_raw(a.B, b * a.B_sb + t * a.B_st + gg * N + n, a.bf) : 0u;
        pC[j] = ok && !kSummary ? load_raw(a.C, b * a.C_sb + t * a.C_st + gg * N + n, a.bf) : 0u;
      }
    }
    if constexpr (kReset) pr = tk + lane < L && a.reset[b * a.r_sb + (tk + lane) * a.r_st];
  };
  // Converts the prefetched tile k into buffer buf; returns the tile's reset mask (bit t: reset
  // before step t), the same in every warp.
  auto commit = [&](int64_t k, int buf) -> uint32_t {
    float* base = sm + buf * buf_floats;
    const int64_t tk = k * kT;
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStepStride;
      const bool ok = edok && tk + tt < L;
      const float u = raw_to_float(pu[i], a.bf), v = raw_to_float(pd[i], a.bf) + ebias;
      const float dt = ok ? (a.softplus ? softplus(v) : v) : 0.f;
      base[ec * kPad + tt] = dt;
      base[(BC + ec) * kPad + tt] = dt * u;
      base[(2 * BC + ec) * kPad + tt] = u;
      base[(3 * BC + ec) * kPad + tt] = raw_to_float(pz[i], a.bf);
    }
    if constexpr (kSmemBC) {
      float* sB = base + 4 * BC * kPad;
      float* sC = sB + bc_rows * kPad;
#pragma unroll
      for (int j = 0; j < kBCSlots; ++j) {
        const int e = j * kFwdThreads + tid;
        if (e < kT * bc_rows) {
          const int tt = e / bc_rows, rem = e - tt * bc_rows;
          sB[rem * kPad + tt] = raw_to_float(pB[j], a.bf);
          if constexpr (!kSummary) sC[rem * kPad + tt] = raw_to_float(pC[j], a.bf);
        }
      }
    }
    return kReset ? __ballot_sync(0xffffffffu, pr) : 0u;
  };

  fetch(k_begin);
  uint32_t mask = commit(k_begin, 0);
  __syncthreads();
  for (int64_t k = k_begin; k < k_end; ++k) {
    const int buf = int((k - k_begin) & 1);
    const int64_t tk = k * kT;
    if (k + 1 < k_end) fetch(k + 1);
    if (!kSummary && ckpt && dok) {
#pragma unroll
      for (int s = 0; s < S; ++s)
        if (s * NL + l < N) ckpt[((b * Dch + d) * a.ntiles + k) * N + s * NL + l] = h[s];
    }
    const float* base = sm + buf * buf_floats;
    const float* rdt = base + cs * kPad;
    const float* rx = base + (BC + cs) * kPad;
    const float* rB = base + 4 * BC * kPad + (gi * NP + l) * kPad;
    const float* rC = rB + bc_rows * kPad;
#pragma unroll
    for (int r0 = 0; r0 < kT; r0 += RW) {
      float yp[RW];
#pragma unroll
      for (int t4 = r0; t4 < r0 + RW; t4 += 4) {
        const float4 dt4 = *reinterpret_cast<const float4*>(rdt + t4);
        const float4 x4 = *reinterpret_cast<const float4*>(rx + t4);
        float4 B4[S], C4[S];
#pragma unroll
        for (int s = 0; s < S; ++s) {
          if constexpr (kSmemBC) {
            B4[s] = *reinterpret_cast<const float4*>(rB + s * NL * kPad + t4);
            if constexpr (!kSummary)
              C4[s] = *reinterpret_cast<const float4*>(rC + s * NL * kPad + t4);
          } else {
            float* bp = reinterpret_cast<float*>(&B4[s]);
            float* cp = reinterpret_cast<float*>(&C4[s]);
            const int64_t n = s * NL + l;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              const int64_t t = tk + t4 + j;
              const bool ok = t < L && n < N;
              bp[j] = ok ? load_float(a.B, b * a.B_sb + t * a.B_st + g * N + n, a.bf) : 0.f;
              cp[j] = ok ? load_float(a.C, b * a.C_sb + t * a.C_st + g * N + n, a.bf) : 0.f;
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
            const float bx = reinterpret_cast<const float*>(&B4[s])[j] * x;
            const bool rs = kReset && ((mask >> t) & 1u);
            h[s] = rs ? bx : fmaf(av, h[s], bx);
            if constexpr (kSummary) P[s] = rs ? 0.f : P[s] * av;
            else acc = fmaf(reinterpret_cast<const float*>(&C4[s])[j], h[s], acc);
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
    const float* su = base + 2 * BC * kPad;
    const float* sz = base + 3 * BC * kPad;
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStepStride;
      const int64_t t = tk + tt;
      if (edok && t < L) {
        float y = fmaf(eD, su[ec * kPad + tt], s_y[ec * kPad + tt]);
        if (a.z) {
          const float zz = sz[ec * kPad + tt];
          y *= zz * sigmoid(zz);
        }
        store_float(out, (b * L + t) * Dch + ed, y, a.bf);
      }
    }
    if (k + 1 < k_end) mask = commit(k + 1, buf ^ 1);
    __syncthreads();
  }
  if (dok) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int n = s * NL + l;
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
