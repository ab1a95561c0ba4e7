// CPU backward of the selective scan. A work unit is one block of channel tiles of one
// (batch row, group); the unit walks the chunks from last to first and, per chunk, runs each of
// its tiles: recompute the chunk's states and decays from the checkpoint, then the reverse pass.
// The per-lane dB/dC terms of all the block's tiles add up in vectors, so the lane sums (the only
// horizontal work) run once per block instead of once per tile. Blocks depend on the channel
// count alone and are summed in block order, and dA, dD, ddelta_bias in batch order, so results
// do not depend on the batch size or the thread count.
#include "core/dispatch.h"
#include "ops/selective_scan/cpu_scan.h"

// Vectors pass between always-inlined helpers only; the vector-argument ABI never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu {
namespace {
using namespace scan_detail;
using scan_math::sigmoid_;

// Tiles per block: a quarter of a group's tiles (so a batch row has at least 4 units to share
// among threads where the channels allow), at most 8 (64 f32 channels: the lane sums then cost
// little next to the scan). It depends on the channel count alone, never on the batch size.
int64_t block_tiles(int64_t tiles_per_group) {
  return std::clamp<int64_t>(tiles_per_group / 4, 1, 8);
}
// Bytes for the per-block dB/dC partials of one span of chunks, when a group has several blocks:
// the units sync once per span, so a larger span means fewer barriers.
constexpr int64_t kPartialBudget = int64_t(4) << 20;

// Scalar scratch from coil's host allocator, which keeps large blocks for reuse (a fresh
// std::vector of a few MB would page-fault on every call).
template <class X>
class HostArray {
 public:
  HostArray(size_t n, bool zero)
      : t_(zero ? zeros({int64_t(std::max<size_t>(n, 1))}, {dtype_of<X>})
                : empty({int64_t(std::max<size_t>(n, 1))}, {dtype_of<X>})),
        p_(t_.data<X>()) {}
  X* data() const { return p_; }
  X& operator[](size_t i) const { return p_[i]; }

 private:
  Tensor t_;
  X* p_;
};

template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// What the units share: inputs, outputs, the gradient of the state carried across spans, the
// parameter-gradient sums per (row, tile) in double, and the dB/dC partials of one span.
template <class T>
struct Backward : Scan<T> {
  const T *ckpt, *ckpt_y, *dout, *dfinal;
  T *du, *ddelta, *dz, *dinit, *dB, *dC;
  int64_t tiles_per_block, blocks;           // per block, per group
  int64_t span_chunks, span_len;             // chunks per span, steps per span
  VecBuffer<V<T>> dh;                        // (Bt, tiles, N)
  HostArray<double> sum_A, sum_D, sum_bias;  // (Bt, tiles, N, W), (Bt, tiles, W), (Bt, tiles, W)
  HostArray<T> part_B, part_C;               // (blocks, Bt, span_len, G, N) when blocks > 1
  Backward(const SelectiveScanParams& p, const Tensor& ck, const Tensor& dout_,
           const Tensor& dfinal_, const SelectiveScanGrads& gr)
      : Scan<T>(p),
        ckpt(ck.data<T>()),
        ckpt_y(p.z != nullptr ? ckpt + checkpoint_states<T>(p) : nullptr),
        dout(dout_.data<T>()),
        dfinal(data_or_null<T>(dfinal_)),
        du(data_or_null<T>(gr.du)),
        ddelta(data_or_null<T>(gr.ddelta)),
        dz(data_or_null<T>(gr.dz)),
        dinit(data_or_null<T>(gr.dinitial_state)),
        dB(data_or_null<T>(gr.dB)),
        dC(data_or_null<T>(gr.dC)),
        tiles_per_block(block_tiles(this->tiling.tiles_per_group)),
        blocks((this->tiling.tiles_per_group + tiles_per_block - 1) / tiles_per_block),
        span_chunks(blocks == 1 ? num_chunks(p.length)
                                : std::clamp<int64_t>(
                                      kPartialBudget / (blocks * p.batch * p.groups * kChunk *
                                                        p.state * 2 * int64_t(sizeof(T))),
                                      1, num_chunks(p.length))),
        span_len(span_chunks * kChunk),
        dh(size_t(p.batch * this->tiling.count() * p.state)),
        sum_A(size_t(p.batch * this->tiling.count() * p.state * kLanes<T>), true),
        sum_D(size_t(p.batch * this->tiling.count() * kLanes<T>), true),
        sum_bias(size_t(p.batch * this->tiling.count() * kLanes<T>), true),
        part_B(blocks > 1 ? size_t(blocks * p.batch * span_len * p.groups * p.state) : 0, false),
        part_C(blocks > 1 ? size_t(blocks * p.batch * span_len * p.groups * p.state) : 0, false) {}
  int64_t units() const { return this->p.batch * this->p.groups * blocks; }
};

// One thread's buffers: the states of one chunk of one tile (hs[0] its checkpoint, hs[i + 1] the
// state after step t0 + i), its decays, and the block's per-lane dB, dC terms of the chunk.
template <class T>
struct Scratch {
  VecBuffer<V<T>> hs, as, acc_B, acc_C;
  explicit Scratch(int64_t N)
      : hs(size_t((kChunk + 1) * N)),
        as(size_t(kChunk * N)),
        acc_B(size_t(kChunk * N)),
        acc_C(size_t(kChunk * N)) {}
};

// The states and decays of one chunk from its checkpoint (in sc.hs[0]). A reset zeroes h_{t-1}.
template <class T, int kN, bool kClamp>
COIL_SCAN_INLINE void recompute(const Backward<T>& bw, Scratch<T>& sc, const TileParams<T>& tp,
                                const Steps<T>& st, int64_t b, int64_t t0, int64_t steps,
                                int64_t g) {
  const int64_t N = kN > 0 ? kN : bw.p.state;
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = t0 + i;
    V<T>*at = sc.as.data() + i * N, *ht = sc.hs.data() + (i + 1) * N;
    decays<T, kN, kClamp>(at, st.dt[i], tp, N);
    const V<T>* prev = bw.reset_at(b, t) ? zero_state<T>() : ht - N;
    const T* Bt = bw.B_at(b, t, g);
    const V<T> du = st.du[i];
    for (int64_t n = 0; n < N; ++n) ht[n] = at[n] * prev[n] + du * Bt[n];
  }
}

// One state n of one reverse step: d is the total gradient of h_t (carried dh plus y's), a d
// the gradient of h_{t-1}; adds the per-lane dB/dC terms (aB, aC), dA's term and the sums that
// make ddt and du.
template <class T>
COIL_SCAN_INLINE void reverse_state(V<T>& dh, V<T>& aB, V<T>& aC, V<T>& acc_A, V<T>& dhB, V<T>& Aq,
                                    const V<T>& h, const V<T>& a, const V<T>& prev, const V<T>& A,
                                    T b, T c, const V<T>& gy, const V<T>& du, const V<T>& dt) {
  const V<T> d = dh + gy * c;
  aC += gy * h;
  aB += d * du;
  dhB += d * b;
  const V<T> ad = a * d;
  const V<T> q = ad * prev;
  Aq += A * q;
  acc_A += dt * q;
  dh = ad;
}

// Chunk k of tile j of row b: recompute, then the reverse scan; adds the tile's dB/dC terms to
// the scratch's block sums.
template <class T, int kN>
COIL_SCAN_INLINE void tile_chunk(const Backward<T>& bw, Scratch<T>& sc, int64_t b, int64_t j,
                                 int64_t k) {
  const SelectiveScanParams& p = bw.p;
  const int64_t N = kN > 0 ? kN : p.state, L = p.length, Dch = p.channels, nch = num_chunks(L);
  const int64_t c0 = bw.tiling.first(j), w = bw.tiling.width(j), g = bw.tiling.group(j);
  const int64_t t0 = k * kChunk, steps = std::min(kChunk, L - t0);
  const TileParams<T> tp = bw.params[j];
  const Steps<T> st(bw, tp, b, t0, steps, c0, w, true);
  V<T>*hs = sc.hs.data(), *as = sc.as.data();
  std::memcpy(hs, bw.ckpt + bw.ckpt_at(b, k, j), size_t(N) * sizeof(V<T>));
  if (st.in_range) {  // the usual case: no clamps in the exps
    recompute<T, kN, false>(bw, sc, tp, st, b, t0, steps, g);
  } else {
    recompute<T, kN, true>(bw, sc, tp, st, b, t0, steps, g);
  }
  // Gradient of y before the z gate, and dz (from the forward's saved y), ahead of the scan.
  V<T> gy[kChunk];
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = t0 + i, row = (b * L + t) * Dch + c0;
    const V<T> go = scan_math::load(bw.dout + row, w);
    if (bw.z == nullptr) {
      gy[i] = go;
      continue;
    }
    const V<T> z = scan_math::load(bw.z + b * p.z_sb + t * p.z_st + c0, w), sz = sigmoid_(z);
    gy[i] = go * z * sz;
    if (bw.dz) {
      const V<T> y = scan_math::load(bw.ckpt_y + row, w);
      scan_math::store(bw.dz + row, go * y * sz * (1.0f + z * (1.0f - sz)), w);
    }
  }

  const int64_t unit_tile = b * bw.tiling.count() + j;
  V<T>* dh = bw.dh.data() + unit_tile * N;
  if (k == nch - 1) load_state<T>(dh, bw.dfinal ? bw.dfinal + (b * Dch + c0) * N : nullptr, w, N);
  V<T> acc_A[kMaxN];
  for (int64_t n = 0; n < N; ++n) acc_A[n] = V<T>{};
  V<T> acc_D{}, acc_bias{};
  for (int64_t i = steps - 1; i >= 0; --i) {
    const int64_t t = t0 + i;
    const bool reset = bw.reset_at(b, t);
    const V<T>* prev = reset ? zero_state<T>() : hs + i * N;  // no gradient across a reset
    const V<T>*ht = hs + (i + 1) * N, *at = as + i * N;
    const V<T> dt = st.dt[i], u = st.u[i], du = st.du[i], g_y = gy[i];
    const T *Bt = bw.B_at(b, t, g), *Ct = bw.C_at(b, t, g);
    V<T>*aB = sc.acc_B.data() + i * N, *aC = sc.acc_C.data() + i * N;
    // ddt = sum_n d (B u + A a h_{t-1}) = u * sum_n d B + sum_n A q, with q = d a h_{t-1};
    // each sum in two halves (even, odd n) held in registers, to halve the FMA chains.
    V<T> dhB0{}, dhB1{}, Aq0{}, Aq1{};
    int64_t n = 0;
    for (; n + 2 <= N; n += 2) {
      reverse_state<T>(dh[n], aB[n], aC[n], acc_A[n], dhB0, Aq0, ht[n], at[n], prev[n], tp.A[n],
                       Bt[n], Ct[n], g_y, du, dt);
      reverse_state<T>(dh[n + 1], aB[n + 1], aC[n + 1], acc_A[n + 1], dhB1, Aq1, ht[n + 1],
                       at[n + 1], prev[n + 1], tp.A[n + 1], Bt[n + 1], Ct[n + 1], g_y, du, dt);
    }
    if (n < N)
      reverse_state<T>(dh[n], aB[n], aC[n], acc_A[n], dhB0, Aq0, ht[n], at[n], prev[n], tp.A[n],
                       Bt[n], Ct[n], g_y, du, dt);
    if (reset)
      for (int64_t n = 0; n < N; ++n) dh[n] = V<T>{};
    const V<T> sum_dhB = dhB0 + dhB1;
    const V<T> ddt = (Aq0 + Aq1 + u * sum_dhB) * st.sig[i];
    acc_D += g_y * u;
    acc_bias += ddt;
    const int64_t row = (b * L + t) * Dch + c0;
    if (bw.du) scan_math::store(bw.du + row, tp.D * g_y + dt * sum_dhB, w);
    if (bw.ddelta) scan_math::store(bw.ddelta + row, ddt, w);
  }
  if (k == 0 && bw.dinit) store_state<T>(bw.dinit + (b * Dch + c0) * N, dh, w, N);
  constexpr int W = kLanes<T>;
  double* sA = bw.sum_A.data() + unit_tile * N * W;
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < W; ++c) sA[n * W + c] += double(acc_A[n][c]);
  for (int c = 0; c < W; ++c) {
    bw.sum_D[size_t(unit_tile * W + c)] += double(acc_D[c]);
    bw.sum_bias[size_t(unit_tile * W + c)] += double(acc_bias[c]);
  }
}

// Chunks [k0, k1) of one unit, last first. The block's dB/dC lane sums go straight to dB/dC when
// the group is one block, else to the span's partials.
template <class T, int kN>
COIL_SCAN_INLINE void backward_unit(const Backward<T>& bw, Scratch<T>& sc, int64_t unit, int64_t k0,
                                    int64_t k1) {
  const SelectiveScanParams& p = bw.p;
  const int64_t N = kN > 0 ? kN : p.state, L = p.length, G = p.groups,
                tpg = bw.tiling.tiles_per_group;
  const int64_t b = unit / (G * bw.blocks), g = unit / bw.blocks % G, blk = unit % bw.blocks;
  const int64_t j0 = g * tpg + blk * bw.tiles_per_block;
  const int64_t j1 = std::min(j0 + bw.tiles_per_block, (g + 1) * tpg);
  const int64_t span_t0 = k0 * kChunk;
  for (int64_t k = k1 - 1; k >= k0; --k) {
    const int64_t t0 = k * kChunk, steps = std::min(L, t0 + kChunk) - t0;
    std::fill(sc.acc_B.data(), sc.acc_B.data() + steps * N, V<T>{});
    std::fill(sc.acc_C.data(), sc.acc_C.data() + steps * N, V<T>{});
    for (int64_t j = j0; j < j1; ++j) tile_chunk<T, kN>(bw, sc, b, j, k);
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t t = t0 + i;
      const int64_t at = bw.blocks == 1
                             ? ((b * L + t) * G + g) * N
                             : (((blk * p.batch + b) * bw.span_len + t - span_t0) * G + g) * N;
      T* oB = bw.blocks == 1 ? bw.dB : bw.part_B.data();
      T* oC = bw.blocks == 1 ? bw.dC : bw.part_C.data();
      if (oB) scan_math::lane_sums(sc.acc_B.data() + i * N, N, oB + at);
      if (oC) scan_math::lane_sums(sc.acc_C.data() + i * N, N, oC + at);
    }
  }
}

COIL_SCAN_CLONES void run_backward_unit(const Backward<float>& bw, Scratch<float>& sc, int64_t unit,
                                        int64_t k0, int64_t k1) {
  if (bw.p.state == 16) {
    backward_unit<float, 16>(bw, sc, unit, k0, k1);
  } else {
    backward_unit<float, 0>(bw, sc, unit, k0, k1);
  }
}
COIL_SCAN_CLONES void run_backward_unit(const Backward<double>& bw, Scratch<double>& sc,
                                        int64_t unit, int64_t k0, int64_t k1) {
  backward_unit<double, 0>(bw, sc, unit, k0, k1);
}

// dB, dC of row (b, t), group g, from the span's partials: blocks added in block order.
template <class T>
void reduce_BC(const Backward<T>& bw, int64_t b, int64_t t, int64_t span_t0) {
  const SelectiveScanParams& p = bw.p;
  const int64_t N = p.state, G = p.groups;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t out = ((b * p.length + t) * G + g) * N;
    for (const auto& [part, dst] :
         {std::pair{bw.part_B.data(), bw.dB}, {bw.part_C.data(), bw.dC}}) {
      if (dst == nullptr) continue;
      for (int64_t blk = 0; blk < bw.blocks; ++blk) {
        const T* src = part + (((blk * p.batch + b) * bw.span_len + t - span_t0) * G + g) * N;
        for (int64_t n = 0; n < N; ++n) dst[out + n] = blk == 0 ? src[n] : dst[out + n] + src[n];
      }
    }
  }
}

// dA, dD, ddelta_bias: per-(row, tile) sums added over the batch in order.
template <class T>
void reduce_params(const Backward<T>& bw, const SelectiveScanGrads& gr) {
  constexpr int W = kLanes<T>;
  const SelectiveScanParams& p = bw.p;
  const int64_t N = p.state, tiles = bw.tiling.count();
  T* dA = data_or_null<T>(gr.dA);
  T* dD = data_or_null<T>(gr.dD);
  T* dbias = data_or_null<T>(gr.ddelta_bias);
  for (int64_t j = 0; j < tiles; ++j) {
    const int64_t c0 = bw.tiling.first(j), w = bw.tiling.width(j);
    for (int64_t c = 0; c < w; ++c) {
      double sd = 0, sbias = 0;
      for (int64_t b = 0; b < p.batch; ++b) {
        sd += bw.sum_D[size_t((b * tiles + j) * W + c)];
        sbias += bw.sum_bias[size_t((b * tiles + j) * W + c)];
      }
      if (dD) dD[c0 + c] = T(sd);
      if (dbias) dbias[c0 + c] = T(sbias);
      for (int64_t n = 0; n < N && dA; ++n) {
        double s = 0;
        for (int64_t b = 0; b < p.batch; ++b)
          s += bw.sum_A[size_t(((b * tiles + j) * N + n) * W + c)];
        dA[(c0 + c) * N + n] = T(s);
      }
    }
  }
}

template <class T>
void backward_impl(const SelectiveScanParams& p, const Tensor& ckpt, const Tensor& dout,
                   const Tensor& dfinal, const SelectiveScanGrads& gr) {
  const Backward<T> bw(p, ckpt, dout, dfinal, gr);
  const int64_t units = bw.units(), nch = num_chunks(p.length);
  const int64_t spans = (nch + bw.span_chunks - 1) / bw.span_chunks;
#pragma omp parallel if (worth_threads(p))
  {
    Scratch<T> sc(p.state);
    for (int64_t span = spans - 1; span >= 0; --span) {
      const int64_t k0 = span * bw.span_chunks, k1 = std::min(nch, k0 + bw.span_chunks);
      // Dynamic: a thread that the OS preempts does not hold the others up. Every unit writes
      // its own slots, so the result does not depend on which thread ran it.
#pragma omp for schedule(dynamic, 1)
      for (int64_t unit = 0; unit < units; ++unit) run_backward_unit(bw, sc, unit, k0, k1);
      if (bw.blocks > 1) {
        const int64_t t0 = k0 * kChunk, rows = std::min(p.length, k1 * kChunk) - t0;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < p.batch * rows; ++r) reduce_BC(bw, r / rows, t0 + r % rows, t0);
      }
    }
  }
  reduce_params(bw, gr);
}

}  // namespace

void selective_scan_backward(const SelectiveScanParams& p, const Tensor& checkpoints,
                             const Tensor& dout, const Tensor& dfinal,
                             const SelectiveScanGrads& grads) {
  dispatch<DType::f32, DType::f64>(p.dtype, "selective_scan", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(p, checkpoints, dout, dfinal, grads);
  });
}

}  // namespace coil::cpu
