// CPU kernels of the selective scan. Work is split into units of (batch row, channel tile); a
// tile is kLanes channels of one group, so its lanes share B_t and C_t and the SIMD loop runs
// across channels with no horizontal sum in the forward. The state lives in a (N, lanes) array
// on the stack; the forward stores it only every kChunk steps (checkpoints), and the backward
// walks the chunks from last to first, recomputing the states of one chunk from its checkpoint.
// Every reduction (dB, dC over channels; dA, dD, ddelta_bias over batch and time) runs in an
// order fixed by the shape alone, so results do not depend on the thread count.
#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "core/dispatch.h"
#include "core/factory.h"
#include "ops/selective_scan/cpu_math.h"
#include "ops/selective_scan/kernels.h"

// The hot per-unit functions are compiled twice, for AVX2+FMA and for the baseline, and picked
// at load time: the build targets plain x86-64, which would leave half the vector width unused.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define COIL_SCAN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define COIL_SCAN_CLONES
#endif

// Vectors pass between always-inlined helpers only; the vector-argument ABI never applies.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu {
namespace {
using scan_math::exp_;
using scan_math::exp_scaled;
using scan_math::sigmoid_;
using scan_math::softplus_;

constexpr int64_t kChunk = 32;  // steps between checkpoints (the recompute window)
constexpr int64_t kMaxN = kSelectiveScanMaxState;
using scan_math::kLanes;  // channels per tile: 8 f32, 4 f64
using scan_math::V;

int64_t num_chunks(int64_t length) { return (length + kChunk - 1) / kChunk; }

// Channel tiles of one batch row; none crosses a group boundary.
struct Tiling {
  int64_t per_group = 0, tiles_per_group = 0, groups = 0, lanes = 0;
  Tiling(const SelectiveScanParams& p, int64_t lanes_)
      : per_group(p.channels / p.groups),
        tiles_per_group((per_group + lanes_ - 1) / lanes_),
        groups(p.groups),
        lanes(lanes_) {}
  int64_t count() const { return groups * tiles_per_group; }
  int64_t group(int64_t j) const { return j / tiles_per_group; }
  int64_t first(int64_t j) const { return group(j) * per_group + (j % tiles_per_group) * lanes; }
  int64_t width(int64_t j) const { return std::min(lanes, (group(j) + 1) * per_group - first(j)); }
};

// Typed pointers of one call, shared by the forward and the backward.
template <class T>
struct Scan {
  const SelectiveScanParams& p;
  Tiling tiling;
  const T *u, *delta, *z, *B, *C, *A, *D, *bias, *s0;
  explicit Scan(const SelectiveScanParams& p_)
      : p(p_),
        tiling(p_, kLanes<T>),
        u(static_cast<const T*>(p_.u)),
        delta(static_cast<const T*>(p_.delta)),
        z(static_cast<const T*>(p_.z)),
        B(static_cast<const T*>(p_.B)),
        C(static_cast<const T*>(p_.C)),
        A(static_cast<const T*>(p_.A)),
        D(static_cast<const T*>(p_.D)),
        bias(static_cast<const T*>(p_.delta_bias)),
        s0(static_cast<const T*>(p_.initial_state)) {}
  int64_t units() const { return p.batch * tiling.count(); }
  bool reset_at(int64_t b, int64_t t) const {
    return p.reset != nullptr && p.reset[b * p.reset_sb + t * p.reset_st];
  }
};

// Heap array of vectors, 64-byte aligned. (Not std::vector: GCC drops the vector type's
// alignment when it is a template argument, and the kernels' aligned loads would fault.)
template <class X>
class VecBuffer {
 public:
  explicit VecBuffer(size_t n)  // aligned_alloc wants a size that is a multiple of the alignment
      : data_(static_cast<X*>(
            std::aligned_alloc(64, (std::max<size_t>(1, n) * sizeof(X) + 63) / 64 * 64))) {
    COIL_CHECK(data_ != nullptr, "[selective_scan] out of memory ({} bytes)", n * sizeof(X));
    std::fill(data_, data_ + n, X{});
  }
  ~VecBuffer() { std::free(data_); }
  VecBuffer(const VecBuffer&) = delete;
  VecBuffer& operator=(const VecBuffer&) = delete;
  X* data() const { return data_; }

 private:
  X* data_;
};

// Scalar scratch from coil's host allocator, which keeps large blocks for reuse (a fresh
// std::vector of a few MB would page-fault on every call).
template <class X>
class HostArray {
 public:
  HostArray(size_t n, bool zero)
      : t_(zero ? zeros({int64_t(n)}, {dtype_of<X>}) : empty({int64_t(n)}, {dtype_of<X>})),
        p_(t_.data<X>()) {}
  X* data() const { return p_; }
  X& operator[](size_t i) const { return p_[i]; }

 private:
  Tensor t_;
  X* p_;
};

// ---- tiles: one vector lane per channel; the last w < W lanes of a partial tile stay zero ----

// (w channels, N) row-major at src -> N vectors; zeros when src is null.
template <class T>
void load_state(V<T>* dst, const T* src, int64_t w, int64_t N) {
  for (int64_t n = 0; n < N; ++n) {
    dst[n] = V<T>{};
    if (src != nullptr)
      for (int64_t c = 0; c < w; ++c) dst[n][c] = src[c * N + n];
  }
}

template <class T>
void store_state(T* dst, const V<T>* src, int64_t w, int64_t N) {
  for (int64_t c = 0; c < w; ++c)
    for (int64_t n = 0; n < N; ++n) dst[c * N + n] = src[n][c];
}

// Per-tile constants: A transposed to N vectors (and scaled by log2(e) for exp_scaled in f32),
// D and delta_bias.
template <class T>
struct TileParams {
  V<T> A[kMaxN], A2[kMaxN];
  T a2_min = 0, a2_max = 0;  // range of A2 over the tile (padding lanes count as 0)
  V<T> D, bias;
  void load(const Scan<T>& s, int64_t c0, int64_t w) {
    load_state<T>(A, s.A + c0 * s.p.state, w, s.p.state);
    const T scale = std::is_same_v<T, float> ? T(1.44269504088896341) : T(1);
    for (int64_t n = 0; n < s.p.state; ++n) {
      A2[n] = A[n] * scale;
      for (int c = 0; c < kLanes<T>; ++c) {
        a2_min = std::min(a2_min, A2[n][c]);
        a2_max = std::max(a2_max, A2[n][c]);
      }
    }
    D = s.D != nullptr ? scan_math::load(s.D + c0, w) : V<T>{};
    bias = s.bias != nullptr ? scan_math::load(s.bias + c0, w) : V<T>{};
  }
};

// One step's per-channel inputs: x = delta + bias (before softplus), dt, u, dt * u.
template <class T>
struct StepIn {
  V<T> x, dt, u, du;
  COIL_SCAN_INLINE StepIn(const Scan<T>& s, const TileParams<T>& tp, int64_t b, int64_t t,
                          int64_t c0, int64_t w) {
    const SelectiveScanParams& p = s.p;
    x = scan_math::load(s.delta + b * p.delta_sb + t * p.delta_st + c0, w) + tp.bias;
    dt = p.delta_softplus ? softplus_(x) : x;
    u = scan_math::load(s.u + b * p.u_sb + t * p.u_st + c0, w);
    du = dt * u;
  }
};

// ---- forward ---------------------------------------------------------------------------------

template <class T>
struct Forward : Scan<T> {
  T *out, *final_state, *ckpt;
  Forward(const SelectiveScanParams& p, T* out_, T* fs, T* ck)
      : Scan<T>(p), out(out_), final_state(fs), ckpt(ck) {}
};

template <class T>
COIL_SCAN_INLINE void forward_unit(const Forward<T>& f, int64_t unit) {
  const SelectiveScanParams& p = f.p;
  const int64_t N = p.state, L = p.length, Dch = p.channels, nch = num_chunks(L);
  const int64_t b = unit / f.tiling.count(), j = unit % f.tiling.count();
  const int64_t c0 = f.tiling.first(j), w = f.tiling.width(j), g = f.tiling.group(j);
  TileParams<T> tp;
  tp.load(f, c0, w);
  V<T> h[kMaxN];
  load_state<T>(h, f.s0 ? f.s0 + (b * Dch + c0) * N : nullptr, w, N);
  for (int64_t t = 0; t < L; ++t) {
    if (f.ckpt != nullptr && t % kChunk == 0)
      store_state<T>(f.ckpt + ((b * nch + t / kChunk) * Dch + c0) * N, h, w, N);
    if (f.reset_at(b, t))
      for (int64_t n = 0; n < N; ++n) h[n] = V<T>{};
    const StepIn<T> in(f, tp, b, t, c0, w);
    const T* Bt = f.B + b * p.B_sb + t * p.B_st + g * N;
    const T* Ct = f.C + b * p.C_sb + t * p.C_st + g * N;
    V<T> y = tp.D * in.u;
    if (scan_math::exp2_in_range(in.dt, tp.a2_min, tp.a2_max)) {  // the usual case: no clamps
      for (int64_t n = 0; n < N; ++n) {
        h[n] = exp_scaled<false>(in.dt * tp.A2[n]) * h[n] + in.du * Bt[n];
        y += h[n] * Ct[n];
      }
    } else {
      for (int64_t n = 0; n < N; ++n) {
        h[n] = exp_scaled(in.dt * tp.A2[n]) * h[n] + in.du * Bt[n];
        y += h[n] * Ct[n];
      }
    }
    if (f.z != nullptr) {
      const V<T> z = scan_math::load(f.z + b * p.z_sb + t * p.z_st + c0, w);
      y *= z * sigmoid_(z);
    }
    scan_math::store(f.out + (b * L + t) * Dch + c0, y, w);
  }
  store_state<T>(f.final_state + (b * Dch + c0) * N, h, w, N);
}

COIL_SCAN_CLONES void run_forward_unit(const Forward<float>& f, int64_t unit) {
  forward_unit(f, unit);
}
COIL_SCAN_CLONES void run_forward_unit(const Forward<double>& f, int64_t unit) {
  forward_unit(f, unit);
}

// Enough work per thread to be worth a parallel region.
bool worth_threads(const SelectiveScanParams& p) {
  return p.batch * p.length * p.channels * p.state > (int64_t(1) << 15);
}

// ---- backward --------------------------------------------------------------------------------

// Bytes for the dB/dC lane sums of one block of chunks: the units sync once per block, so the
// larger the block the fewer barriers (the bench's whole L = 256 is one block).
constexpr int64_t kPartialBudget = int64_t(4) << 20;

// Per-unit state carried across chunks (dh, and the parameter-gradient sums in double), and the
// dB/dC lane sums of each unit over one block of block_len steps.
template <class T>
struct Backward : Scan<T> {
  const T *ckpt, *dout, *dfinal;
  T *du, *ddelta, *dz, *dinit;
  int64_t block_chunks, block_len;           // chunks per block, steps per block
  VecBuffer<V<T>> dh;                        // (units, N)
  HostArray<double> sum_A, sum_D, sum_bias;  // (units, N, W), (units, W), (units, W)
  HostArray<T> part_B, part_C;               // (units, block_len, N), every slot written first
  Backward(const SelectiveScanParams& p, const Tensor& ck, const Tensor& dout_,
           const Tensor& dfinal_, const SelectiveScanGrads& gr)
      : Scan<T>(p),
        ckpt(ck.data<T>()),
        dout(dout_.data<T>()),
        dfinal(dfinal_.defined() ? dfinal_.data<T>() : nullptr),
        du(gr.du.defined() ? gr.du.data<T>() : nullptr),
        ddelta(gr.ddelta.defined() ? gr.ddelta.data<T>() : nullptr),
        dz(gr.dz.defined() ? gr.dz.data<T>() : nullptr),
        dinit(gr.dinitial_state.defined() ? gr.dinitial_state.data<T>() : nullptr),
        block_chunks(std::clamp<int64_t>(
            kPartialBudget / (this->units() * kChunk * p.state * 2 * int64_t(sizeof(T))), 1,
            num_chunks(p.length))),
        block_len(block_chunks * kChunk),
        dh(size_t(this->units() * p.state)),
        sum_A(size_t(this->units() * p.state * kLanes<T>), true),
        sum_D(size_t(this->units() * kLanes<T>), true),
        sum_bias(size_t(this->units() * kLanes<T>), true),
        part_B(size_t(this->units() * block_len * p.state), false),
        part_C(size_t(this->units() * block_len * p.state), false) {}
};

// One thread's recompute buffers: states and decays of one chunk (kChunk, N), its start state,
// and per step dt and d(dt)/d(delta) (sigmoid of the softplus argument, or 1), so the reverse
// pass evaluates no softplus.
template <class T>
struct Scratch {
  VecBuffer<V<T>> h, a, h0, dt, ddt_scale;
  explicit Scratch(int64_t N)
      : h(size_t(kChunk * N)),
        a(size_t(kChunk * N)),
        h0(size_t(N)),
        dt(size_t(kChunk)),
        ddt_scale(size_t(kChunk)) {}
};

// Chunk k of one unit: recompute its states from the checkpoint, then the reverse scan.
template <class T>
COIL_SCAN_INLINE void backward_unit(Backward<T>& bw, int64_t unit, int64_t k, Scratch<T>& sc) {
  const SelectiveScanParams& p = bw.p;
  const int64_t N = p.state, L = p.length, Dch = p.channels, nch = num_chunks(L);
  const int64_t b = unit / bw.tiling.count(), j = unit % bw.tiling.count();
  const int64_t c0 = bw.tiling.first(j), w = bw.tiling.width(j), g = bw.tiling.group(j);
  const int64_t t0 = k * kChunk, t1 = std::min(L, t0 + kChunk);
  TileParams<T> tp;
  tp.load(bw, c0, w);
  V<T>*hs = sc.h.data(), *as = sc.a.data(), *h0 = sc.h0.data();
  load_state<T>(h0, bw.ckpt + ((b * nch + k) * Dch + c0) * N, w, N);

  // Recompute h_t and a_t = exp(dt_t A) for t in [t0, t1). A reset zeroes h_{t-1} (a select,
  // not a product: an infinite state before a reset must not leak into the next sequence).
  for (int64_t t = t0; t < t1; ++t) {
    const V<T>* prev = t == t0 ? h0 : hs + (t - t0 - 1) * N;
    V<T>* ht = hs + (t - t0) * N;
    V<T>* at = as + (t - t0) * N;
    const bool reset = bw.reset_at(b, t);
    const StepIn<T> in(bw, tp, b, t, c0, w);
    sc.dt.data()[t - t0] = in.dt;
    sc.ddt_scale.data()[t - t0] = p.delta_softplus ? sigmoid_(in.x) : V<T>{} + T(1);
    const T* Bt = bw.B + b * p.B_sb + t * p.B_st + g * N;
    if (scan_math::exp2_in_range(in.dt, tp.a2_min, tp.a2_max)) {
      for (int64_t n = 0; n < N; ++n) at[n] = exp_scaled<false>(in.dt * tp.A2[n]);
    } else {
      for (int64_t n = 0; n < N; ++n) at[n] = exp_scaled(in.dt * tp.A2[n]);
    }
    for (int64_t n = 0; n < N; ++n) ht[n] = at[n] * (reset ? V<T>{} : prev[n]) + in.du * Bt[n];
  }

  V<T>* dh = bw.dh.data() + unit * N;
  if (k == nch - 1) load_state<T>(dh, bw.dfinal ? bw.dfinal + (b * Dch + c0) * N : nullptr, w, N);
  // Lane sums of this chunk's steps, at their slots in the unit's block.
  T* pB = bw.part_B.data() + (unit * bw.block_len + t0 % bw.block_len) * N;
  T* pC = bw.part_C.data() + (unit * bw.block_len + t0 % bw.block_len) * N;
  V<T> acc_A[kMaxN], prod_C[kMaxN], prod_B[kMaxN];  // prod_*: per-lane terms of dC, dB at t
  for (int64_t n = 0; n < N; ++n) acc_A[n] = V<T>{};
  V<T> acc_D{}, acc_bias{};
  for (int64_t t = t1 - 1; t >= t0; --t) {
    const bool reset = bw.reset_at(b, t);
    const V<T>* ht = hs + (t - t0) * N;
    const V<T>* at = as + (t - t0) * N;
    const V<T>* prev = t == t0 ? h0 : hs + (t - t0 - 1) * N;
    const V<T> dt = sc.dt.data()[t - t0];
    const V<T> u = scan_math::load(bw.u + b * p.u_sb + t * p.u_st + c0, w), du = dt * u;
    const V<T> go = scan_math::load(bw.dout + (b * L + t) * Dch + c0, w);
    V<T> z{}, sz{}, gy = go;  // gradient of y (before the z gate)
    if (bw.z != nullptr) {
      z = scan_math::load(bw.z + b * p.z_sb + t * p.z_st + c0, w);
      sz = sigmoid_(z);
      gy = go * z * sz;
    }
    const T* Bt = bw.B + b * p.B_sb + t * p.B_st + g * N;
    const T* Ct = bw.C + b * p.C_sb + t * p.C_st + g * N;
    V<T> y = tp.D * u, sum_dhB{}, ddt{};
    // ddt = sum_n d (B u + A a h_{t-1}) = u * sum_dhB + sum_n A q, with q = d a h_{t-1}.
    for (int64_t n = 0; n < N; ++n) {
      const T bn = Bt[n], cn = Ct[n];
      y += ht[n] * cn;
      const V<T> d = dh[n] + gy * cn;  // total gradient of h_t
      prod_C[n] = gy * ht[n];
      prod_B[n] = d * du;
      sum_dhB += d * bn;
      const V<T> ad = at[n] * d;  // gradient of h_{t-1}; none across a reset
      const V<T> q = ad * (reset ? V<T>{} : prev[n]);
      ddt += tp.A[n] * q;
      acc_A[n] += dt * q;
      dh[n] = reset ? V<T>{} : ad;
    }
    ddt = (ddt + u * sum_dhB) * sc.ddt_scale.data()[t - t0];
    scan_math::lane_sums(prod_C, N, pC + (t - t0) * N);
    scan_math::lane_sums(prod_B, N, pB + (t - t0) * N);
    acc_D += gy * u;
    acc_bias += ddt;
    const int64_t row = (b * L + t) * Dch + c0;
    if (bw.du) scan_math::store(bw.du + row, tp.D * gy + dt * sum_dhB, w);
    if (bw.ddelta) scan_math::store(bw.ddelta + row, ddt, w);
    if (bw.dz) scan_math::store(bw.dz + row, go * y * sz * (1.0f + z * (1.0f - sz)), w);
  }
  if (k == 0 && bw.dinit) store_state<T>(bw.dinit + (b * Dch + c0) * N, dh, w, N);
  constexpr int W = kLanes<T>;
  double* sA = bw.sum_A.data() + unit * N * W;
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < W; ++c) sA[n * W + c] += double(acc_A[n][c]);
  for (int c = 0; c < W; ++c) {
    bw.sum_D[size_t(unit * W + c)] += double(acc_D[c]);
    bw.sum_bias[size_t(unit * W + c)] += double(acc_bias[c]);
  }
}

COIL_SCAN_CLONES void run_backward_unit(Backward<float>& bw, int64_t unit, int64_t k,
                                        Scratch<float>& sc) {
  backward_unit(bw, unit, k, sc);
}
COIL_SCAN_CLONES void run_backward_unit(Backward<double>& bw, int64_t unit, int64_t k,
                                        Scratch<double>& sc) {
  backward_unit(bw, unit, k, sc);
}

// dB, dC at (b, t): the tiles of each group summed in tile order.
template <class T>
void reduce_BC(const Backward<T>& bw, int64_t b, int64_t t, T* dB, T* dC) {
  const SelectiveScanParams& p = bw.p;
  const int64_t N = p.state, G = p.groups, tpg = bw.tiling.tiles_per_group;
  const int64_t tl = t % bw.block_len;
  for (int64_t g = 0; g < G; ++g) {
    T* ob = dB ? dB + ((b * p.length + t) * G + g) * N : nullptr;
    T* oc = dC ? dC + ((b * p.length + t) * G + g) * N : nullptr;
    for (int64_t j = g * tpg; j < (g + 1) * tpg; ++j) {
      const size_t at = size_t(((b * bw.tiling.count() + j) * bw.block_len + tl) * N);
      const T *sb = bw.part_B.data() + at, *sc = bw.part_C.data() + at;
      for (int64_t n = 0; n < N; ++n) {
        if (ob) ob[n] = j == g * tpg ? sb[n] : ob[n] + sb[n];
        if (oc) oc[n] = j == g * tpg ? sc[n] : oc[n] + sc[n];
      }
    }
  }
}

// dA, dD, ddelta_bias: per-unit sums added over the batch in order.
template <class T>
void reduce_params(const Backward<T>& bw, const SelectiveScanGrads& gr) {
  constexpr int W = kLanes<T>;
  const SelectiveScanParams& p = bw.p;
  const int64_t N = p.state, tiles = bw.tiling.count();
  T* dA = gr.dA.defined() ? gr.dA.data<T>() : nullptr;
  T* dD = gr.dD.defined() ? gr.dD.data<T>() : nullptr;
  T* dbias = gr.ddelta_bias.defined() ? gr.ddelta_bias.data<T>() : nullptr;
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
  Backward<T> bw(p, ckpt, dout, dfinal, gr);
  T* dB = gr.dB.defined() ? gr.dB.data<T>() : nullptr;
  T* dC = gr.dC.defined() ? gr.dC.data<T>() : nullptr;
  const int64_t units = bw.units(), nch = num_chunks(p.length);
  const int64_t blocks = (nch + bw.block_chunks - 1) / bw.block_chunks;
#pragma omp parallel if (worth_threads(p))
  {
    Scratch<T> sc(p.state);
    for (int64_t blk = blocks - 1; blk >= 0; --blk) {
      const int64_t k0 = blk * bw.block_chunks, k1 = std::min(nch, k0 + bw.block_chunks);
      // Dynamic: a thread that the OS preempts does not hold the others up. Every unit writes
      // its own slots, so the result does not depend on which thread ran it.
#pragma omp for schedule(dynamic, 1)
      for (int64_t unit = 0; unit < units; ++unit)
        for (int64_t k = k1 - 1; k >= k0; --k) run_backward_unit(bw, unit, k, sc);
      const int64_t t0 = k0 * kChunk, rows = std::min(p.length, k1 * kChunk) - t0;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < p.batch * rows; ++r) reduce_BC(bw, r / rows, t0 + r % rows, dB, dC);
    }
  }
  reduce_params(bw, gr);
}

// ---- step ------------------------------------------------------------------------------------

template <class T>
void step_impl(const Tensor& y, const Tensor& state, const Tensor& u, const Tensor& delta,
               const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D, const Tensor& z,
               const Tensor& bias, bool softplus) {
  const int64_t Bt = state.size(0), Dch = state.size(1), N = state.size(2), G = B.size(1);
  const int64_t per_group = Dch / G;
  T* sp = state.data<T>();
  T* yp = y.data<T>();
  const T *up = u.data<T>(), *dp = delta.data<T>(), *Ap = A.data<T>(), *Bp = B.data<T>(),
          *Cp = C.data<T>();
  const T* Dp = D.defined() ? D.data<T>() : nullptr;
  const T* zp = z.defined() ? z.data<T>() : nullptr;
  const T* bp = bias.defined() ? bias.data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (Bt * Dch * N > (int64_t(1) << 15))
  for (int64_t r = 0; r < Bt * Dch; ++r) {
    const int64_t b = r / Dch, d = r % Dch, g = d / per_group;
    const T x = dp[r] + (bp ? bp[d] : T(0));
    const T dt = softplus ? softplus_(x) : x, du = dt * up[r];
    T* s = sp + r * N;
    const T *Bn = Bp + (b * G + g) * N, *Cn = Cp + (b * G + g) * N;
    T acc = T(0);
    for (int64_t n = 0; n < N; ++n) {
      s[n] = exp_(dt * Ap[d * N + n]) * s[n] + du * Bn[n];
      acc += s[n] * Cn[n];
    }
    T out = acc + (Dp ? Dp[d] : T(0)) * up[r];
    if (zp) out *= zp[r] * sigmoid_(zp[r]);
    yp[r] = out;
  }
}

}  // namespace

void selective_scan_forward(const SelectiveScanParams& p, const Tensor& out,
                            const Tensor& final_state, Tensor* checkpoints) {
  dispatch<DType::f32, DType::f64>(p.dtype, "selective_scan", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (checkpoints != nullptr)
      *checkpoints =
          empty({p.batch, num_chunks(p.length), p.channels, p.state}, {p.param_dtype, p.device});
    const Forward<T> f(p, out.data<T>(), final_state.data<T>(),
                       checkpoints ? checkpoints->data<T>() : nullptr);
    const int64_t units = f.units();
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(p))
    for (int64_t unit = 0; unit < units; ++unit) run_forward_unit(f, unit);
  });
}

void selective_scan_backward(const SelectiveScanParams& p, const Tensor& checkpoints,
                             const Tensor& dout, const Tensor& dfinal,
                             const SelectiveScanGrads& grads) {
  dispatch<DType::f32, DType::f64>(p.dtype, "selective_scan", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(p, checkpoints, dout, dfinal, grads);
  });
}

void selective_scan_step(const Tensor& y, const Tensor& state, const Tensor& u, const Tensor& delta,
                         const Tensor& A, const Tensor& B, const Tensor& C, const Tensor& D,
                         const Tensor& z, const Tensor& delta_bias, bool delta_softplus) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "selective_scan_step", [&](auto tag) {
    step_impl<typename decltype(tag)::type>(y, state, u, delta, A, B, C, D, z, delta_bias,
                                            delta_softplus);
  });
}

}  // namespace coil::cpu
