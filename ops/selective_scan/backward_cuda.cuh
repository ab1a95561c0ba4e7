// The selective scan's CUDA backward kernel (included by ops/selective_scan/cuda.cu).
//
// Same layout as the forward (NL lanes per (b, d), S states per lane), walking the tiles from the
// last to the first. For each tile it recomputes the states from the tile's checkpoint (they stay
// in registers: S == 1 keeps every step's h of the tile; S > 1 works in windows of
// window_steps() steps, recomputing each window from the tile's start, or with kStage (8 lanes
// x 2 states) from the window's starting state saved by one pass over the tile), then runs the
// reverse scan
//   dh_t = C_t g_t + a_{t+1} dh_{t+1}
// and forms every gradient. dz needs y + D*u before the gate, which the forward stored next to
// the checkpoints (ypre), so y is not recomputed here; dz, dD's terms and the loader's
// conversions happen once per (t, d) when the tile is staged. Nothing is reduced with atomics:
// per-(t, n) dB/dC contributions of the block's channels are summed in shared memory in warp
// order and written as one partial per block (summed over blocks in order by a second kernel);
// dA, dD and ddelta_bias are summed over time in registers and written as one partial per batch
// row (and chunk).
// With chunks over L (ScanArgs::tpc), block z walks one chunk of tiles, starting from the dh that
// the combine carried out of the later chunks. kSummary is the chunked scan's first pass: the
// reverse dh scan of the chunk from zero and the product of its decays (no recompute, no
// gradients).
#pragma once
#include <type_traits>

#include "ops/selective_scan/backward_reduce_cuda.cuh"
#include "ops/selective_scan/scan_tile_cuda.cuh"

namespace coil::cuda::scan {

struct BwdArgs {
  const void* dout;
  const void* ypre;     // (Bt, L, Dch) y + D*u before the gate, from the forward; null without z
  const float* dfinal;  // (Bt, Dch, N) or null
  const float* ckpt;    // (Bt, Dch, ntiles, N)
  void *du, *ddelta, *dz;
  float *part_B, *part_C;   // (ncx, Bt, L, ngs, N): per-block sums over the block's channels
  float *pdA, *pD, *pbias;  // (nchunks, Bt, Dch, N), (nchunks, Bt, Dch) twice: per row, chunk
  float* dinit;             // (Bt, Dch, N) or null
};

// 16 lanes x 1 state: 16 warps of 512 threads, one block per SM at 128 registers (round 3).
// 8 lanes x 2 states (round 4): 8 warps of 256 threads, kMinBlocks per SM (the compiler keeps
// within 65536 / (threads kMinBlocks) registers), and kStage: the next tile's inputs wait in
// shared memory (f32: cp.async), not in registers held across the scan, B/C tiles
// double-buffered, and the values kept from the commit to the epilogue (u, softplus') and the
// thread's B/C slots in shared memory too.
// 4 lanes x 4 states (round 5): 4 warps of 128 threads over the same 32 channels, 3 blocks per
// SM (12 warps; 396 resident blocks on 132 SMs hold Bt 8 x Dch 1536's 384 in one wave). Staged
// like round 4, but for 3 blocks' shared memory to fit in an SM the plane s_x holds u (x = dt u
// is formed where it is read: a quarter multiply per state-step) and the B/C slots are one row
// per thread in 4 registers (BCRowSlots). Per state-step: half the plane reads, one
// lane-reduction level fewer for the per-step sums over states, and a block's dB/dC sum adds 4
// warp partials instead of 8.
template <int NL>
struct BwdShape {
  static constexpr int kWarps = NL == 16 ? 16 : NL == 4 ? 4 : 8, kThreads = 32 * kWarps;
  static constexpr int CPW = 32 / NL, BC = kWarps * CPW, E = kT * BC / kThreads;
  // 0: none (ptxas' own register target)
  static constexpr int kMinBlocks = NL == 8 ? 2 : NL == 4 ? 3 : 0;
  static constexpr bool kStage = NL <= 8, kPlaneU = NL == 4;
  using Slots =
      std::conditional_t<kPlaneU, BCRowSlots<kBCElems / kThreads>, BCSlots<kBCElems / kThreads>>;
  // Staging floats per thread: 5 input columns of E slots, S checkpoint states, the S states
  // entering each of the tile's kT / 8 windows, softplus' x E, and (round 4) u x E and the B/C
  // slots.
  static constexpr int kStageFloats =
      kStage ? 6 * E + (1 + kT / 8) * (32 / NL / 2) + (kPlaneU ? 0 : E + int(sizeof(Slots)) / 4)
             : 0;
};

// Planes of the dB/dC staging area per warp: NL < 32 pre-reduces the warp's CPW channels (one
// group) with shuffles, so that each lane stages one value (stage_dbc); NL == 32 stages dB and
// dC of every slot.
template <int NL, int S>
constexpr int red_planes() {
  return NL < 32 ? 1 : 2 * S;
}

// Steps per window of the reverse scan (states kept in registers): the whole tile for S == 1.
template <int NL, int S>
constexpr int window_steps() {
  return S == 1 ? kT : BwdShape<NL>::kStage ? 8 : kT / S;
}

// Shared memory: 5 channel planes (dt, dt*u, the gated dout g, and the per-step sums pb, aq),
// the B and C tiles, the dB/dC staging area, and one warp mask per group slot. With kStage, a
// second B/C buffer and the staging area (kStageFloats per thread) follow.
template <int NL, int S>
int64_t backward_smem_floats(int bc_rows) {
  using Sh = BwdShape<NL>;
  const int W = window_steps<NL, S>(), nbuf = Sh::kStage ? 2 : 1;
  const int64_t red = int64_t(Sh::kWarps) * red_planes<NL, S>() * 32 * (W + 1);
  return int64_t(5 * Sh::BC + 2 * nbuf * bc_rows) * kPad +
         std::max<int64_t>(red, 2 * Sh::kThreads) + Sh::BC + Sh::kStageFloats * Sh::kThreads;
}

template <class T, int NL, int S, bool kReset, bool kSmemBC, bool kSummary>
__global__ void __launch_bounds__(BwdShape<NL>::kThreads, BwdShape<NL>::kMinBlocks)
    backward_kernel(const ScanArgs a, const BwdArgs o) {
  using Sh = BwdShape<NL>;
  constexpr int BC = Sh::BC, CPW = Sh::CPW, E = Sh::E, kThreads = Sh::kThreads;
  constexpr int NP = NL * S, W = window_steps<NL, S>(), K = red_planes<NL, S>(),
                kStride = kThreads / BC;
  constexpr int RW = NL < 32 ? NL : W;  // steps per reduction of the per-step sums over states
  constexpr int kQ = K * 32;            // staged values per (warp, step)
  constexpr bool kStage = Sh::kStage, kAsync = kStage && sizeof(T) == 4;
  constexpr bool kPlaneU = Sh::kPlaneU;  // s_x holds u, not dt * u
  constexpr int kSlots = kBCElems / kThreads;
  using Slots = typename Sh::Slots;
  static_assert(!kStage || Sh::kStageFloats == 6 * E + (1 + kT / W) * S +
                                                   (kPlaneU ? 0 : E + int(sizeof(Slots)) / 4),
                "staging layout");
  static_assert((kQ & (kQ - 1)) == 0, "staged values per step must be a power of two");
  extern __shared__ float4 smem_f4[];
  float* const sm = reinterpret_cast<float*>(smem_f4);
  const int bc_rows = kSmemBC ? a.ngs * NP : 0;
  float* const s_dt = sm;                  // delta after bias and softplus
  float* const s_x = sm + BC * kPad;       // dt * u (kPlaneU: u)
  float* const s_g = sm + 2 * BC * kPad;   // dout * silu(z)
  float* const s_pb = sm + 3 * BC * kPad;  // sum_n dh B
  float* const s_aq = sm + 4 * BC * kPad;  // sum_n A a h_prev dh
  float* const s_B0 = sm + 5 * BC * kPad;  // B/C tiles (kStage: buffer k % 2 holds tile k)
  auto bc_buf = [&](int k) { return s_B0 + (kStage ? (k & 1) * 2 * bc_rows * kPad : 0); };
  float* const s_red = s_B0 + (kStage ? 4 : 2) * bc_rows * kPad;
  // Per group slot (group - first group of the block): the mask of warps whose channels are in
  // it, so that the dB/dC reduction sums exactly those, in warp order.
  uint32_t* const s_wmask =
      reinterpret_cast<uint32_t*>(s_red + std::max(Sh::kWarps * K * 32 * (W + 1), 2 * kThreads));
  // kStage: this thread's staging slots, slot j at s_stage[j * kThreads]: input columns
  // (u, delta, dout, z, ypre) x E, then S checkpoint states, then (round 4) u x E, softplus' x E.
  float* const s_stage = reinterpret_cast<float*>(s_wmask) + BC + threadIdx.x;
  float* const s_keep = s_stage + (5 * E + S) * kThreads;  // u (round 4)
  float* const s_sig = s_keep + (kPlaneU ? 0 : E) * kThreads;
  float* const s_hst = s_sig + E * kThreads;  // state s entering window j: [j * S + s]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int l = lane % NL, cs = warp * CPW + lane / NL;
  const int64_t b = blockIdx.y, cx = blockIdx.x, d0 = cx * BC, d = d0 + cs;
  const bool dok = d < a.Dch;
  const int64_t g_lo = d0 / a.cpg, g = dok ? d / a.cpg : g_lo;
  const int gi = int(g - g_lo);
  const int64_t L = a.L, N = a.N, Dch = a.Dch;
  const int chunk = blockIdx.z, k_begin = chunk * int(a.tpc);
  const int k_end = int(min(k_begin + a.tpc, a.ntiles));
  const int64_t row = chunk * a.Bt + b;  // partial-sum row of dA, dD, ddelta_bias
  // The dh leaving the chunk: zero in the summary pass, else the combined carry or dfinal.
  const float* dh_in = kSummary   ? nullptr
                       : a.carry  ? a.carry + chunk_at(a, b, d, chunk, 0)
                       : o.dfinal ? o.dfinal + (b * Dch + d) * N
                                  : nullptr;
  const int64_t g_hi = ((d0 + BC < Dch ? d0 + BC : Dch) - 1) / a.cpg;  // last group here
  if (tid < a.ngs) {
    uint32_t m = 0;
    for (int w = 0; w < Sh::kWarps; ++w) {
      const int64_t dw = d0 + w * CPW;
      if (dw < Dch && dw / a.cpg - g_lo == tid) m |= 1u << w;
    }
    s_wmask[tid] = m;
  }

  // Round 5 permutes each lane's state slots for stage_dbc (slot s holds state sn(s)).
  auto sn = [&](int s) { return slot_state<NL, S, kPlaneU>(s, lane); };
  float A[S], A2[S], dh_after[S], dA_acc[S], P[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = sn(s);
    const bool ok = dok && n < N;
    A[s] = ok ? a.A[d * N + n] : 0.f;
    A2[s] = A[s] * kLog2e;
    dh_after[s] = ok && dh_in ? dh_in[n] : 0.f;
    dA_acc[s] = 0.f;
    P[s] = 1.f;
  }
  const float* const ck = dok ? o.ckpt + (b * Dch + d) * a.ntiles * N + l : nullptr;

  // Loader/epilogue slots: channel ec, steps et0 + i * kStride (fixed for the thread).
  const LoaderSlots<T, BC, Sh::kWarps> slots(warp, lane);
  const int ec = slots.ec, et0 = slots.et0;
  const int64_t ed = d0 + ec, edc = ed < Dch ? ed : Dch - 1;
  const bool edok = ed < Dch;
  const float ebias = edok && a.bias ? a.bias[ed] : 0.f;
  const float eD = edok && a.D ? a.D[ed] : 0.f;
  const bool has_z = a.z != nullptr;
  float eD_acc = 0.f, ebias_acc = 0.f;
  const T* const Bb = static_cast<const T*>(a.B) + b * a.B_sb;
  const T* const Cb = static_cast<const T*>(a.C) + b * a.C_sb;
  // kStage (round 4): this thread's B/C slots live in shared memory (13 words apart: no bank
  // conflicts), read once per tile, instead of in registers.
  Slots bcs_reg;
  Slots& bcs = kStage && !kPlaneU
                   ? reinterpret_cast<Slots*>(s_hst + kT / W * S * kThreads - threadIdx.x)[tid]
                   : bcs_reg;
  if constexpr (kSmemBC) bcs.init(tid, kThreads, bc_rows, NP, g_lo, a.G, N);
  const int64_t nc = l < N ? l : N - 1;
  const T* const Bl = Bb + g * N + nc;
  const T* const Cl = Cb + g * N + nc;

  // Input columns 0 u, 1 delta, 2 dout, 3 z, 4 ypre of the next tile (round 5's bf16: two slots
  // a register).
  std::conditional_t<kPlaneU && sizeof(T) == 2, PackedColumns<E, kStride, 5>,
                     Columns<T, E, kStride, 5, kThreads, kAsync>>
      col;
  col.stage = s_stage;
  std::conditional_t<kPlaneU && sizeof(T) == 2, uint32_t[kSlots / 2], T[kSlots]> pB, pC;
  float ph0[S];
  bool pr = false;
  // Kept from the commit of a tile to its du / ddelta epilogue: u, d softplus, and D * g.
  float eu[E], esig[E], eDg[E];
  auto fetch = [&](int k) {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    col.load(0, a.u, a.u_sb, a.u_st, b, edc, tk, et0, last);
    col.load(1, a.delta, a.dl_sb, a.dl_st, b, edc, tk, et0, last);
    col.load(2, o.dout, L * Dch, Dch, b, edc, tk, et0, last);
    if (has_z) col.load(3, a.z, a.z_sb, a.z_st, b, edc, tk, et0, last);
    if (has_z && !kSummary) col.load(4, o.ypre, L * Dch, Dch, b, edc, tk, et0, last);
    if constexpr (kSmemBC) {
      float* const sB = bc_buf(k);
      if constexpr (kAsync) {
        if constexpr (!kSummary)
          bcs.load_async(sB, reinterpret_cast<const float*>(Bb), a.B_st, tk, last);
        bcs.load_async(sB + bc_rows * kPad, reinterpret_cast<const float*>(Cb), a.C_st, tk, last);
      } else {
        if constexpr (!kSummary) bcs.load(pB, Bb, a.B_st, tk, last);
        bcs.load(pC, Cb, a.C_st, tk, last);
      }
    }
    if constexpr (!kSummary) {
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const bool ok = ck && sn(s) < N;
        if constexpr (kAsync)
          cp_async4(s_stage + (5 * E + s) * kThreads,
                    ok ? ck + int64_t(k) * N + (sn(s) - l) : o.ckpt, !ok);
        else ph0[s] = ok ? ck[int64_t(k) * N + (sn(s) - l)] : 0.f;
      }
    }
    if constexpr (kReset) pr = tk + lane < L && a.reset[b * a.r_sb + (tk + lane) * a.r_st];
  };
  // Stages tile k (steps past L: dt = 0 and g = 0, so they change nothing), stores its dz and
  // adds its dD terms; returns the tile's reset mask.
  auto commit = [&](int k) -> uint32_t {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    T* const dzrow = opaque(static_cast<T*>(o.dz) + (b * L + tk) * Dch + ed);
    if constexpr (kAsync) async_wait();
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStride, at = ec * kPad + tt;
      const bool ok = edok && tt <= last;
      const float u = col.get(0, i), v = col.get(1, i) + ebias, dout = col.get(2, i);
      float sig = 1.f;
      const float dt = ok ? (a.softplus ? softplus(v, &sig) : v) : 0.f;
      float g = dout;
      if (has_z) {
        const float zz = col.get(3, i), sz = sigmoid(zz);
        g = dout * zz * sz;
        if (!kSummary && ok && o.dz)
          __stcs(dzrow + uint32_t(tt) * uint32_t(Dch),
                 from_f<T>(dout * col.get(4, i) * sz * fmaf(zz, 1.f - sz, 1.f)));
      }
      g = ok ? g : 0.f;
      s_dt[at] = dt;
      s_x[at] = ok ? (kPlaneU ? u : dt * u) : 0.f;
      s_g[at] = g;
      if constexpr (!kSummary) {
        if (ok) eD_acc = fmaf(g, u, eD_acc);
        if constexpr (kStage) {
          if constexpr (!kPlaneU) s_keep[i * kThreads] = u;
          s_sig[i * kThreads] = sig;
        } else {
          eu[i] = u, esig[i] = sig, eDg[i] = eD * g;
        }
      }
    }
    if constexpr (kSmemBC && !kAsync) {
      float* const sB = bc_buf(k);
      if constexpr (!kSummary) bcs.commit(pB, sB);
      bcs.commit(pC, sB + bc_rows * kPad);
    }
    return kReset ? __ballot_sync(0xffffffffu, pr) : 0u;
  };
  // B or C of state slot s at tile step t (tile starting at tk, last step `last`).
  auto bc_at = [&](const float* srow, const T* gl, int64_t st, int tk, int last, int t,
                   int s) -> float {
    if constexpr (kSmemBC) {
      return srow[(gi * NP + sn(s)) * kPad + t];
    } else {
      return sn(s) < N ? to_f(__ldg(gl + (tk + min(t, last)) * st + (sn(s) - l))) : 0.f;
    }
  };
  auto step = [&](float(&h)[S], const float* sB, int tk, int last, int t, uint32_t mask) {
    const float dt = s_dt[cs * kPad + t], x = s_x[cs * kPad + t];
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const float bx = bc_at(sB, Bl, a.B_st, tk, last, t, s) * x;
      const float av = ex2(dt * A2[s]);
      h[s] = kReset && ((mask >> t) & 1u) ? bx : fmaf(av, h[s], bx);
    }
  };
  // x = dt * u of this thread's channel at steps t4 .. t4 + 3 (t4 a multiple of 4).
  auto plane_x = [&](int t4, const float4& dt4) -> float4 {
    const float4 v = ld4(s_x + cs * kPad + t4);
    if constexpr (!kPlaneU) return v;
    else return make_float4(dt4.x * v.x, dt4.y * v.y, dt4.z * v.z, dt4.w * v.w);
  };
  // kStage: steps t4 .. t4 + 3 (t4 a multiple of 4) from float4 reads of the planes and the
  // shared B tile; keep(j) runs after step t4 + j.
  auto step4 = [&](float(&h)[S], const float* sB, int t4, uint32_t mask, auto&& keep) {
    const float4 dt4 = ld4(s_dt + cs * kPad + t4), x4 = plane_x(t4, dt4);
    float4 B4[S];
#pragma unroll
    for (int s = 0; s < S; ++s) B4[s] = ld4(sB + (gi * NP + sn(s)) * kPad + t4);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const bool rs = kReset && ((mask >> (t4 + j)) & 1u);
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const float bx = el(B4[s], j) * el(x4, j), av = ex2(el(dt4, j) * A2[s]);
        h[s] = rs ? bx : fmaf(av, h[s], bx);
      }
      keep(j);
    }
  };

  // dB/dC reduction outputs of this thread: e = tid + r * kThreads over (step, group slot, q),
  // advanced by carries instead of divisions.
  const int per_step = a.ngs * kQ;
  const int e_tw0 = tid / per_step, e_rem0 = tid - e_tw0 * per_step;
  const int e_dtw = kThreads / per_step, e_drem = kThreads - e_dtw * per_step;
  float* const pB_blk = o.part_B + (cx * a.Bt + b) * L * a.ngs * N;
  float* const pC_blk = o.part_C + (cx * a.Bt + b) * L * a.ngs * N;
  // Round 5: per_step divides kThreads (ngs <= 2), so this thread's outputs keep one (group
  // slot, staged value q) at window steps e_tw0 + i * e_dtw, and their address is set once here.
  const int own_gslot = e_rem0 / kQ, own_q = e_rem0 & (kQ - 1);
  const int own_n = (own_q / NL / 2) * NL + own_q % NL;
  const bool own_ok = g_lo + own_gslot <= g_hi && own_n < N;
  float* const own_part = ((own_q / NL) & 1 ? pC_blk : pB_blk) + own_gslot * N + own_n;
  const int own_step = a.ngs * int(N);  // partial-sum elements per time step
  // Sum of staged value q of group slot gslot at window step tw over the slot's warps, in warp
  // order.
  auto warp_sum = [&](int q, int gslot, int tw) -> float {
    const uint32_t wm = s_wmask[gslot];
    const float* src = s_red + q * (W + 1) + tw;
    float sum = 0.f;
    if (wm == (1u << Sh::kWarps) - 1) {
#pragma unroll
      for (int w = 0; w < Sh::kWarps; ++w) sum += src[w * kQ * (W + 1)];
    } else {
#pragma unroll
      for (int w = 0; w < Sh::kWarps; ++w)
        if ((wm >> w) & 1u) sum += src[w * kQ * (W + 1)];
    }
    return sum;
  };

  fetch(k_end - 1);
  for (int k = k_end - 1; k >= k_begin; --k) {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    const uint32_t mask = commit(k);
    const float* const sB = bc_buf(k);  // this tile's B and C
    const float* const sC = sB + bc_rows * kPad;
    float h0[S];
#pragma unroll
    for (int s = 0; s < S; ++s) h0[s] = kAsync ? s_stage[(5 * E + s) * kThreads] : ph0[s];
    __syncthreads();
    if (k > k_begin) fetch(k - 1);
    if constexpr (kSummary) {
#pragma unroll
      for (int t = kT - 1; t >= 0; --t) {
        const float gt = s_g[cs * kPad + t], dtt = s_dt[cs * kPad + t];
        const bool rs = kReset && ((mask >> t) & 1u);
#pragma unroll
        for (int s = 0; s < S; ++s) {
          const float av = rs ? 0.f : ex2(dtt * A2[s]);
          const float Cn = bc_at(sC, Cl, a.C_st, tk, last, t, s);
          dh_after[s] = av * fmaf(Cn, gt, dh_after[s]);
          P[s] *= av;
        }
      }
      __syncthreads();  // the next commit overwrites the tile
    } else {
      // 1. With one slot per lane, recompute every state h_t of the tile.
      float hs[S == 1 ? kT : 1];
      if constexpr (S == 1) {
        float h = h0[0];
#pragma unroll
        for (int t4 = 0; t4 < kT; t4 += 4) {
          const float4 dt4 = ld4(s_dt + cs * kPad + t4), x4 = ld4(s_x + cs * kPad + t4);
          float Bv[4];
          if constexpr (kSmemBC) {
            const float4 B4 = ld4(sB + (gi * NP + l) * kPad + t4);
#pragma unroll
            for (int j = 0; j < 4; ++j) Bv[j] = el(B4, j);
          } else {
#pragma unroll
            for (int j = 0; j < 4; ++j) Bv[j] = bc_at(sB, Bl, a.B_st, tk, last, t4 + j, 0);
          }
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float bx = Bv[j] * el(x4, j), av = ex2(el(dt4, j) * A2[0]);
            h = kReset && ((mask >> (t4 + j)) & 1u) ? bx : fmaf(av, h, bx);
            hs[t4 + j] = h;
          }
        }
      } else if constexpr (kStage) {
        // The state entering every window, kept in this thread's staging slots.
        float h[S];
#pragma unroll
        for (int s = 0; s < S; ++s) h[s] = h0[s], s_hst[s * kThreads] = h[s];
#pragma unroll 1
        for (int t4 = 0; t4 < kT - W; t4 += 4) {
          step4(h, sB, t4, mask, [](int) {});
          if ((t4 + 4) % W == 0) {
#pragma unroll
            for (int s = 0; s < S; ++s) s_hst[((t4 + 4) / W * S + s) * kThreads] = h[s];
          }
        }
      }
      // 2. Reverse scan, window by window (one window of kT steps when S == 1).
#pragma unroll 1
      for (int j = kT / W - 1; j >= 0; --j) {
        const int tw0 = S == 1 ? 0 : j * W;  // a compile-time 0 keeps hs[] in registers
        float hw[W][S], hstart[S];           // the window's states (S > 1)
        if constexpr (S > 1) {
          // The state entering the window: staged, or recomputed from the tile's start.
          float h[S];
#pragma unroll
          for (int s = 0; s < S; ++s) h[s] = kStage ? s_hst[(j * S + s) * kThreads] : h0[s];
          if constexpr (!kStage) {
#pragma unroll 1
            for (int t = 0; t < tw0; ++t) step(h, sB, tk, last, t, mask);
          }
#pragma unroll
          for (int s = 0; s < S; ++s) hstart[s] = h[s];
          if constexpr (kStage) {
#pragma unroll
            for (int t4 = 0; t4 < W; t4 += 4)
              step4(h, sB, tw0 + t4, mask, [&](int j) {
#pragma unroll
                for (int s = 0; s < S; ++s) hw[t4 + j][s] = h[s];
              });
          } else {
#pragma unroll
            for (int t = 0; t < W; ++t) {
              step(h, sB, tk, last, tw0 + t, mask);
#pragma unroll
              for (int s = 0; s < S; ++s) hw[t][s] = h[s];
            }
          }
        } else {
          hstart[0] = h0[0];
#pragma unroll
          for (int t = 0; t < W; ++t) hw[t][0] = hs[t];
        }
#pragma unroll
        for (int r0 = W - RW; r0 >= 0; r0 -= RW) {
          float pbv[RW], aqv[RW];
          // Steps (t & ~3) .. (t | 3), loaded at the group's last step; B, C: shared tiles.
          float4 g4, x4, dt4, B4[S], C4[S];
#pragma unroll
          for (int r = RW - 1; r >= 0; --r) {
            const int tw = r0 + r, t = tw0 + tw;
            if ((r & 3) == 3) {
              g4 = ld4(s_g + cs * kPad + t - 3);
              dt4 = ld4(s_dt + cs * kPad + t - 3);
              x4 = plane_x(t - 3, dt4);
              if constexpr (kSmemBC) {
#pragma unroll
                for (int s = 0; s < S; ++s) {
                  B4[s] = ld4(sB + (gi * NP + sn(s)) * kPad + t - 3);
                  C4[s] = ld4(sC + (gi * NP + sn(s)) * kPad + t - 3);
                }
              }
            }
            const float gt = el(g4, t & 3), xt = el(x4, t & 3), dtt = el(dt4, t & 3);
            const bool rs = kReset && ((mask >> t) & 1u);
            float pb = 0.f, aq = 0.f, dBv[S], dCv[S];
#pragma unroll
            for (int s = 0; s < S; ++s) {
              const float Bn = kSmemBC ? el(B4[s], t & 3) : bc_at(sB, Bl, a.B_st, tk, last, t, s);
              const float Cn = kSmemBC ? el(C4[s], t & 3) : bc_at(sC, Cl, a.C_st, tk, last, t, s);
              const float hp = tw == 0 ? hstart[s] : hw[tw > 0 ? tw - 1 : 0][s];
              const float av = rs ? 0.f : ex2(dtt * A2[s]);
              const float dh = fmaf(Cn, gt, dh_after[s]);
              const float q = dh * av * hp;
              dA_acc[s] = fmaf(q, dtt, dA_acc[s]);
              pb = fmaf(dh, Bn, pb);
              aq = fmaf(A[s], q, aq);
              dBv[s] = dh * xt;
              dCv[s] = gt * hw[tw][s];
              dh_after[s] = av * dh;
            }
            pbv[r] = pb;
            aqv[r] = aq;
            if constexpr (NL < 32) {
              float v[2 * S];
#pragma unroll
              for (int s = 0; s < S; ++s) v[2 * s] = dBv[s], v[2 * s + 1] = dCv[s];
              s_red[(warp * 32 + lane) * (W + 1) + tw] = stage_dbc<NL, S, kPlaneU>(v, lane);
            } else {
#pragma unroll
              for (int s = 0; s < S; ++s) {
                s_red[((warp * K + 2 * s) * 32 + lane) * (W + 1) + tw] = dBv[s];
                s_red[((warp * K + 2 * s + 1) * 32 + lane) * (W + 1) + tw] = dCv[s];
              }
            }
          }
          reduce_steps_to<NL, RW>(pbv, l, s_pb + cs * kPad, tw0 + r0);
          reduce_steps_to<NL, RW>(aqv, l, s_aq + cs * kPad, tw0 + r0);
        }
        __syncthreads();
        // dB, dC: sum the block's channels of each group in warp order -> one partial per block.
        if constexpr (kPlaneU) {
          float* const part = own_part + int64_t(tk) * own_step;
          for (int tw = e_tw0; tw < W; tw += e_dtw)
            if (own_ok && tw0 + tw <= last)
              part[uint32_t(tw0 + tw) * uint32_t(own_step)] = warp_sum(own_q, own_gslot, tw);
        } else {
          for (int tw = e_tw0, rem = e_rem0; tw < W;) {
            const int gslot = rem / kQ, q = rem & (kQ - 1);
            // NL < 32: q is the staging lane (stage_dbc); NL == 32: (slot, tensor, lane).
            const int tensor = NL < 32 ? (q / NL) & 1 : (q >> 5) & 1;
            const int n = NL < 32 ? (q / NL / 2) * NL + q % NL : (q >> 6) * 32 + (q & 31);
            const int t = tw0 + tw;
            if (t <= last && g_lo + gslot <= g_hi && n < N) {
              float* part = tensor == 0 ? pB_blk : pC_blk;
              part[((tk + t) * a.ngs + gslot) * N + n] = warp_sum(q, gslot, tw);
            }
            tw += e_dtw, rem += e_drem;
            if (rem >= per_step) rem -= per_step, ++tw;
          }
        }
        if (j > 0) __syncthreads();  // the next window restages s_red
      }
      // du, ddelta, and the ddelta_bias sum, once per (t, d) of the tile (the planes s_pb and
      // s_aq hold every window's steps).
      const int64_t orow = (b * L + tk) * Dch + ed;
      T* const du_row = opaque(static_cast<T*>(o.du) + orow);
      T* const dd_row = opaque(static_cast<T*>(o.ddelta) + orow);
#pragma unroll
      for (int i = 0; i < E; ++i) {
        const int tt = et0 + i * kStride, at = ec * kPad + tt;
        if (edok && tt <= last) {
          const float pb = s_pb[at];
          const uint32_t oi = uint32_t(tt) * uint32_t(Dch);
          const float Dg = kStage ? eD * s_g[at] : eDg[i];
          if (o.du) __stcs(du_row + oi, from_f<T>(fmaf(s_dt[at], pb, Dg)));
          const float ui = kStage ? (kPlaneU ? s_x[at] : s_keep[i * kThreads]) : eu[i];
          const float sg = kStage ? s_sig[i * kThreads] : esig[i];
          const float dd = fmaf(ui, pb, s_aq[at]) * sg;
          ebias_acc += dd;
          if (o.ddelta) __stcs(dd_row + oi, from_f<T>(dd));
        }
      }
      __syncthreads();  // the next commit overwrites the planes
    }
  }
  if (dok) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int64_t n = sn(s);
      if (n >= N) continue;
      if constexpr (kSummary) {
        a.sum_P[chunk_at(a, b, d, chunk, n)] = P[s];
        a.sum_h[chunk_at(a, b, d, chunk, n)] = dh_after[s];
      } else {
        if (o.dinit && chunk == 0) o.dinit[(b * Dch + d) * N + n] = dh_after[s];
        o.pdA[(row * Dch + d) * N + n] = dA_acc[s];
      }
    }
  }
  if constexpr (kSummary) return;
  // dD and ddelta_bias: the kStride loader threads of each channel (slots et0 = 0 .. kStride),
  // summed in slot order.
  s_red[ec * kStride + et0] = eD_acc;
  s_red[kThreads + ec * kStride + et0] = ebias_acc;
  __syncthreads();
  if (tid < BC && d0 + tid < Dch) {
    float sD = 0.f, sb = 0.f;
    for (int j = 0; j < kStride; ++j) {
      sD += s_red[tid * kStride + j];
      sb += s_red[kThreads + tid * kStride + j];
    }
    o.pD[row * Dch + d0 + tid] = sD;
    o.pbias[row * Dch + d0 + tid] = sb;
  }
}

}  // namespace coil::cuda::scan
