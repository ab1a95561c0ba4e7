// Complex values as pairs of reals for the CUDA FFT convolution kernels (ops/fft_conv/cuda.cu and
// fused_cuda.cuh), and the split of one complex spectrum into the spectra of two real channels.
#pragma once

namespace coil::cuda::fftc {

template <class T>
struct alignas(2 * sizeof(T)) Cx {
  T re, im;
};
template <class T>
__device__ __forceinline__ Cx<T> operator+(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class T>
__device__ __forceinline__ Cx<T> operator-(Cx<T> a, Cx<T> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class T>
__device__ __forceinline__ Cx<T> mul(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T>
__device__ __forceinline__ Cx<T> conj(Cx<T> a) {
  return {a.re, -a.im};
}
template <class T>
__device__ __forceinline__ Cx<T> times_i(Cx<T> a) {
  return {-a.im, a.re};
}
// The spectra at bin k of the two real channels packed in z, from Z[k] = z1 and Z[n-k] = z2.
template <class T>
__device__ __forceinline__ void unpack(Cx<T> z1, Cx<T> z2, Cx<T>& a, Cx<T>& b) {
  a = {T(0.5) * (z1.re + z2.re), T(0.5) * (z1.im - z2.im)};
  b = {T(0.5) * (z1.im + z2.im), T(0.5) * (z2.re - z1.re)};
}
// Packs the products ya (channel a) and yb (channel b) at bin k as Z[k] (z1) and Z[n-k] (z2): the
// spectrum whose inverse is y_a + i y_b.
template <class T>
__device__ __forceinline__ void repack(Cx<T> ya, Cx<T> yb, Cx<T>& z1, Cx<T>& z2) {
  z1 = ya + times_i(yb);
  z2 = conj(ya) + times_i(conj(yb));
}

}  // namespace coil::cuda::fftc
