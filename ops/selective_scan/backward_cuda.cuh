// The selective scan's CUDA backward kernel (included by ops/selective_scan/cuda.cu).
//
// Same layout as the forward (NL lanes per (b, d), S states per lane), walking the tiles from the
// last to the first. For each tile it recomputes the forward from the tile's checkpoint (the
// states stay in registers: S == 1 keeps every step's h of the tile; S > 1 recomputes windows of
// kT/S steps), then runs the reverse scan
//   dh_t = C_t g_t + a_{t+1} dh_{t+1}
// and forms every gradient. Nothing is reduced with atomics: per-(t, n) dB/dC contributions of
// the block's channels are summed in shared memory in warp order and written as one partial per
// block (summed over blocks in order by a second kernel); dA, dD and ddelta_bias are summed over
// time in registers and written as one partial per batch row (and chunk).
// With chunks over L (ScanArgs::tpc), block z walks one chunk of tiles, starting from the dh that
// the combine carried out of the later chunks. kSummary is the chunked scan's first pass: the
// reverse dh scan of the chunk from zero and the product of its decays (no recompute, no
// gradients).
#pragma once
#include "ops/selective_scan/scan_tile_cuda.cuh"

namespace coil::cuda::scan {

struct BwdArgs {
  const void* dout;
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

inline int64_t backward_smem_floats(int NL, int S, int bc_rows) {
  const int warps = NL == 16 ? 16 : 8, BC = warps * (32 / NL), W = kT / S;
  const int64_t red = int64_t(warps) * (NL == 16 ? 1 : 2 * S) * 32 * (W + 1);
  return int64_t(10 * BC + 2 * bc_rows) * kPad + std::max<int64_t>(red, 2 * 32 * warps) + warps;
}

template <int NL, int S, bool kReset, bool kSmemBC, bool kSummary>
__global__ void __launch_bounds__(BwdShape<NL>::kThreads)
    backward_kernel(const ScanArgs a, const BwdArgs o) {
  using Sh = BwdShape<NL>;
  constexpr int BC = Sh::BC, CPW = Sh::CPW, E = Sh::E, kThreads = Sh::kThreads;
  constexpr int NP = NL * S, W = kT / S, K = red_planes<NL, S>(), kStepStride = kThreads / BC;
  constexpr int RW = NL == 16 ? 16 : W;  // steps per reduction of the per-step sums over states
  static_assert(NL != 16 || S == 1, "the pre-reduced dB/dC staging assumes one slot");
  extern __shared__ float4 smem_f4[];
  float* const sm = reinterpret_cast<float*>(smem_f4);
  const int bc_rows = kSmemBC ? a.ngs * NP : 0;
  float* const s_dt = sm;             // delta after bias and softplus
  float* const s_x = sm + BC * kPad;  // dt * u
  float* const s_u = sm + 2 * BC * kPad;
  float* const s_g = sm + 3 * BC * kPad;  // dout * silu(z)
  float* const s_do = sm + 4 * BC * kPad;
  float* const s_z = sm + 5 * BC * kPad;
  float* const s_sig = sm + 6 * BC * kPad;  // d softplus / d(delta + bias)
  float* const s_y = sm + 7 * BC * kPad;
  float* const s_pb = sm + 8 * BC * kPad;  // sum_n dh B
  float* const s_aq = sm + 9 * BC * kPad;  // sum_n A a h_prev dh
  float* const s_B = sm + 10 * BC * kPad;
  float* const s_C = s_B + bc_rows * kPad;
  float* const s_red = s_C + bc_rows * kPad;
  // Group slot (group - first group of the block) of each warp's channels, -1 past Dch: the
  // dB/dC reduction compares these instead of dividing 64-bit channel indices per term.
  int* const s_wslot =
      reinterpret_cast<int*>(s_red + std::max(Sh::kWarps * K * 32 * (W + 1), 2 * kThreads));

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int l = lane % NL, cs = warp * CPW + lane / NL;
  const int64_t b = blockIdx.y, cx = blockIdx.x, d0 = cx * BC, d = d0 + cs;
  const bool dok = d < a.Dch;
  const int64_t g_lo = d0 / a.cpg, g = dok ? d / a.cpg : g_lo;
  const int gi = int(g - g_lo);
  const int64_t L = a.L, N = a.N, Dch = a.Dch;
  const int64_t chunk = blockIdx.z, k_begin = chunk * a.tpc;
  const int64_t k_end = k_begin + a.tpc < a.ntiles ? k_begin + a.tpc : a.ntiles;
  const int64_t row = chunk * a.Bt + b;  // partial-sum row of dA, dD, ddelta_bias
  // The dh leaving the chunk: zero in the summary pass, else the combined carry or dfinal.
  const float* dh_in = kSummary   ? nullptr
                       : a.carry  ? a.carry + chunk_at(a, b, d, chunk, 0)
                       : o.dfinal ? o.dfinal + (b * Dch + d) * N
                                  : nullptr;
  const int64_t g_hi = ((d0 + BC < Dch ? d0 + BC : Dch) - 1) / a.cpg;  // last group here
  if (tid < Sh::kWarps) {
    const int64_t dw = d0 + tid * CPW;
    s_wslot[tid] = dw < Dch ? int(dw / a.cpg - g_lo) : -1;
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
  const int ec = tid % BC, et0 = tid / BC;
  const int64_t ed = d0 + ec;
  const bool edok = ed < Dch;
  const float ebias = edok && a.bias ? a.bias[ed] : 0.f;
  const float eD = edok && a.D ? a.D[ed] : 0.f;
  float eD_acc = 0.f, ebias_acc = 0.f;

  uint32_t pu[E], pd[E], pz[E], pdo[E], pB[kBCSlots], pC[kBCSlots];
  float ph0[S];
  bool pr = false;
  auto fetch = [&](int64_t k) {
    const int64_t tk = k * kT;
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int64_t t = tk + et0 + i * kStepStride;
      const bool ok = edok && t < L;
      pu[i] = ok ? load_raw(a.u, b * a.u_sb + t * a.u_st + ed, a.bf) : 0u;
      pd[i] = ok ? load_raw(a.delta, b * a.dl_sb + t * a.dl_st + ed, a.bf) : 0u;
      pz[i] = ok && a.z ? load_raw(a.z, b * a.z_sb + t * a.z_st + ed, a.bf) : 0u;
      pdo[i] = ok ? load_raw(o.dout, (b * L + t) * Dch + ed, a.bf) : 0u;
    }
    if constexpr (kSmemBC) {
#pragma unroll
      for (int j = 0; j < kBCSlots; ++j) {
        const int e = j * kThreads + tid;
        const int tt = e / max(bc_rows, 1), rem = e - tt * bc_rows;
        const int64_t t = tk + tt, gg = g_lo + rem / NP, n = rem % NP;
        const bool ok = e < kT * bc_rows && t < L && n < N && gg < a.G;
        pB[j] = ok ? load_raw(a.B, b * a.B_sb + t * a.B_st + gg * N + n, a.bf) : 0u;
        pC[j] = ok ? load_raw(a.C, b * a.C_sb + t * a.C_st + gg * N + n, a.bf) : 0u;
      }
    }
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const int n = s * NL + l;
      ph0[s] = dok && n < N ? o.ckpt[((b * Dch + d) * a.ntiles + k) * N + n] : 0.f;
    }
    if constexpr (kReset) pr = tk + lane < L && a.reset[b * a.r_sb + (tk + lane) * a.r_st];
  };
  auto commit = [&](int64_t k) -> uint32_t {
    const int64_t tk = k * kT;
#pragma unroll
    for (int i = 0; i < E; ++i) {
      const int tt = et0 + i * kStepStride, at = ec * kPad + tt;
      const bool ok = edok && tk + tt < L;
      const float u = raw_to_float(pu[i], a.bf), v = raw_to_float(pd[i], a.bf) + ebias;
      const float zz = raw_to_float(pz[i], a.bf), dout = raw_to_float(pdo[i], a.bf);
      const float dt = ok ? (a.softplus ? softplus(v) : v) : 0.f;
      s_dt[at] = dt;
      s_x[at] = dt * u;
      s_u[at] = u;
      s_g[at] = a.z ? dout * zz * sigmoid(zz) : dout;
      s_do[at] = dout;
      s_z[at] = zz;
      s_sig[at] = a.softplus && v <= 20.f ? sigmoid(v) : 1.f;
    }
    if constexpr (kSmemBC) {
#pragma unroll
      for (int j = 0; j < kBCSlots; ++j) {
        const int e = j * kThreads + tid;
        if (e < kT * bc_rows) {
          const int tt = e / bc_rows, rem = e - tt * bc_rows;
          s_B[rem * kPad + tt] = raw_to_float(pB[j], a.bf);
          s_C[rem * kPad + tt] = raw_to_float(pC[j], a.bf);
        }
      }
    }
    return kReset ? __ballot_sync(0xffffffffu, pr) : 0u;
  };
  // B or C of state slot s at tile step t (tile starting at tk).
  auto bc_at = [&](const float* srow, const void* gp, int64_t sb, int64_t st, int64_t tk, int t,
                   int s) -> float {
    const int64_t n = s * NL + l;
    if constexpr (kSmemBC) {
      return srow[(gi * NP + n) * kPad + t];
    } else {
      const bool ok = tk + t < L && n < N;
      return ok ? load_float(gp, b * sb + (tk + t) * st + g * N + n, a.bf) : 0.f;
    }
  };
  auto step = [&](float(&h)[S], int64_t tk, int t, uint32_t mask) {
    const float dt = s_dt[cs * kPad + t], x = s_x[cs * kPad + t];
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const float bx = bc_at(s_B, a.B, a.B_sb, a.B_st, tk, t, s) * x;
      const float av = ex2(dt * A2[s]);
      h[s] = kReset && ((mask >> t) & 1u) ? bx : fmaf(av, h[s], bx);
    }
  };

  fetch(k_end - 1);
  for (int64_t k = k_end - 1; k >= k_begin; --k) {
    const int64_t tk = k * kT;
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
          const float Cn = bc_at(s_C, a.C, a.C_sb, a.C_st, tk, t, s);
          dh_after[s] = av * fmaf(Cn, gt, dh_after[s]);
          P[s] *= av;
        }
      }
      __syncthreads();  // the next commit overwrites the tile
    } else {
      // 1. Recompute the tile's outputs y (and, with one slot per lane, every state h_t).
      float hs[S == 1 ? kT : 1];
      {
        float h[S], yp[kT];
#pragma unroll
        for (int s = 0; s < S; ++s) h[s] = h0[s];
#pragma unroll
        for (int t = 0; t < kT; ++t) {
          step(h, tk, t, mask);
          float acc = 0.f;
#pragma unroll
          for (int s = 0; s < S; ++s)
            acc = fmaf(bc_at(s_C, a.C, a.C_sb, a.C_st, tk, t, s), h[s], acc);
          yp[t] = acc;
          if constexpr (S == 1) hs[t] = h[0];
        }
        reduce_steps_to<NL, kT>(yp, l, s_y + cs * kPad, 0);
      }
      __syncthreads();
      // 2. dz and dD, once per (t, d).
#pragma unroll
      for (int i = 0; i < E; ++i) {
        const int tt = et0 + i * kStepStride, at = ec * kPad + tt;
        const int64_t t = tk + tt;
        if (edok && t < L) {
          eD_acc = fmaf(s_g[at], s_u[at], eD_acc);
          if (a.z && o.dz) {
            const float y = fmaf(eD, s_u[at], s_y[at]), zz = s_z[at], sz = sigmoid(zz);
            store_float(o.dz, (b * L + t) * Dch + ed, s_do[at] * y * sz * (1.f + zz * (1.f - sz)),
                        a.bf);
          }
        }
      }
      // 3. Reverse scan, window by window (one window of kT steps when S == 1).
#pragma unroll 1
      for (int j = S - 1; j >= 0; --j) {
        const int tw0 = S == 1 ? 0 : j * W;  // a compile-time 0 keeps hs[] in registers
        float hw[W][S], hstart[S];           // the window's states (S > 1)
        if constexpr (S > 1) {
          float h[S];
#pragma unroll
          for (int s = 0; s < S; ++s) h[s] = h0[s];
#pragma unroll 1
          for (int t = 0; t < tw0; ++t) step(h, tk, t, mask);
#pragma unroll
          for (int s = 0; s < S; ++s) hstart[s] = h[s];
#pragma unroll
          for (int t = 0; t < W; ++t) {
            step(h, tk, tw0 + t, mask);
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
#pragma unroll
          for (int r = RW - 1; r >= 0; --r) {
            const int tw = r0 + r, t = tw0 + tw;
            const float gt = s_g[cs * kPad + t], xt = s_x[cs * kPad + t];
            const float dtt = s_dt[cs * kPad + t];
            const bool rs = kReset && ((mask >> t) & 1u);
            float pb = 0.f, aq = 0.f, dBv[S], dCv[S];
#pragma unroll
            for (int s = 0; s < S; ++s) {
              const float Bn = bc_at(s_B, a.B, a.B_sb, a.B_st, tk, t, s);
              const float Cn = bc_at(s_C, a.C, a.C_sb, a.C_st, tk, t, s);
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
        const int per_step = a.ngs * K * 32, n_out = per_step * W;
        for (int e = tid; e < n_out; e += kThreads) {
          const int tw = e / per_step, rem = e - tw * per_step;
          const int gslot = rem / (K * 32), q = rem - gslot * (K * 32);
          const int64_t t = tk + tw0 + tw, gg = g_lo + gslot;
          const int tensor = NL == 16 ? q / 16 : (q / 32) % 2;
          const int64_t n = NL == 16 ? q % 16 : (q / 64) * 32 + q % 32;
          if (t >= L || gg > g_hi || n >= N) continue;
          float sum = 0.f;
#pragma unroll
          for (int w = 0; w < Sh::kWarps; ++w)
            if (s_wslot[w] == gslot) sum += s_red[((w * K) * 32 + q) * (W + 1) + tw];
          float* part = tensor == 0 ? o.part_B : o.part_C;
          part[(((cx * a.Bt + b) * L + t) * a.ngs + gslot) * N + n] = sum;
        }
        // du, ddelta, and the ddelta_bias sum, once per (t, d) of the window.
#pragma unroll
        for (int i = 0; i < E; ++i) {
          const int tt = et0 + i * kStepStride, at = ec * kPad + tt;
          const int64_t t = tk + tt;
          if (tt >= tw0 && tt < tw0 + W && edok && t < L) {
            const float pb = s_pb[at];
            if (o.du)
              store_float(o.du, (b * L + t) * Dch + ed, fmaf(s_dt[at], pb, eD * s_g[at]), a.bf);
            const float dd = fmaf(s_u[at], pb, s_aq[at]) * s_sig[at];
            ebias_acc += dd;
            if (o.ddelta) store_float(o.ddelta, (b * L + t) * Dch + ed, dd, a.bf);
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
  // dD and ddelta_bias: the threads of one channel, summed in thread order.
  s_red[tid] = eD_acc;
  s_red[kThreads + tid] = ebias_acc;
  __syncthreads();
  if (tid < BC && d0 + tid < Dch) {
    float sD = 0.f, sb = 0.f;
    for (int j = tid; j < kThreads; j += BC) {
      sD += s_red[j];
      sb += s_red[kThreads + j];
    }
    o.pD[row * Dch + d0 + tid] = sD;
    o.pbias[row * Dch + d0 + tid] = sb;
  }
}

}  // namespace coil::cuda::scan
