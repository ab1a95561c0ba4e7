// Branch-free f32 exp, sigmoid and normal CDF for the CPU kernels: plain arithmetic and bit casts,
// so GCC vectorises a contiguous loop over them (libm's expf/erff are scalar calls: 15-25% of a
// model step).
// Everything here has internal linkage (static): the AVX2 translation unit (vec_kernels_avx2.cpp)
// compiles its own copies, which must never be merged with the baseline ones.
#pragma once
#include <bit>
#include <cstdint>

namespace coil::cpu::vec {

// c ? a : b through integer masks. A plain ternary on a clamped value gets jump-threaded into a
// branch (the clamped case folds to a constant), and a loop with a branch does not vectorise.
[[gnu::always_inline]] static inline float select(bool c, float a, float b) {
  const int32_t m = -int32_t(c);
  return std::bit_cast<float>((std::bit_cast<int32_t>(a) & m) | (std::bit_cast<int32_t>(b) & ~m));
}
// NaN passes through (both comparisons are false).
[[gnu::always_inline]] static inline float clamp(float x, float lo, float hi) {
  return select(x < lo, lo, select(x > hi, hi, x));
}

// e^x within 2 ulp for x >= -87.3 (smaller x gives 2^-126 instead of a denormal or 0: an absolute
// error below 1.2e-38); x >= 88.37 gives 2.4e38, not inf; NaN stays NaN.
// e^x = 2^n e^r with n = round(x log2 e), r = x - n ln 2 in two parts (Cody-Waite), e^r from
// Cephes' degree-6 polynomial.
[[gnu::always_inline]] static inline float exp(float x) {
  x = clamp(x, -87.33654f, 88.37626f);
  // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
  const float shifted = x * 1.44269504088896341f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  const int32_t ni = std::bit_cast<int32_t>(shifted) - 0x4B400000;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  // Unsigned: for NaN, ni is garbage and a signed shift could overflow (a sanitizer error).
  return y * std::bit_cast<float>(uint32_t(ni + 127) << 23);
}

[[gnu::always_inline]] static inline float sigmoid(float x) { return 1.0f / (1.0f + exp(-x)); }

// erfc(z) within 5e-7 + 1.5e-7 z^2 relative for z < 9.2 (Numerical Recipes' erfcc: a Chebyshev
// fit of erfc(z) e^(z^2) in t = 1 / (1 + z/2), good to 1.2e-7; the rest is f32 arithmetic and the
// rounding of -z^2 inside exp), with erfc(z) = 2 - erfc(-z) below 0. GELU's normal CDF needs the
// relative accuracy in the tail: 1 + erf(x) cancels to an absolute error of ~1e-7 there, larger
// than GELU itself.
[[gnu::always_inline]] static inline float erfc(float z) {
  const float a = select(z < 0, -z, z);
  const float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float e = t * exp(p - a * a);
  return select(z < 0, 2.0f - e, e);
}

// P(N(0, 1) <= x) = erfc(-x / sqrt 2) / 2: within 2.5e-7 absolute, and 1e-5 relative for x > -9.
[[gnu::always_inline]] static inline float normal_cdf(float x) {
  return 0.5f * erfc(x * -0.7071067811865476f);
}

// The ops built on them, shared by the kernels of every instruction set (x: input, g: gradient).
[[gnu::always_inline]] static inline float silu(float x) { return x * sigmoid(x); }
[[gnu::always_inline]] static inline float gelu(float x) { return x * normal_cdf(x); }
[[gnu::always_inline]] static inline float sigmoid_grad(float x, float g) {
  const float s = sigmoid(x);
  return g * s * (1.0f - s);
}
[[gnu::always_inline]] static inline float silu_grad(float x, float g) {
  const float s = sigmoid(x);
  return g * s * (1.0f + x * (1.0f - s));
}
// d gelu / dx = Phi(x) + x phi(x).
[[gnu::always_inline]] static inline float gelu_slope(float x) {
  const float pdf = exp(-0.5f * x * x) * 0.3989422804014327f;
  return normal_cdf(x) + x * pdf;
}
[[gnu::always_inline]] static inline float gelu_grad(float x, float g) { return g * gelu_slope(x); }

}  // namespace coil::cpu::vec
