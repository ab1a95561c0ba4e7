// Branch-free float exp/log1p for the selective scan's CPU kernels, written so that GCC
// vectorises loops that call them (bit casts and selects, no libm calls, no float->int
// conversion). Double keeps the exact std:: functions: it serves the gradient check.
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>

namespace coil::cpu::scan_math {

#if defined(__GNUC__)
#define COIL_SCAN_INLINE [[gnu::always_inline]] inline
#else
#define COIL_SCAN_INLINE inline
#endif

// Cephes-style expf: exp(x) = 2^n * p(r), n = round(x / ln 2), |r| <= ln2 / 2; about 1 ulp.
// Below -87.3 the result is 0 (true value < 1.2e-38); above 88.3 it saturates at 2.2e38 (inputs
// there are never finite-useful in the scan). NaN propagates through the polynomial.
COIL_SCAN_INLINE float fast_exp(float x) {
  const float lo = -87.3f, hi = 88.3f, magic = 12582912.0f;  // 1.5 * 2^23: rounds to an integer
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const float shifted = xc * 1.44269504088896341f + magic;
  const float n = shifted - magic;
  // Unsigned: a NaN input gives garbage bits here, but p is NaN and so is the product.
  const uint32_t ni = std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(magic);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((ni + 127u) << 23);
  const float res = p * scale;
  return x < lo ? 0.0f : res;
}

// log(x) for positive normal x (Cephes logf polynomial on the mantissa in [sqrt(1/2), sqrt(2))).
COIL_SCAN_INLINE float fast_log(float x) {
  const int32_t bits = std::bit_cast<int32_t>(x);
  float e = float(((bits >> 23) & 0xff) - 126);
  float m = std::bit_cast<float>((bits & 0x807fffff) | 0x3f000000);  // in [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
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

COIL_SCAN_INLINE float exp_(float x) { return fast_exp(x); }
COIL_SCAN_INLINE double exp_(double x) { return std::exp(x); }

// softplus(x) = x above 20 (as mamba_ssm and PyTorch), else log1p(exp(x)). log1p(e) uses
// log(1 + e) * e / ((1 + e) - 1), which keeps full relative precision for tiny e.
COIL_SCAN_INLINE float softplus_(float x) {
  const float e = fast_exp(x), u = 1.0f + e;
  const float l = u == 1.0f ? e : fast_log(u) * (e / (u - 1.0f));
  return x > 20.0f ? x : l;
}
COIL_SCAN_INLINE double softplus_(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

template <class T>
COIL_SCAN_INLINE T sigmoid_(T x) {
  return T(1) / (T(1) + exp_(-x));
}

}  // namespace coil::cpu::scan_math
