// The CPU FFT convolution kernels of ops/fft_conv/cpu_lanes.h, written once and compiled per
// instruction set: cpu.cpp includes this with COIL_FFT_LANES_ISA = generic, cpu_avx2.cpp under
// `#pragma GCC target("avx2,fma")` with avx2. Everything but the entry points has internal
// linkage and no standard-library template is instantiated here, so the two compilations share
// no symbol (the linker could otherwise keep an AVX2 copy of an inline function for both).
//
// The FFT: radix-2 decimation in frequency (forward, output in bit-reversed order) and its exact
// transpose, decimation in time (inverse, bit-reversed input), so the pointwise products work in
// bit-reversed order and no permutation pass is needed. Two radix-2 stages run fused as one
// radix-4 pass (3 twiddle products per 4 points). The forward's first three stages run as one
// pass fused with loading the rows (a causal convolution's zero half is never loaded), the
// inverse's last three with storing the first L outputs (the cropped ones are never computed);
// in between, the 8 blocks of n/8 points are transformed, multiplied and transformed back a
// pair at a time in L1 (convolve_fft). Blocks above kLeaf recurse depth-first.
#include <omp.h>

#include <cstdint>
#include <cstring>

#include "ops/fft_conv/cpu_lanes.h"

#if !defined(COIL_FFT_LANES_ISA) || !defined(COIL_FFT_LANES_AVX)
#error "define COIL_FFT_LANES_ISA (generic or avx2) and COIL_FFT_LANES_AVX (0 or 1) first"
#endif

// Without AVX, GCC warns that 32-byte vector arguments change the ABI: these functions have
// internal linkage, so no other compilation ever calls them.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu::fft_lanes::COIL_FFT_LANES_ISA {
namespace {

template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(32)));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int64_t kLanes = int64_t(32 / sizeof(T));

// One complex value per lane: lane j is the pair (channel h0 + j, channel h0 + V + j).
template <class T>
struct Cv {
  Vec<T> re, im;
};
static_assert(sizeof(Cv<float>) == kSlotBytes && sizeof(Cv<double>) == kSlotBytes);

// Rows of u and y prefetched ahead in each of the first and last passes' four row streams (their
// stride defeats the hardware prefetchers): into L1 kAhead rows ahead, into L2 kAheadL2 rows
// ahead (against L1 alone at 4 rows: -14% forward, -17% backward CPU time, caches flushed).
constexpr int64_t kAhead = 4, kAheadL2 = 16;
constexpr int64_t kLeaf = 256;  // spans up to this many slots (16 KB) finish in L1

template <class T>
inline Cv<T> operator+(Cv<T> a, Cv<T> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class T>
inline Cv<T> operator-(Cv<T> a, Cv<T> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class T>
inline Cv<T> conj(Cv<T> a) {
  return {a.re, -a.im};
}
template <class T>
inline Cv<T> times_i(Cv<T> a) {
  return {-a.im, a.re};
}
template <class T>
inline Cv<T> times_minus_i(Cv<T> a) {
  return {a.im, -a.re};
}
template <class T>
inline Cv<T> scale(Cv<T> a, T s) {
  return {a.re * s, a.im * s};
}
// A twiddle as an operand of lane-wise products. With AVX (COIL_FFT_LANES_AVX) the scalar itself
// (GCC broadcasts it with one instruction); without (the baseline build) GCC would spill it
// through the stack for each use (a store-forwarding stall, 5x slower), so the lanes are filled
// in registers.
template <class T>
inline auto twiddle(T s) {
#if COIL_FFT_LANES_AVX
  return s;
#else
  Vec<T> v;
  for (int64_t i = 0; i < kLanes<T>; ++i) v[i] = s;
  return v;
#endif
}
// a * w and a * conj(w) for a twiddle w = (wr, wi), the same in every lane.
template <class T>
inline Cv<T> mulw(Cv<T> a, T wr_, T wi_) {
  const auto wr = twiddle(wr_), wi = twiddle(wi_);
  return {a.re * wr - a.im * wi, a.re * wi + a.im * wr};
}
template <class T>
inline Cv<T> mulw_conj(Cv<T> a, T wr_, T wi_) {
  const auto wr = twiddle(wr_), wi = twiddle(wi_);
  return {a.re * wr + a.im * wi, a.im * wr - a.re * wi};
}
// Lane-wise a * b and a * conj(b).
template <class T>
inline Cv<T> mul(Cv<T> a, Cv<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T>
inline Cv<T> mul_conj(Cv<T> a, Cv<T> b) {
  return {a.re * b.re + a.im * b.im, a.im * b.re - a.re * b.im};
}

template <class T>
inline Vec<T> loadu(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void storeu(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// Channels [h0, h0 + w) of one time step (p points at channel h0): lanes past w are zero.
template <class T>
inline Cv<T> load_row(const T* p, int64_t w) {
  constexpr int64_t V = kLanes<T>;
  if (w == 2 * V) return {loadu(p), loadu(p + V)};
  T lanes[2 * V] = {};
  for (int64_t j = 0; j < w; ++j) lanes[j] = p[j];
  return {loadu(lanes), loadu(lanes + V)};
}
template <class T>
inline void store_row(T* p, int64_t w, Cv<T> v) {
  constexpr int64_t V = kLanes<T>;
  if (w == 2 * V) {
    storeu(p, v.re), storeu(p + V, v.im);
    return;
  }
  T lanes[2 * V];
  storeu(lanes, v.re), storeu(lanes + V, v.im);
  for (int64_t j = 0; j < w; ++j) p[j] = lanes[j];
}

// ---- the FFT passes ------------------------------------------------------------------------

template <class T>
const T* radix4_twiddles(const Tables<T>& t, int64_t m) {
  return t.radix4 + 6 * (m / 4 - 1);
}

// Two radix-2 DIF stages (spans m = 4q and 2q) on the values at j + {0, q, 2q, 3q}; w holds
// w_m^j, w_m^2j, w_m^3j (unused where kUnit: j = 0, all twiddles 1).
template <class T, bool kUnit>
inline void dif4_vals(Cv<T>& x0, Cv<T>& x1, Cv<T>& x2, Cv<T>& x3, const T* w) {
  const Cv<T> s0 = x0 + x2, e0 = x0 - x2, s1 = x1 + x3, e1 = times_i(x1 - x3);
  x0 = s0 + s1;
  if constexpr (kUnit) {
    x1 = s0 - s1, x2 = e0 - e1, x3 = e0 + e1;
  } else {
    x1 = mulw(s0 - s1, w[2], w[3]), x2 = mulw(e0 - e1, w[0], w[1]), x3 = mulw(e0 + e1, w[4], w[5]);
  }
}

// Its transpose with conjugate twiddles (undoes dif4_vals up to a factor 4).
template <class T, bool kUnit>
inline void dit4_vals(Cv<T>& x0, Cv<T>& x1, Cv<T>& x2, Cv<T>& x3, const T* w) {
  if constexpr (!kUnit) {
    x1 = mulw_conj(x1, w[2], w[3]), x2 = mulw_conj(x2, w[0], w[1]), x3 = mulw_conj(x3, w[4], w[5]);
  }
  const Cv<T> p = x0 + x1, r = x0 - x1, e0 = x2 + x3, e1 = times_i(x2 - x3);
  x0 = p + e0, x1 = r + e1, x2 = p - e0, x3 = r - e1;
}

// The same on x[j + {0, q, 2q, 3q}] in place (through locals: the compiler cannot tell that the
// four slots do not alias).
template <class T, bool kUnit, bool kDit>
inline void radix4_at(Cv<T>* x, int64_t q, int64_t j, const T* w) {
  Cv<T> x0 = x[j], x1 = x[j + q], x2 = x[j + 2 * q], x3 = x[j + 3 * q];
  if constexpr (kDit) dit4_vals<T, kUnit>(x0, x1, x2, x3, w);
  else dif4_vals<T, kUnit>(x0, x1, x2, x3, w);
  x[j] = x0, x[j + q] = x1, x[j + 2 * q] = x2, x[j + 3 * q] = x3;
}
template <class T, bool kUnit>
inline void dif4_at(Cv<T>* x, int64_t q, int64_t j, const T* w) {
  radix4_at<T, kUnit, false>(x, q, j, w);
}
template <class T, bool kUnit>
inline void dit4_at(Cv<T>* x, int64_t q, int64_t j, const T* w) {
  radix4_at<T, kUnit, true>(x, q, j, w);
}

// The radix-4 pass of span m on the block x[0, m) (j = 0 needs no twiddles).
template <class T>
void dif4(Cv<T>* x, int64_t m, const T* w) {
  const int64_t q = m / 4;
  dif4_at<T, true>(x, q, 0, w);
  for (int64_t j = 1; j < q; ++j) dif4_at<T, false>(x, q, j, w + 6 * j);
}
template <class T>
void dit4(Cv<T>* x, int64_t m, const T* w) {
  const int64_t q = m / 4;
  dit4_at<T, true>(x, q, 0, w);
  for (int64_t j = 1; j < q; ++j) dit4_at<T, false>(x, q, j, w + 6 * j);
}

// The passes of span 4 on every block of x[0, m).
template <class T>
void dif4_unit(Cv<T>* x, int64_t m) {
  for (int64_t b = 0; b < m; b += 4) dif4_at<T, true>(x + b, 1, 0, nullptr);
}
template <class T>
void dit4_unit(Cv<T>* x, int64_t m) {
  for (int64_t b = 0; b < m; b += 4) dit4_at<T, true>(x + b, 1, 0, nullptr);
}
// The radix-2 stage of span 2 (its own inverse up to a factor 2) on every pair of x[0, m).
template <class T>
void radix2_unit(Cv<T>* x, int64_t m) {
  for (int64_t b = 0; b < m; b += 2) {
    const Cv<T> a = x[b], c = x[b + 1];
    x[b] = a + c, x[b + 1] = a - c;
  }
}

inline bool odd_log2(int64_t m) { return __builtin_ctzll(uint64_t(m)) & 1; }

// All DIF stages of spans m, m/2, ..., 2 on x[0, m): bit-reversed output.
template <class T>
void dif(Cv<T>* x, int64_t m, const Tables<T>& t) {
  if (m > kLeaf) {
    dif4(x, m, radix4_twiddles(t, m));
    for (int64_t s = 0; s < 4; ++s) dif(x + s * (m / 4), m / 4, t);
    return;
  }
  int64_t s = m;
  for (; s > 4; s /= 4)
    for (int64_t b = 0; b < m; b += s) dif4(x + b, s, radix4_twiddles(t, s));
  if (s == 4) dif4_unit(x, m);
  if (s == 2) radix2_unit(x, m);
}

// The inverse of dif up to a factor m: natural-order output.
template <class T>
void dit(Cv<T>* x, int64_t m, const Tables<T>& t) {
  if (m > kLeaf) {
    for (int64_t s = 0; s < 4; ++s) dit(x + s * (m / 4), m / 4, t);
    dit4(x, m, radix4_twiddles(t, m));
    return;
  }
  if (m < 2) return;
  int64_t s = 16;
  if (odd_log2(m)) {
    radix2_unit(x, m);
    s = 8;
  } else {
    dit4_unit(x, m);
  }
  for (; s <= m; s *= 4)
    for (int64_t b = 0; b < m; b += s) dit4(x + b, s, radix4_twiddles(t, s));
}

// The first three DIF stages (spans n, n/2, n/4: radix 2, then radix 4 on each half) on the
// points j + r n/8, r < 8, for each j < n/8, with nothing stored in between. kHalf: the samples
// from n/2 on are zero (a causal convolution's padding), so they are neither loaded nor added.
template <class T, bool kHalf, class Load>
void dif8_first(Cv<T>* x, const Tables<T>& t, Load load) {
  const int64_t q = t.n / 8, s = block_stride(t.n);
  const T *w4 = radix4_twiddles(t, t.n / 2), *w2 = t.radix2;
  for (int64_t j = 0; j < q; ++j) {
    // Named values, not arrays: GCC keeps arrays of vector pairs on the stack.
    const int64_t j1 = j + q, j2 = j + 2 * q, j3 = j + 3 * q;
    Cv<T> a0 = load(j), a1 = load(j1), a2 = load(j2), a3 = load(j3), b0, b1, b2, b3;
    if constexpr (kHalf) {
      b0 = mulw(a0, w2[2 * j], w2[2 * j + 1]), b1 = mulw(a1, w2[2 * j1], w2[2 * j1 + 1]);
      b2 = mulw(a2, w2[2 * j2], w2[2 * j2 + 1]), b3 = mulw(a3, w2[2 * j3], w2[2 * j3 + 1]);
    } else {
      const Cv<T> c0 = load(j + 4 * q), c1 = load(j1 + 4 * q), c2 = load(j2 + 4 * q),
                  c3 = load(j3 + 4 * q);
      b0 = mulw(a0 - c0, w2[2 * j], w2[2 * j + 1]), b1 = mulw(a1 - c1, w2[2 * j1], w2[2 * j1 + 1]);
      b2 = mulw(a2 - c2, w2[2 * j2], w2[2 * j2 + 1]),
      b3 = mulw(a3 - c3, w2[2 * j3], w2[2 * j3 + 1]);
      a0 = a0 + c0, a1 = a1 + c1, a2 = a2 + c2, a3 = a3 + c3;
    }
    dif4_vals<T, false>(a0, a1, a2, a3, w4 + 6 * j);
    Cv<T>* o = x + j;  // position j + r q sits at slot j + r s
    o[0] = a0, o[s] = a1, o[2 * s] = a2, o[3 * s] = a3;
    dif4_vals<T, false>(b0, b1, b2, b3, w4 + 6 * j);
    o[4 * s] = b0, o[5 * s] = b1, o[6 * s] = b2, o[7 * s] = b3;
  }
}
template <class T, class Load>
void dif8_first(Cv<T>* x, const Tables<T>& t, int64_t count, Load load) {
  if (count <= t.n / 2) dif8_first<T, true>(x, t, load);
  else dif8_first<T, false>(x, t, load);
}

// Their transpose, the last three DIT stages, fused with store(i, v) for the outputs i < count
// (those from n/2 on are not even computed when count <= n/2).
template <class T, class Store>
void dit8_last(Cv<T>* x, const Tables<T>& t, int64_t count, Store store) {
  const int64_t q = t.n / 8, h = t.n / 2, s = block_stride(t.n);
  const T *w4 = radix4_twiddles(t, h), *w2 = t.radix2;
  const auto out = [&](int64_t i, Cv<T> a, Cv<T> b) {
    const Cv<T> c = mulw_conj(b, w2[2 * i], w2[2 * i + 1]);
    if (i < count) store(i, a + c);
    if (i + h < count) store(i + h, a - c);
  };
  for (int64_t j = 0; j < q; ++j) {
    const Cv<T>* o = x + j;  // position j + r q sits at slot j + r s
    Cv<T> a0 = o[0], a1 = o[s], a2 = o[2 * s], a3 = o[3 * s];
    Cv<T> b0 = o[4 * s], b1 = o[5 * s], b2 = o[6 * s], b3 = o[7 * s];
    dit4_vals<T, false>(a0, a1, a2, a3, w4 + 6 * j);
    dit4_vals<T, false>(b0, b1, b2, b3, w4 + 6 * j);
    out(j, a0, b0), out(j + q, a1, b1), out(j + 2 * q, a2, b2), out(j + 3 * q, a3, b3);
  }
}

// x <- the spectrum (bit-reversed) of the n samples load(0), ..., load(n - 1), of which those
// from `count` on are zero. n >= 8.
template <class T, class Load>
void forward_fft(Cv<T>* x, const Tables<T>& t, int64_t count, Load load) {
  const int64_t q = t.n / 8, s = block_stride(t.n);
  dif8_first(x, t, count, load);
  for (int64_t c = 0; c < 8; ++c) dif(x + c * s, q, t);
}

// store(i, v) for i < count of n times the inverse transform of the bit-reversed spectrum x
// (x is overwritten).
template <class T, class Store>
void inverse_fft(Cv<T>* x, const Tables<T>& t, int64_t count, Store store) {
  const int64_t q = t.n / 8, s = block_stride(t.n);
  for (int64_t c = 0; c < 8; ++c) dit(x + c * s, q, t);
  dit8_last(x, t, count, store);
}

// Forward FFT (count_in samples), bin(k) for each bin pair k = 0..n/2 (it may read and change x
// at t.pos[k] and t.pos_neg[k]), then inverse FFT into store(i, v), i < count_out (no inverse
// when count_out is 0). After dif8_first, block c of the spectrum's 8 blocks of n/8 positions
// holds the bins k = rev3(c) mod 8, and bin n - k lies in the block of -k mod 8: the blocks are
// finished and inverted pair by pair, so each pair's leaf passes and products stay in L1.
template <class T, class Load, class Bin, class Store>
void convolve_fft(Cv<T>* x, const Tables<T>& t, int64_t count_in, Load load, Bin bin,
                  int64_t count_out, Store store) {
  constexpr int64_t kBlockOf[8] = {0, 4, 2, 6, 1, 5, 3, 7};  // rev3 of a residue mod 8
  const int64_t q = t.n / 8, s = block_stride(t.n);
  dif8_first(x, t, count_in, load);
  for (int64_t r = 0; r <= 4; ++r) {  // residues r and 8 - r (r = 0 and 4 are their own pair)
    Cv<T>*x1 = x + kBlockOf[r] * s, *x2 = x + kBlockOf[(8 - r) % 8] * s;
    dif(x1, q, t);
    if (x2 != x1) dif(x2, q, t);
    for (int64_t k = r; k <= t.n / 2; k += 8) bin(k);
    if (x2 != x1)
      for (int64_t k = 8 - r; k <= t.n / 2; k += 8) bin(k);
    if (count_out == 0) continue;
    dit(x1, q, t);
    if (x2 != x1) dit(x2, q, t);
  }
  if (count_out > 0) dit8_last(x, t, count_out, store);
}

// Rows [0, L) of a tile (src: channel h0 at time 0, rows H apart) as samples, zero from L on.
template <class T>
auto row_loader(const T* src, int64_t L, int64_t H, int64_t w) {
  return [=](int64_t i) {
    if (i + kAhead < L) __builtin_prefetch(src + (i + kAhead) * H);
    if (i + kAheadL2 < L) __builtin_prefetch(src + (i + kAheadL2) * H, 0, 2);
    return i < L ? load_row(src + i * H, w) : Cv<T>{};
  };
}
// Samples to rows [0, L) of a tile.
template <class T>
auto row_storer(T* dst, int64_t L, int64_t H, int64_t w) {
  return [=](int64_t i, Cv<T> v) {
    if (i + kAhead < L) __builtin_prefetch(dst + (i + kAhead) * H, 1);
    if (i + kAheadL2 < L) __builtin_prefetch(dst + (i + kAheadL2) * H, 1, 2);
    store_row(dst + i * H, w, v);
  };
}

// ---- the convolution -----------------------------------------------------------------------

template <class T>
struct Tiling {
  const Problem<T>& p;
  int64_t tiles, spec_slots;  // spectra per tile: (P, M) for bins 0..n/2
  int64_t rows_per_thread;    // see work_slots
  Tiling(const Problem<T>& pr, int64_t rows)
      : p(pr),
        tiles((pr.H + tile_width<T>() - 1) / tile_width<T>()),
        spec_slots(2 * (pr.n / 2 + 1)),
        rows_per_thread(rows) {}
  int64_t h0(int64_t tile) const { return tile * tile_width<T>(); }
  int64_t width(int64_t tile) const {
    const int64_t w = p.H - h0(tile);
    return w < tile_width<T>() ? w : tile_width<T>();
  }
  Cv<T>* spectra(int64_t tile) const { return static_cast<Cv<T>*>(p.work) + tile * spec_slots; }
  Cv<T>* rows(int thread) const {
    return static_cast<Cv<T>*>(p.work) + tiles * spec_slots +
           thread * rows_per_thread * row_slots(p.n);
  }
};

// For a tile whose lanes hold real channels a (re) and b (im) packed as Z = A + iB, with kernel
// spectra Ka, Kb: Y = A Ka + i B Kb = Z P + conj(Z(-f)) M, P = (Ka + Kb)/2, M = (Ka - Kb)/2.
// The tile's spectra are (P, M) at bins 0..n/2, scaled by 1/n (the inverse FFT's factor); the
// two-sided kernel holds D at lag 0 (ops/fft_conv/kernels.h for the index rules).
template <class T>
void kernel_spectra(const Tiling<T>& g, int64_t tile, Cv<T>* x) {
  const Problem<T>& p = g.p;
  constexpr int64_t V = kLanes<T>;
  const int64_t h0 = g.h0(tile), w = g.width(tile), n = p.n;
  const int64_t anti = p.Lk < p.L - 1 ? p.Lk : p.L - 1;
  const T inv_n = T(1) / T(n);
  // The two-sided kernels in natural order, staged in the tile's spectrum slots (n + 2 of them)
  // until transformed into x; slots the first pass never reads (count <= n/2) are not zeroed.
  // Blocks of 16 steps: k's rows are contiguous in time, each slot is one cache line for all
  // channels, so a block's lines stay in L1 while every channel's steps are copied in.
  const int64_t count = p.C == 2 ? n : p.Lk, used = count <= n / 2 ? n / 2 : n;
  Cv<T>* out = g.spectra(tile);
  for (int64_t i = 0; i < used; ++i) out[i] = Cv<T>{};
  T* lanes = reinterpret_cast<T*>(out);  // slot i, lane j at lanes[i * 2V + j] (vectors alias T)
  constexpr int64_t kSteps = 16;
  for (int64_t i0 = 0; i0 < p.Lk; i0 += kSteps) {
    const int64_t i1 = i0 + kSteps < p.Lk ? i0 + kSteps : p.Lk;
    for (int64_t j = 0; j < w; ++j) {
      const T* k0 = p.k + (h0 + j) * p.Lk;
      for (int64_t i = i0; i < i1; ++i) lanes[i * 2 * V + j] = k0[i] * inv_n;
    }
  }
  for (int64_t j = 0; j < w; ++j) {
    if (p.D) lanes[j] += p.D[h0 + j] * inv_n;
    if (p.C == 2) {
      const T* k1 = p.k + (p.H + h0 + j) * p.Lk;
      for (int64_t d = 1; d <= anti; ++d) lanes[(n - d) * 2 * V + j] = k1[d - 1] * inv_n;
    }
  }
  forward_fft(x, p.tables, count, [&](int64_t i) { return out[i]; });
  const T half = T(0.5);
  for (int64_t k = 0; k <= n / 2; ++k) {
    const Cv<T> z1 = x[p.tables.pos[k]], z2c = conj(x[p.tables.pos_neg[k]]);
    const Cv<T> ka = scale(z1 + z2c, half), kb = scale(times_minus_i(z1 - z2c), half);
    out[2 * k] = scale(ka + kb, half);
    out[2 * k + 1] = scale(ka - kb, half);
  }
}

// Bins k and n - k of x <- those of the packed spectrum of (A Ka, B Kb), or with kConj of
// (A conj Ka, B conj Kb).
template <class T, bool kConj>
inline void multiply_bin(Cv<T>* x, const Cv<T>* spec, const Tables<T>& t, int64_t k) {
  const int32_t a = t.pos[k], b = t.pos_neg[k];
  const Cv<T> z1 = x[a], z2 = x[b], P = spec[2 * k], M = spec[2 * k + 1];
  if constexpr (kConj) {
    x[a] = mul_conj(z1, P) + conj(mul(z2, M));
    if (b != a) x[b] = mul(z2, P) + mul(conj(z1), M);
  } else {
    x[a] = mul(z1, P) + mul(conj(z2), M);
    if (b != a) x[b] = mul_conj(z2, P) + conj(mul(z1, M));
  }
}

// One parallel region per call, not one per loop: waking the sleeping threads of a passive
// OpenMP runtime costs tens of microseconds each time. Tasks are tile-major: a thread's
// consecutive tasks share a tile, so its spectra stay in cache.
template <class T>
void forward_impl(const Problem<T>& p) {
  const Tiling<T> g(p, 1);
  const int64_t tasks = g.tiles * p.B;
#pragma omp parallel num_threads(p.threads)
  {
    Cv<T>* x = g.rows(omp_get_thread_num());
#pragma omp for schedule(static)
    for (int64_t tile = 0; tile < g.tiles; ++tile) kernel_spectra(g, tile, x);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t tile = task / p.B, b = task % p.B, h0 = g.h0(tile), w = g.width(tile);
      const Cv<T>* spec = g.spectra(tile);
      const int64_t off = b * p.L * p.H + h0;
      convolve_fft(
          x, p.tables, p.L, row_loader(p.u + off, p.L, p.H, w),
          [&](int64_t k) { multiply_bin<T, false>(x, spec, p.tables, k); }, p.L,
          row_storer(p.y + off, p.L, p.H, w));
    }
  }
}

// Per tile, in batch order: DY = F(dy), U = F(u); G += DY conj(U) per channel (the correlation
// of dy with u over all lags, summed over the batch in a fixed order); du = F^-1(DY conj(K)).
// dk and dD are read off F^-1(G) at the kernel's lags (dD is lag 0).
template <class T>
void backward_impl(const Problem<T>& p) {
  const Tiling<T> g(p, 3);
  const bool want_du = p.du != nullptr, want_g = p.dk || p.dD;
  const int64_t n = p.n, anti = p.Lk < p.L - 1 ? p.Lk : p.L - 1;
  constexpr int64_t V = kLanes<T>;
#pragma omp parallel for schedule(static) num_threads(p.threads)
  for (int64_t tile = 0; tile < g.tiles; ++tile) {
    const int64_t h0 = g.h0(tile), w = g.width(tile);
    Cv<T>* xdy = g.rows(omp_get_thread_num());
    Cv<T>*xu = xdy + row_slots(n), *acc = xu + row_slots(n);
    if (want_du) kernel_spectra(g, tile, acc);  // only this thread reads them: no barrier
    if (want_g)
      for (int64_t i = 0; i < row_slots(n); ++i) acc[i] = Cv<T>{};
    const Cv<T>* spec = g.spectra(tile);
    for (int64_t b = 0; b < p.B; ++b) {
      const int64_t off = b * p.L * p.H + h0;
      if (want_g) forward_fft(xu, p.tables, p.L, row_loader(p.u + off, p.L, p.H, w));
      const auto bin = [&](int64_t k) {
        if (want_g) {
          // Per channel pair: 2 DYa = d1 + conj d2, 2 DYb = -i (d1 - conj d2), the same for U;
          // acc gets 4 (DYa conj Ua + i DYb conj Ub) at bin k and its mirror at n - k (the 4 is
          // taken out at the end).
          const int32_t a = p.tables.pos[k], c = p.tables.pos_neg[k];
          const Cv<T> d1 = xdy[a], d2c = conj(xdy[c]), u1 = xu[a], u2c = conj(xu[c]);
          // (-i x) conj(-i y) = x conj(y)
          const Cv<T> ga = mul_conj(d1 + d2c, u1 + u2c), gb = mul_conj(d1 - d2c, u1 - u2c);
          acc[a] = acc[a] + ga + times_i(gb);
          if (c != a) acc[c] = acc[c] + conj(ga) + times_i(conj(gb));
        }
        if (want_du) multiply_bin<T, true>(xdy, spec, p.tables, k);
      };
      // Without du only the forward transform of dy runs (count_out 0).
      convolve_fft(xdy, p.tables, p.L, row_loader(p.dy + off, p.L, p.H, w), bin, want_du ? p.L : 0,
                   row_storer(want_du ? p.du + off : nullptr, p.L, p.H, w));
    }
    if (!want_g) continue;
    const T s = T(0.25) / T(n);
    if (p.dk && p.C == 2)  // lags -(anti + 1) and beyond never reach y
      for (int64_t j = 0; j < w; ++j)
        for (int64_t l = anti; l < p.Lk; ++l) p.dk[(p.H + h0 + j) * p.Lk + l] = T(0);
    // Only lags [0, Lk) and, bidirectional, the top `anti` indices are read.
    inverse_fft(acc, p.tables, p.C == 2 ? n : p.Lk, [&](int64_t i, Cv<T> v) {
      const bool causal = i < p.Lk, anti_lag = p.C == 2 && i >= n - anti;
      if (!causal && !anti_lag) return;
      T lanes[2 * V];
      storeu(lanes, v.re * s), storeu(lanes + V, v.im * s);
      for (int64_t j = 0; j < w; ++j) {
        const int64_t h = h0 + j;
        if (anti_lag) {
          if (p.dk) p.dk[(p.H + h) * p.Lk + (n - 1 - i)] = lanes[j];
          continue;
        }
        if (p.dk) p.dk[h * p.Lk + i] = lanes[j];
        if (i == 0 && p.dD) p.dD[h] = lanes[j];
      }
    });
  }
}

}  // namespace

void forward(const Problem<float>& p) { forward_impl(p); }
void forward(const Problem<double>& p) { forward_impl(p); }
void backward(const Problem<float>& p) { backward_impl(p); }
void backward(const Problem<double>& p) { backward_impl(p); }

}  // namespace coil::cpu::fft_lanes::COIL_FFT_LANES_ISA
