// Complex arithmetic on pairs of reals for the fused SSM kernels (S4D, S4, step mode), usable
// from host and device code. Tensors never hold complex values: kernels load (re, im) pairs.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define COIL_HD __host__ __device__ __forceinline__
#else
#define COIL_HD inline
#endif

namespace coil::ssm {

template <class T>
struct Cx {
  T re, im;
};

template <class T>
COIL_HD Cx<T> operator+(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class T>
COIL_HD Cx<T> operator-(Cx<T> a, Cx<T> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class T>
COIL_HD Cx<T> operator*(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T>
COIL_HD Cx<T> operator*(T s, Cx<T> a) {
  return {s * a.re, s * a.im};
}
template <class T>
COIL_HD Cx<T> conj(Cx<T> a) {
  return {a.re, -a.im};
}
template <class T>
COIL_HD Cx<T> recip(Cx<T> a) {
  const T s = T(1) / (a.re * a.re + a.im * a.im);
  return {a.re * s, -a.im * s};
}
template <class T>
COIL_HD Cx<T> operator/(Cx<T> a, Cx<T> b) {
  return a * recip(b);
}
template <class T, class U>
COIL_HD Cx<T> cast(Cx<U> a) {
  return {T(a.re), T(a.im)};
}
// acc += Re(a * b), the real part of a product without forming its imaginary part.
template <class T>
COIL_HD T re_mul(Cx<T> a, Cx<T> b) {
  return a.re * b.re - a.im * b.im;
}

using Cd = Cx<double>;

COIL_HD Cd cexp(Cd a) {
  const double m = exp(a.re);
  return {m * cos(a.im), m * sin(a.im)};
}

// exp(l * lz) as a T pair: the exponent is formed and its phase reduced mod 2 pi in double, so a
// long run of a fast-rotating mode keeps its phase; the transcendental runs in T.
template <class T>
COIL_HD Cx<T> pow_anchor(Cd lz, double l) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  double ph = l * lz.im;
  ph -= kTwoPi * rint(ph / kTwoPi);
  const T m = exp(T(l * lz.re));
  T s, c;
  if constexpr (sizeof(T) == 4) {
#if defined(__CUDA_ARCH__)
    sincosf(float(ph), &s, &c);
#else
    s = std::sin(float(ph)), c = std::cos(float(ph));
#endif
  } else {
    s = sin(ph), c = cos(ph);
  }
  return {m * c, m * s};
}

}  // namespace coil::ssm
