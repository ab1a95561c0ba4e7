// Math of the selective scan's CPU kernels on 32-byte GCC vectors (8 f32 or 4 f64 lanes, one
// lane per channel) and on scalars. Float exp and softplus are branch-free polynomials (bit casts
// and selects, no libm), so a whole vector of exps costs a few FMAs; double keeps the exact std::
// functions lane by lane: it serves the gradient check. The AVX2 clone of a caller keeps a vector
// in one ymm register, the baseline in two xmm ones. (64-byte vectors are worse on AVX2: GCC
// lowers their selects lane by lane.)
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

// Every function here is inlined into its caller, so the vector-argument ABI never applies.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace coil::cpu::scan_math {

#if defined(__GNUC__)
#define COIL_SCAN_INLINE [[gnu::always_inline]] inline
#else
#define COIL_SCAN_INLINE inline
#endif

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(32)));
};
template <class T>
using V = typename Vec<T>::type;
template <class T>
constexpr int kLanes = int(32 / sizeof(T));
using VF = V<float>;
using VD = V<double>;
using VU = V<uint32_t>;
using VI = V<int32_t>;
using VL = V<int64_t>;

// ---- float: minimax polynomials, about 2e-7 relative, written once for scalars and vectors ----

// The range exp2_poly<false> needs no clamp in: 2^n * p(f) stays a normal float.
inline constexpr float kExp2Lo = -125.0f, kExp2Hi = 127.4f;

// 2^x: 2^n * p(f), n = round(x), |f| <= 1/2, p of degree 5 with p(0) = 1, minimax for relative
// error on [-1/2, 1/2] (9.1e-8, about 2e-7 with float rounding; degree 4 would be 2.6e-6). p(0) = 1
// keeps the error near x = 0 proportional to x: the decays of small dt * A are close to 1 and a
// bias there would accumulate along the state (dA was 10x less accurate without it). 2^n enters by
// adding n to p's exponent bits, an integer add instead of a multiply. The kernels call it with A
// pre-scaled by log2(e), so exp(dt A) costs no extra multiply. Below -125 the result is about
// 2^-125 * p (tiny, never a subnormal), above 127.4 it is 1.7e38 at most; NaN propagates through p.
// kClamp = false skips the clamps, for callers that know x is inside [kExp2Lo, kExp2Hi].
template <bool kClamp, class X, class U>
COIL_SCAN_INLINE X exp2_poly(const X& x) {
  const X lo = X{} + kExp2Lo, hi = X{} + kExp2Hi, magic = X{} + 12582912.0f;  // 1.5 * 2^23
  X xc = x;
  if constexpr (kClamp) {
    xc = xc < lo ? lo : xc;
    xc = xc > hi ? hi : xc;
  }
  const X shifted = xc + magic;  // round(x) in the low mantissa bits
  const X f = xc - (shifted - magic);
  X p = X{} + 1.3264725280692558e-3f;
  p = p * f + 9.671512768694017e-3f;
  p = p * f + 5.5507337496037326e-2f;
  p = p * f + 2.4022242082562295e-1f;
  p = p * f + 6.931469775947697e-1f;
  p = p * f + 1.0f;
  // bits(shifted) = bits(magic) + n, and bits(magic) << 23 wraps to 0, so this adds n << 23
  // (wraps for NaN: harmless, p is NaN).
  return std::bit_cast<X>(std::bit_cast<U>(p) + (std::bit_cast<U>(shifted) << 23));
}

template <class X, class U>
COIL_SCAN_INLINE X exp_poly(const X& x) {
  return exp2_poly<true, X, U>(x * 1.44269504088896341f);
}

// softplus(x) = max(x, 0) + log1p(e) with e = exp(-|x|) in (0, 1], and log1p(e) = e * g(e), g a
// degree-8 polynomial, minimax for relative error on [0, 1] (3.0e-8): no log and no division.
// Above x = 17 the log1p term is below half an ulp of x, so the result is x, as mamba_ssm's and
// PyTorch's threshold at 20 gives. If sig is not null, *sig = sigmoid(x), softplus' derivative,
// from the same exp.
template <class X, class U>
COIL_SCAN_INLINE X softplus_poly(const X& x, X* sig = nullptr) {
  const X zero{};
  const X e = exp_poly<X, U>(x < zero ? x : -x);
  X g = X{} + 5.238465112409476e-3f;
  g = g * e - 2.952862861584678e-2f;
  g = g * e + 7.826455194844950e-2f;
  g = g * e - 1.3666572443552374e-1f;
  g = g * e + 1.9107601118052514e-1f;
  g = g * e - 2.484339933826463e-1f;
  g = g * e + 3.3319150800330927e-1f;
  g = g * e - 4.999949583315485e-1f;
  g = g * e + 9.999999701040445e-1f;
  if (sig != nullptr) {
    const X r = 1.0f / (e + 1.0f);
    *sig = x < zero ? e * r : r;
  }
  return (x > zero ? x : zero) + e * g;
}

COIL_SCAN_INLINE float exp_(float x) { return exp_poly<float, uint32_t>(x); }
COIL_SCAN_INLINE VF exp_(const VF& x) { return exp_poly<VF, VU>(x); }
// exp(x / log2(e)): for arguments already scaled by log2(e).
template <bool kClamp = true>
COIL_SCAN_INLINE VF exp_scaled(const VF& x) {
  return exp2_poly<kClamp, VF, VU>(x);
}

// The largest |dt| for which dt * a lies in [kExp2Lo, kExp2Hi] for every a in [a_min, a_max]
// (a_min <= 0 <= a_max; the product is linear in a, so the two ends decide).
inline float exp2_dt_limit(float a_min, float a_max) {
  const float m = std::max(-a_min, a_max);
  return m > 0.0f ? -kExp2Lo / m : std::numeric_limits<float>::infinity();
}
// Whether |dt| <= limit in every lane (NaN lanes answer no): then exp2_poly needs no clamps.
COIL_SCAN_INLINE bool exp2_in_range(const VF& dt, float limit) {
  VI ok = std::bit_cast<VF>(std::bit_cast<VU>(dt) & 0x7fffffffu) <= limit;
  ok &= __builtin_shuffle(ok, VI{4, 5, 6, 7, 0, 1, 2, 3});
  ok &= __builtin_shuffle(ok, VI{2, 3, 0, 1, 6, 7, 4, 5});
  return (ok[0] & ok[1]) != 0;
}
COIL_SCAN_INLINE float softplus_(float x) { return softplus_poly<float, uint32_t>(x); }
COIL_SCAN_INLINE VF softplus_(const VF& x, VF* sig = nullptr) {
  return softplus_poly<VF, VU>(x, sig);
}

// ---- double: exact, lane by lane ----

COIL_SCAN_INLINE double exp_(double x) { return std::exp(x); }
COIL_SCAN_INLINE double softplus_(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
COIL_SCAN_INLINE VD exp_(const VD& x) {
  VD r;
  for (int i = 0; i < kLanes<double>; ++i) r[i] = std::exp(x[i]);
  return r;
}
// Double does not pre-scale (exactness first): exp_scaled is exp, and never needs a clamp.
template <bool kClamp = true>
COIL_SCAN_INLINE VD exp_scaled(const VD& x) {
  return exp_(x);
}
inline double exp2_dt_limit(double, double) { return std::numeric_limits<double>::infinity(); }
COIL_SCAN_INLINE bool exp2_in_range(const VD&, double) { return true; }
COIL_SCAN_INLINE VD softplus_(const VD& x, VD* sig = nullptr) {
  VD r;
  for (int i = 0; i < kLanes<double>; ++i) r[i] = softplus_(x[i]);
  if (sig != nullptr)
    for (int i = 0; i < kLanes<double>; ++i) (*sig)[i] = 1.0 / (1.0 + std::exp(-x[i]));
  return r;
}

template <class X>
COIL_SCAN_INLINE X sigmoid_(const X& x) {
  return 1.0f / (exp_(-x) + 1.0f);
}

// Sum of the lanes in a fixed pairwise order (halves, then quarters, ...), so the result does
// not depend on how the compiler splits the vector.
COIL_SCAN_INLINE float lane_sum(const VF& x) {
  VF v = x;
  v += __builtin_shuffle(v, VI{4, 5, 6, 7, 0, 1, 2, 3});
  v += __builtin_shuffle(v, VI{2, 3, 0, 1, 6, 7, 4, 5});
  return v[0] + v[1];
}
COIL_SCAN_INLINE double lane_sum(const VD& x) {
  VD v = x;
  v += __builtin_shuffle(v, VL{2, 3, 0, 1});
  return v[0] + v[1];
}

// out[i] = the sum of the lanes of v[i], for 8 vectors at once: a transpose-and-add network
// (in-lane shuffles, then one cross-lane step) instead of 8 separate lane sums. Each sum runs in
// the fixed order ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)).
COIL_SCAN_INLINE VF pair_sums(const VF& a, const VF& b) {
  return __builtin_shuffle(a, b, VI{0, 2, 8, 10, 4, 6, 12, 14}) +
         __builtin_shuffle(a, b, VI{1, 3, 9, 11, 5, 7, 13, 15});
}
COIL_SCAN_INLINE VF lane_sums8(const VF* v) {
  const VF t0 = pair_sums(pair_sums(v[0], v[1]), pair_sums(v[2], v[3]));
  const VF t1 = pair_sums(pair_sums(v[4], v[5]), pair_sums(v[6], v[7]));
  return __builtin_shuffle(t0, t1, VI{0, 1, 2, 3, 8, 9, 10, 11}) +
         __builtin_shuffle(t0, t1, VI{4, 5, 6, 7, 12, 13, 14, 15});
}

// out[n] = lane_sum(v[n]) for n < N; f32 takes the 8-at-a-time network where it can.
COIL_SCAN_INLINE void lane_sums(const VF* v, int64_t N, float* out) {
  int64_t n = 0;
  for (; n + 8 <= N; n += 8) {
    const VF s = lane_sums8(v + n);
    std::memcpy(out + n, &s, sizeof s);
  }
  for (; n < N; ++n) out[n] = lane_sum(v[n]);
}
COIL_SCAN_INLINE void lane_sums(const VD* v, int64_t N, double* out) {
  for (int64_t n = 0; n < N; ++n) out[n] = lane_sum(v[n]);
}

// Unaligned whole-vector loads and stores, and the partial ones of a tile's last w < W lanes
// (the other lanes read as zero).
template <class T>
COIL_SCAN_INLINE V<T> load(const T* p, int64_t w) {
  V<T> v{};
  if (w == kLanes<T>) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (int64_t c = 0; c < w; ++c) v[c] = p[c];
  }
  return v;
}

template <class T>
COIL_SCAN_INLINE void store(T* p, const V<T>& v, int64_t w) {
  if (w == kLanes<T>) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int64_t c = 0; c < w; ++c) p[c] = v[c];
  }
}

}  // namespace coil::cpu::scan_math

#pragma GCC diagnostic pop
