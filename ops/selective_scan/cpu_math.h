// Math of the selective scan's CPU kernels on 32-byte GCC vectors (8 f32 or 4 f64 lanes, one
// lane per channel) and on scalars. Float exp/log are branch-free polynomials (bit casts and
// selects, no libm), so a whole vector of exps costs a few FMAs; double keeps the exact std::
// functions lane by lane: it serves the gradient check. The AVX2 clone of a caller keeps a vector
// in one ymm register, the baseline in two xmm ones. (64-byte vectors are worse on AVX2: GCC
// lowers their selects lane by lane.)
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

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

COIL_SCAN_INLINE float int_to_float(int32_t i) { return float(i); }
COIL_SCAN_INLINE VF int_to_float(VI i) { return __builtin_convertvector(i, VF); }

// ---- float: Cephes-style polynomials, about 1 ulp, written once for scalars and vectors ----

template <class X, class U>
COIL_SCAN_INLINE X exp_poly(X x) {
  // exp(x) = 2^n * p(r), n = round(x / ln 2), |r| <= ln2 / 2. Below -87.3 the result is 0 (the
  // true value is < 1.2e-38); above 88.3 it saturates at 2.2e38. NaN propagates through p.
  const X lo = X{} - 87.3f, hi = X{} + 88.3f, magic = X{} + 12582912.0f;  // 1.5 * 2^23
  X xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const X shifted = xc * 1.44269504088896341f + magic;  // round(x / ln 2) in the low bits
  const X n = shifted - magic;
  const U ni = std::bit_cast<U>(shifted) - std::bit_cast<U>(magic);  // wraps for NaN: harmless
  X r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  X p = X{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const X res = p * std::bit_cast<X>((ni + 127u) << 23);
  return x < lo ? X{} : res;
}

// log(x) for positive normal x: the mantissa in [sqrt(1/2), sqrt(2)) through a degree-9 poly.
template <class X, class I>
COIL_SCAN_INLINE X log_poly(X x) {
  const I bits = std::bit_cast<I>(x);
  X e = int_to_float(((bits >> 23) & 0xff) - 126);
  X m = std::bit_cast<X>((bits & int32_t(0x807fffff)) | 0x3f000000);  // in [0.5, 1)
  const auto low = m < X{} + 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const X z = m * m;
  X y = X{} + 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  return m + y + e * 0.693359375f;
}

// softplus(x) = x above 20 (as mamba_ssm and PyTorch), else log1p(exp(x)); log1p(e) as
// log(1 + e) * e / ((1 + e) - 1), which keeps full relative precision for tiny e.
template <class X, class U, class I>
COIL_SCAN_INLINE X softplus_poly(X x) {
  const X e = exp_poly<X, U>(x), u = e + 1.0f;
  const X l = u == X{} + 1.0f ? e : log_poly<X, I>(u) * (e / (u - 1.0f));
  return x > X{} + 20.0f ? x : l;
}

COIL_SCAN_INLINE float exp_(float x) { return exp_poly<float, uint32_t>(x); }
COIL_SCAN_INLINE VF exp_(VF x) { return exp_poly<VF, VU>(x); }
COIL_SCAN_INLINE float softplus_(float x) { return softplus_poly<float, uint32_t, int32_t>(x); }
COIL_SCAN_INLINE VF softplus_(VF x) { return softplus_poly<VF, VU, VI>(x); }

// ---- double: exact, lane by lane ----

COIL_SCAN_INLINE double exp_(double x) { return std::exp(x); }
COIL_SCAN_INLINE double softplus_(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
COIL_SCAN_INLINE VD exp_(VD x) {
  VD r;
  for (int i = 0; i < kLanes<double>; ++i) r[i] = std::exp(x[i]);
  return r;
}
COIL_SCAN_INLINE VD softplus_(VD x) {
  VD r;
  for (int i = 0; i < kLanes<double>; ++i) r[i] = softplus_(x[i]);
  return r;
}

template <class X>
COIL_SCAN_INLINE X sigmoid_(X x) {
  return 1.0f / (exp_(-x) + 1.0f);
}

// Sum of the lanes in a fixed pairwise order (halves, then quarters, ...), so the result does
// not depend on how the compiler splits the vector.
COIL_SCAN_INLINE float lane_sum(VF v) {
  v += __builtin_shuffle(v, VI{4, 5, 6, 7, 0, 1, 2, 3});
  v += __builtin_shuffle(v, VI{2, 3, 0, 1, 6, 7, 4, 5});
  return v[0] + v[1];
}
COIL_SCAN_INLINE double lane_sum(VD v) {
  v += __builtin_shuffle(v, VL{2, 3, 0, 1});
  return v[0] + v[1];
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
COIL_SCAN_INLINE void store(T* p, V<T> v, int64_t w) {
  if (w == kLanes<T>) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int64_t c = 0; c < w; ++c) p[c] = v[c];
  }
}

}  // namespace coil::cpu::scan_math

#pragma GCC diagnostic pop
