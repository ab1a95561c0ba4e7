// The selective scan's CUDA backward kernel (included by ops/selective_scan/cuda.cu).
//
// Same layout as the forward (NL lanes per (b, d), S states per lane), walking the tiles from the
// last to the first. For each tile it recomputes the states from the tile's checkpoint (they stay
// in registers: S == 1 keeps every step's h of the tile; S > 1 recomputes windows of kT/S
// steps), then runs the reverse scan
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

template <int NL>
struct BwdShape {
  static constexpr int kWarps = NL == 16 ? 16 : 8, kThreads = 32 * kWarps;
  static constexpr int CPW = 32 / NL, BC = kWarps * CPW, E = kT * BC / kThreads;
};

// Planes of the dB/dC staging area per warp: NL == 16 pre-reduces its two channels with one
// shuffle (lanes < 16 keep dB, lanes >= 16 dC), NL == 32 stages dB and dC of every slot.
template <int NL, int S>
constexpr int red_planes() {
  return NL == 16 ? 1 : 2 * S;
}

// Shared memory: 5 channel planes (dt, dt*u, the gated dout g, and the per-step sums pb, aq),
// the B and C tiles, the dB/dC staging area, and one warp mask per group slot.
inline int64_t backward_smem_floats(int NL, int S, int bc_rows) {
  const int warps = NL == 16 ? 16 : 8, BC = warps * (32 / NL), W = kT / S;
  const int64_t red = int64_t(warps) * (NL == 16 ? 1 : 2 * S) * 32 * (W + 1);
  return int64_t(5 * BC + 2 * bc_rows) * kPad + std::max<int64_t>(red, 2 * 32 * warps) + BC;
}

template <class T, int NL, int S, bool kReset, bool kSmemBC, bool kSummary>
__global__ void __launch_bounds__(BwdShape<NL>::kThreads)
    backward_kernel(const ScanArgs a, const BwdArgs o) {
  using Sh = BwdShape<NL>;
  constexpr int BC = Sh::BC, CPW = Sh::CPW, E = Sh::E, kThreads = Sh::kThreads;
  constexpr int NP = NL * S, W = kT / S, K = red_planes<NL, S>(), kStride = kThreads / BC;
  constexpr int RW = NL == 16 ? 16 : W;  // steps per reduction of the per-step sums over states
  constexpr int kQ = K * 32;             // staged values per (warp, step)
  static_assert(NL != 16 || S == 1, "the pre-reduced dB/dC staging assumes one slot");
  static_assert((kQ & (kQ - 1)) == 0, "staged values per step must be a power of two");
  extern __shared__ float4 smem_f4[];
  float* const sm = reinterpret_cast<float*>(smem_f4);
  const int bc_rows = kSmemBC ? a.ngs * NP : 0;
  float* const s_dt = sm;                  // delta after bias and softplus
  float* const s_x = sm + BC * kPad;       // dt * u
  float* const s_g = sm + 2 * BC * kPad;   // dout * silu(z)
  float* const s_pb = sm + 3 * BC * kPad;  // sum_n dh B
  float* const s_aq = sm + 4 * BC * kPad;  // sum_n A a h_prev dh
  float* const s_B = sm + 5 * BC * kPad;
  float* const s_C = s_B + bc_rows * kPad;
  float* const s_red = s_C + bc_rows * kPad;
  // Per group slot (group - first group of the block): the mask of warps whose channels are in
  // it, so that the dB/dC reduction sums exactly those, in warp order.
  uint32_t* const s_wmask =
      reinterpret_cast<uint32_t*>(s_red + std::max(Sh::kWarps * K * 32 * (W + 1), 2 * kThreads));

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

  float A[S], A2[S], dh_after[S], dA_acc[S], P[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int n = s * NL + l;
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
  constexpr int kSlots = kBCElems / kThreads;
  BCSlots<kSlots> bcs;
  if constexpr (kSmemBC) bcs.init(tid, kThreads, bc_rows, NP, g_lo, a.G, N);
  const int64_t nc = l < N ? l : N - 1;
  const T* const Bl = Bb + g * N + nc;
  const T* const Cl = Cb + g * N + nc;

  T pu[E], pd[E], pz[E], pdo[E], py[E], pB[kSlots], pC[kSlots];
  float ph0[S];
  bool pr = false;
  // Kept from the commit of a tile to its du / ddelta epilogue: u, d softplus, and D * g.
  float eu[E], esig[E], eDg[E];
  auto fetch = [&](int k) {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    load_column<E, kStride>(pu, a.u, a.u_sb, a.u_st, b, edc, tk, et0, last);
    load_column<E, kStride>(pd, a.delta, a.dl_sb, a.dl_st, b, edc, tk, et0, last);
    load_column<E, kStride>(pdo, o.dout, L * Dch, Dch, b, edc, tk, et0, last);
    if (has_z) load_column<E, kStride>(pz, a.z, a.z_sb, a.z_st, b, edc, tk, et0, last);
    if (has_z && !kSummary)
      load_column<E, kStride>(py, o.ypre, L * Dch, Dch, b, edc, tk, et0, last);
    if constexpr (kSmemBC) {
      if constexpr (!kSummary) bcs.load(pB, Bb, a.B_st, tk, last);
      bcs.load(pC, Cb, a.C_st, tk, last);
    }
    if constexpr (!kSummary) {
#pragma unroll
      for (int s = 0; s < S; ++s) ph0[s] = ck && s * NL + l < N ? ck[int64_t(k) * N + s * NL] : 0.f;
    }
    if constexpr (kReset) pr = tk + lane < L && a.reset[b * a.r_sb + (tk + lane) * a.r_st];
  };
  // Stages tile k (steps past L: dt = 0 and g = 0, so they change nothing), stores its dz and
  // adds its dD terms; returns the tile's reset mask.
  auto commit = [&](int k) -> uint32_t {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    T* const dzrow = opaque(static_cast<T*>(o.dz) + (b * L + tk) * Dch + ed);
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStride, at = ec * kPad + tt;
      const bool ok = edok && tt <= last;
      const float u = to_f(pu[i]), v = to_f(pd[i]) + ebias, dout = to_f(pdo[i]);
      float sig = 1.f;
      const float dt = ok ? (a.softplus ? softplus(v, &sig) : v) : 0.f;
      float g = dout;
      if (has_z) {
        const float zz = to_f(pz[i]), sz = sigmoid(zz);
        g = dout * zz * sz;
        if (!kSummary && ok && o.dz)
          __stcs(dzrow + uint32_t(tt) * uint32_t(Dch),
                 from_f<T>(dout * to_f(py[i]) * sz * fmaf(zz, 1.f - sz, 1.f)));
      }
      g = ok ? g : 0.f;
      s_dt[at] = dt;
      s_x[at] = ok ? dt * u : 0.f;
      s_g[at] = g;
      if constexpr (!kSummary) {
        if (ok) eD_acc = fmaf(g, u, eD_acc);
        eu[i] = u, esig[i] = sig, eDg[i] = eD * g;
      }
    }
    if constexpr (kSmemBC) {
      if constexpr (!kSummary) bcs.commit(pB, s_B);
      bcs.commit(pC, s_C);
    }
    return kReset ? __ballot_sync(0xffffffffu, pr) : 0u;
  };
  // B or C of state slot s at tile step t (tile starting at tk, last step `last`).
  auto bc_at = [&](const float* srow, const T* gl, int64_t st, int tk, int last, int t,
                   int s) -> float {
    if constexpr (kSmemBC) {
      return srow[(gi * NP + s * NL + l) * kPad + t];
    } else {
      return s * NL + l < N ? to_f(__ldg(gl + (tk + min(t, last)) * st + s * NL)) : 0.f;
    }
  };
  auto step = [&](float(&h)[S], int tk, int last, int t, uint32_t mask) {
    const float dt = s_dt[cs * kPad + t], x = s_x[cs * kPad + t];
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const float bx = bc_at(s_B, Bl, a.B_st, tk, last, t, s) * x;
      const float av = ex2(dt * A2[s]);
      h[s] = kReset && ((mask >> t) & 1u) ? bx : fmaf(av, h[s], bx);
    }
  };

  // dB/dC reduction outputs of this thread: e = tid + r * kThreads over (step, group slot, q),
  // advanced by carries instead of divisions.
  const int per_step = a.ngs * kQ;
  const int e_tw0 = tid / per_step, e_rem0 = tid - e_tw0 * per_step;
  const int e_dtw = kThreads / per_step, e_drem = kThreads - e_dtw * per_step;
  float* const pB_blk = o.part_B + (cx * a.Bt + b) * L * a.ngs * N;
  float* const pC_blk = o.part_C + (cx * a.Bt + b) * L * a.ngs * N;

  fetch(k_end - 1);
  for (int k = k_end - 1; k >= k_begin; --k) {
    const int tk = k * kT;
    const int last = last_step(L, tk);
    const uint32_t mask = commit(k);
    float h0[S];
#pragma unroll
    for (int s = 0; s < S; ++s) h0[s] = ph0[s];
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
          const float Cn = bc_at(s_C, Cl, a.C_st, tk, last, t, s);
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
            const float4 B4 = ld4(s_B + (gi * NP + l) * kPad + t4);
#pragma unroll
            for (int j = 0; j < 4; ++j) Bv[j] = el(B4, j);
          } else {
#pragma unroll
            for (int j = 0; j < 4; ++j) Bv[j] = bc_at(s_B, Bl, a.B_st, tk, last, t4 + j, 0);
          }
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float bx = Bv[j] * el(x4, j), av = ex2(el(dt4, j) * A2[0]);
            h = kReset && ((mask >> (t4 + j)) & 1u) ? bx : fmaf(av, h, bx);
            hs[t4 + j] = h;
          }
        }
      }
      // 2. Reverse scan, window by window (one window of kT steps when S == 1).
#pragma unroll 1
      for (int j = S - 1; j >= 0; --j) {
        const int tw0 = S == 1 ? 0 : j * W;  // a compile-time 0 keeps hs[] in registers
        float hw[W][S], hstart[S];           // the window's states (S > 1)
        if constexpr (S > 1) {
          float h[S];
#pragma unroll
          for (int s = 0; s < S; ++s) h[s] = h0[s];
#pragma unroll 1
          for (int t = 0; t < tw0; ++t) step(h, tk, last, t, mask);
#pragma unroll
          for (int s = 0; s < S; ++s) hstart[s] = h[s];
#pragma unroll
          for (int t = 0; t < W; ++t) {
            step(h, tk, last, tw0 + t, mask);
#pragma unroll
            for (int s = 0; s < S; ++s) hw[t][s] = h[s];
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
              x4 = ld4(s_x + cs * kPad + t - 3);
              dt4 = ld4(s_dt + cs * kPad + t - 3);
              if constexpr (kSmemBC) {
#pragma unroll
                for (int s = 0; s < S; ++s) {
                  B4[s] = ld4(s_B + (gi * NP + s * NL + l) * kPad + t - 3);
                  C4[s] = ld4(s_C + (gi * NP + s * NL + l) * kPad + t - 3);
                }
              }
            }
            const float gt = el(g4, t & 3), xt = el(x4, t & 3), dtt = el(dt4, t & 3);
            const bool rs = kReset && ((mask >> t) & 1u);
            float pb = 0.f, aq = 0.f, dBv[S], dCv[S];
#pragma unroll
            for (int s = 0; s < S; ++s) {
              const float Bn = kSmemBC ? el(B4[s], t & 3) : bc_at(s_B, Bl, a.B_st, tk, last, t, s);
              const float Cn = kSmemBC ? el(C4[s], t & 3) : bc_at(s_C, Cl, a.C_st, tk, last, t, s);
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
            if constexpr (NL == 16) {
              const bool hi = lane >= 16;
              const float send = hi ? dBv[0] : dCv[0], keep = hi ? dCv[0] : dBv[0];
              s_red[(warp * 32 + lane) * (W + 1) + tw] =
                  keep + __shfl_xor_sync(0xffffffffu, send, 16);
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
        for (int tw = e_tw0, rem = e_rem0; tw < W;) {
          const int gslot = rem / kQ, q = rem & (kQ - 1);
          const int tensor = NL == 16 ? q >> 4 : (q >> 5) & 1;
          const int n = NL == 16 ? q & 15 : (q >> 6) * 32 + (q & 31);
          const int t = tw0 + tw;
          if (t <= last && g_lo + gslot <= g_hi && n < N) {
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
            float* part = tensor == 0 ? pB_blk : pC_blk;
            part[((tk + t) * a.ngs + gslot) * N + n] = sum;
          }
          tw += e_dtw, rem += e_drem;
          if (rem >= per_step) rem -= per_step, ++tw;
        }
        // du, ddelta, and the ddelta_bias sum, once per (t, d) of the window.
        const int64_t orow = (b * L + tk) * Dch + ed;
        T* const du_row = opaque(static_cast<T*>(o.du) + orow);
        T* const dd_row = opaque(static_cast<T*>(o.ddelta) + orow);
#pragma unroll
        for (int i = 0; i < E; ++i) {
          const int tt = et0 + i * kStride, at = ec * kPad + tt;
          if (tt >= tw0 && tt < tw0 + W && edok && tt <= last) {
            const float pb = s_pb[at];
            const uint32_t oi = uint32_t(tt) * uint32_t(Dch);
            if (o.du) __stcs(du_row + oi, from_f<T>(fmaf(s_dt[at], pb, eDg[i])));
            const float dd = fmaf(eu[i], pb, s_aq[at]) * esig[i];
            ebias_acc += dd;
            if (o.ddelta) __stcs(dd_row + oi, from_f<T>(dd));
          }
        }
        __syncthreads();
      }
    }
  }
  if (dok) {
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int64_t n = s * NL + l;
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
