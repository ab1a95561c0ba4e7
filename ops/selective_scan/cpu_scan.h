// What the selective scan's CPU forward (cpu.cpp) and backward (cpu_backward.cpp) share: the
// channel tiling, typed pointers of one call, the checkpoint layout, per-tile constants and the
// per-step inputs. A tile is kLanes channels of one group (8 f32, 4 f64): one SIMD lane per
// channel, so the lanes share B_t and C_t (scalar broadcasts), the forward's y needs no horizontal
// sum and each exp is one vector polynomial. (SIMD over the state dimension instead would need a
// horizontal sum per step for y and for every per-channel gradient.)
#pragma once
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

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
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu::scan_detail {
using scan_math::kLanes;
using scan_math::V;

constexpr int64_t kChunk = 32;  // steps between checkpoints (the backward's recompute window)
constexpr int64_t kMaxN = kSelectiveScanMaxState;

inline int64_t num_chunks(int64_t length) { return (length + kChunk - 1) / kChunk; }

// Enough work per call to be worth a parallel region.
inline bool worth_threads(const SelectiveScanParams& p) {
  return p.batch * p.length * p.channels * p.state > (int64_t(1) << 15);
}

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

// The checkpoint tensor (flat, param_dtype): the state before every kChunk-th step as whole
// vectors, (Bt, chunks, tiles, N, lanes) (no transposes to store and load it), then, when z is
// given, y before the z gate, (Bt, L, Dch), which dz needs and which the backward would otherwise
// recompute with one more FMA per state element.
template <class T>
int64_t checkpoint_states(const SelectiveScanParams& p) {
  return p.batch * num_chunks(p.length) * Tiling(p, kLanes<T>).count() * p.state * kLanes<T>;
}
template <class T>
int64_t checkpoint_size(const SelectiveScanParams& p) {
  return checkpoint_states<T>(p) + (p.z != nullptr ? p.batch * p.length * p.channels : 0);
}

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

// Per-tile constants of one tile (a view into a TileTable).
template <class T>
struct TileParams {
  const V<T>*A, *A2;  // N vectors each: A, and A * log2(e) in f32 for exp_scaled
  V<T> D, bias;
  T dt_limit;  // the |dt| below which no exp of the tile needs clamps
};

// Per-tile constants of one call, built once (every (row, tile) unit and chunk reads them; the
// backward loaded them per chunk before, about 2% of its time): A transposed to N vectors per
// tile, A2 = A scaled by log2(e) (f32), D, delta_bias and the clamp-free |dt| bound.
template <class T>
class TileTable {
 public:
  TileTable(const SelectiveScanParams& p, const Tiling& tiling)
      : N_(p.state),
        A_(size_t(tiling.count() * p.state)),
        A2_(size_t(tiling.count() * p.state)),
        D_(size_t(tiling.count())),
        bias_(size_t(tiling.count())),
        dt_limit_(size_t(tiling.count())) {
    const T *A = static_cast<const T*>(p.A), *D = static_cast<const T*>(p.D),
            *bias = static_cast<const T*>(p.delta_bias);
    const T scale = std::is_same_v<T, float> ? T(1.44269504088896341) : T(1);
    for (int64_t j = 0; j < tiling.count(); ++j) {
      const int64_t c0 = tiling.first(j), w = tiling.width(j);
      V<T>*a = A_.data() + j * N_, *a2 = A2_.data() + j * N_;
      load_state<T>(a, A + c0 * N_, w, N_);
      T a2_min = 0, a2_max = 0;  // padding lanes count as 0
      for (int64_t n = 0; n < N_; ++n) {
        a2[n] = a[n] * scale;
        for (int c = 0; c < kLanes<T>; ++c) {
          a2_min = std::min(a2_min, a2[n][c]);
          a2_max = std::max(a2_max, a2[n][c]);
        }
      }
      dt_limit_[size_t(j)] = scan_math::exp2_dt_limit(a2_min, a2_max);
      D_.data()[j] = D != nullptr ? scan_math::load(D + c0, w) : V<T>{};
      bias_.data()[j] = bias != nullptr ? scan_math::load(bias + c0, w) : V<T>{};
    }
  }
  TileParams<T> operator[](int64_t j) const {
    return {A_.data() + j * N_, A2_.data() + j * N_, D_.data()[j], bias_.data()[j],
            dt_limit_[size_t(j)]};
  }

 private:
  int64_t N_;
  VecBuffer<V<T>> A_, A2_, D_, bias_;
  std::vector<T> dt_limit_;
};

// Typed pointers of one call.
template <class T>
struct Scan {
  const SelectiveScanParams& p;
  Tiling tiling;
  const T *u, *delta, *z, *B, *C, *s0;
  TileTable<T> params;
  explicit Scan(const SelectiveScanParams& p_)
      : p(p_),
        tiling(p_, kLanes<T>),
        u(static_cast<const T*>(p_.u)),
        delta(static_cast<const T*>(p_.delta)),
        z(static_cast<const T*>(p_.z)),
        B(static_cast<const T*>(p_.B)),
        C(static_cast<const T*>(p_.C)),
        s0(static_cast<const T*>(p_.initial_state)),
        params(p_, tiling) {}
  bool reset_at(int64_t b, int64_t t) const {
    return p.reset != nullptr && p.reset[b * p.reset_sb + t * p.reset_st];
  }
  const T* B_at(int64_t b, int64_t t, int64_t g) const {
    return B + b * p.B_sb + t * p.B_st + g * p.state;
  }
  const T* C_at(int64_t b, int64_t t, int64_t g) const {
    return C + b * p.C_sb + t * p.C_st + g * p.state;
  }
  // Offset in T of the checkpoint of (row b, chunk k, tile j).
  int64_t ckpt_at(int64_t b, int64_t k, int64_t j) const {
    return ((b * num_chunks(p.length) + k) * tiling.count() + j) * p.state * kLanes<T>;
  }
};

// N zero vectors: the "previous state" a reset step reads (a select of pointers, not a product:
// an infinite state before a reset must not leak into the next sequence as NaN).
template <class T>
inline const V<T>* zero_state() {
  alignas(64) static const V<T> zeros[kMaxN] = {};
  return zeros;
}

// Per-step inputs of one tile over up to kChunk steps: dt, u, dt * u and, when asked, d dt /
// d delta. They are computed ahead of the scan loop, where the steps are independent and the
// loop runs at full throughput; inside the scan loop softplus' long dependency chain held up
// every step (moving it out took the forward from 2.8 to 2.0 ms of CPU time on the bench).
template <class T>
struct Steps {
  V<T> dt[kChunk], u[kChunk], du[kChunk], sig[kChunk];
  bool in_range = true;  // every exp of these steps is safe without clamps
  COIL_SCAN_INLINE Steps(const Scan<T>& s, const TileParams<T>& tp, int64_t b, int64_t t0,
                         int64_t steps, int64_t c0, int64_t w, bool want_sig) {
    const SelectiveScanParams& p = s.p;
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t t = t0 + i;
      const V<T> x = scan_math::load(s.delta + b * p.delta_sb + t * p.delta_st + c0, w) + tp.bias;
      if (p.delta_softplus) {
        dt[i] = scan_math::softplus_(x, want_sig ? &sig[i] : nullptr);
      } else {
        dt[i] = x;
        if (want_sig) sig[i] = V<T>{} + T(1);
      }
      u[i] = scan_math::load(s.u + b * p.u_sb + t * p.u_st + c0, w);
      du[i] = dt[i] * u[i];
      in_range = in_range & scan_math::exp2_in_range(dt[i], tp.dt_limit);
    }
  }
};

// a[n] = exp(dt * A[n]) for the N states of one step; kClamp = false when Steps::in_range.
template <class T, int kN, bool kClamp>
COIL_SCAN_INLINE void decays(V<T>* a, const V<T>& dt, const TileParams<T>& tp, int64_t N_) {
  const int64_t N = kN > 0 ? kN : N_;
  for (int64_t n = 0; n < N; ++n) a[n] = scan_math::exp_scaled<kClamp>(dt * tp.A2[n]);
}

}  // namespace coil::cpu::scan_detail

#pragma GCC diagnostic pop
