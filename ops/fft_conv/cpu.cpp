// CPU kernels of the FFT convolution: FFTW real FFTs (cached plans, ops/common/fft_plans.h) on
// tiles of kTile channels, OpenMP over (batch, tile) in the forward and over tiles in the
// backward, where each tile walks the batch in order (dk and dD never depend on the thread count).
#include <omp.h>

#include <complex>
#include <memory>
#include <vector>

#include "core/dispatch.h"
#include "ops/fft_conv/kernels.h"

namespace coil::cpu {
namespace {

constexpr int64_t kTile = 16;  // channels per task: a tile row of u is one 64-byte line in f32

template <class T>
using Cx = std::complex<T>;

// Plain complex products: std::complex's operator* takes a slow path for IEEE infinities.
template <class T>
Cx<T> mul(Cx<T> a, Cx<T> b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}
template <class T>
Cx<T> mul_conj(Cx<T> a, Cx<T> b) {  // a * conj(b)
  return {a.real() * b.real() + a.imag() * b.imag(), a.imag() * b.real() - a.real() * b.imag()};
}

// Rows padded to 64 bytes keep every row as aligned as the FFTW planning arrays.
template <class T>
int64_t padded(int64_t count) {
  const int64_t per = int64_t(64 / sizeof(T));
  return (count + per - 1) / per * per;
}

struct Dims {
  int64_t B, L, H, C, Lk, n, nc;
  Dims(const Tensor& u, const Tensor& k)
      : B(u.size(0)), L(u.size(1)), H(u.size(2)), C(k.size(0)), Lk(k.size(2)),
        n(fft_conv_size(L, Lk)), nc(n / 2 + 1) {}
  int64_t tiles() const { return (H + kTile - 1) / kTile; }
};

// Per-thread scratch: `rows` real rows of n and complex rows of nc, each padded.
template <class T>
struct Scratch {
  int64_t rs, cs;
  fft::Buffer<T> real;
  fft::Buffer<Cx<T>> cplx;
  Scratch(const Dims& d, int64_t real_rows, int64_t cplx_rows)
      : rs(padded<T>(d.n)), cs(padded<Cx<T>>(d.nc)), real(size_t(real_rows * rs)),
        cplx(size_t(cplx_rows * cs)) {}
  T* r(int64_t i) const { return real.data() + i * rs; }
  Cx<T>* c(int64_t i) const { return cplx.data() + i * cs; }
};

template <class T>
std::vector<std::unique_ptr<Scratch<T>>> per_thread(const Dims& d, int64_t real_rows,
                                                    int64_t cplx_rows) {
  auto s = std::vector<std::unique_ptr<Scratch<T>>>(size_t(omp_get_max_threads()));
  for (auto& p : s) p = std::make_unique<Scratch<T>>(d, real_rows, cplx_rows);
  return s;
}

// Spectra of the two-sided kernels (H rows of nc bins, padded), scaled by 1/n so the inverse
// FFT needs no pass of its own.
template <class T>
fft::Buffer<Cx<T>> kernel_spectra(const Dims& d, const fft::RealFft<T>& f, const T* k,
                                  const T* D) {
  const int64_t cs = padded<Cx<T>>(d.nc), anti = fft_conv_anti_lags(d.L, d.Lk);
  fft::Buffer<Cx<T>> spectra(size_t(d.H * cs));
  auto scratch = per_thread<T>(d, 1, 0);
  const T inv_n = T(1) / T(d.n);
#pragma omp parallel for schedule(static) if (d.H * d.n > 32768)
  for (int64_t h = 0; h < d.H; ++h) {
    T* row = scratch[size_t(omp_get_thread_num())]->r(0);
    std::fill(row, row + d.n, T(0));
    const T* k0 = k + h * d.Lk;
    for (int64_t j = 0; j < d.Lk; ++j) row[j] = k0[j];
    if (D) row[0] += D[h];
    if (d.C == 2) {
      const T* k1 = k + (d.H + h) * d.Lk;
      for (int64_t j = 1; j <= anti; ++j) row[d.n - j] = k1[j - 1];
    }
    Cx<T>* out = spectra.data() + h * cs;
    f.forward(row, out);
    for (int64_t i = 0; i < d.nc; ++i) out[i] *= inv_n;
  }
  return spectra;
}

// Tile rows j < w from x (B, L, H) at (b, :, h0 + j) into zero-padded real rows of n.
template <class T>
void gather(const Scratch<T>& s, const T* x, const Dims& d, int64_t b, int64_t h0, int64_t w) {
  for (int64_t j = 0; j < w; ++j) std::fill(s.r(j) + d.L, s.r(j) + d.n, T(0));
  for (int64_t t = 0; t < d.L; ++t) {
    const T* src = x + (b * d.L + t) * d.H + h0;
    for (int64_t j = 0; j < w; ++j) s.r(j)[t] = src[j];
  }
}

template <class T>
void scatter(T* x, const Scratch<T>& s, const Dims& d, int64_t b, int64_t h0, int64_t w) {
  for (int64_t t = 0; t < d.L; ++t) {
    T* dst = x + (b * d.L + t) * d.H + h0;
    for (int64_t j = 0; j < w; ++j) dst[j] = s.r(j)[t];
  }
}

template <class T>
void forward_impl(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  const Dims d(u, k);
  const fft::RealFft<T> f(d.n);
  const fft::Buffer<Cx<T>> kf =
      kernel_spectra<T>(d, f, k.data<T>(), D.defined() ? D.data<T>() : nullptr);
  const int64_t kcs = padded<Cx<T>>(d.nc), tasks = d.B * d.tiles();
  auto scratch = per_thread<T>(d, kTile, 1);
  const T* up = u.data<T>();
  T* yp = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const Scratch<T>& s = *scratch[size_t(omp_get_thread_num())];
    const int64_t b = task / d.tiles(), h0 = (task % d.tiles()) * kTile;
    const int64_t w = std::min(kTile, d.H - h0);
    gather(s, up, d, b, h0, w);
    for (int64_t j = 0; j < w; ++j) {
      Cx<T>* spec = s.c(0);
      const Cx<T>* kr = kf.data() + (h0 + j) * kcs;
      f.forward(s.r(j), spec);
      for (int64_t i = 0; i < d.nc; ++i) spec[i] = mul(spec[i], kr[i]);
      f.inverse(spec, s.r(j));
    }
    scatter(yp, s, d, b, h0, w);
  }
}

// Per tile, in batch order: DY = F(pad dy), U = F(pad u); G += DY conj(U) (the correlation
// dy * u over all lags, summed over the batch); du = F^-1(DY conj(K)) / n. Then dk and dD are
// read off F^-1(G) / n at the kernel's lags (dD is lag 0).
template <class T>
void backward_impl(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                   const Tensor& u, const Tensor& k, const Tensor& D) {
  const Dims d(u, k);
  const fft::RealFft<T> f(d.n);
  const bool want_du = du.defined(), want_g = dk.defined() || dD.defined();
  const fft::Buffer<Cx<T>> kf =
      want_du ? kernel_spectra<T>(d, f, k.data<T>(), D.defined() ? D.data<T>() : nullptr)
              : fft::Buffer<Cx<T>>(0);
  const int64_t kcs = padded<Cx<T>>(d.nc), anti = fft_conv_anti_lags(d.L, d.Lk);
  // complex rows: kTile for the sums G, one for DY, one for U
  auto scratch = per_thread<T>(d, kTile, kTile + 2);
  const T *dyp = dy.data<T>(), *up = u.data<T>();
  const T inv_n = T(1) / T(d.n);
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < d.tiles(); ++tile) {
    const Scratch<T>& s = *scratch[size_t(omp_get_thread_num())];
    const int64_t h0 = tile * kTile, w = std::min(kTile, d.H - h0);
    Cx<T>*dys = s.c(kTile), *us = s.c(kTile + 1);
    if (want_g)
      for (int64_t j = 0; j < w; ++j) std::fill(s.c(j), s.c(j) + d.nc, Cx<T>(0));
    for (int64_t b = 0; b < d.B; ++b) {
      gather(s, dyp, d, b, h0, w);
      for (int64_t j = 0; j < w; ++j) {
        f.forward(s.r(j), dys);
        if (want_g) {
          T* row = s.r(j);  // dy's padded row is spent: reuse it for u's
          const T* src = up + b * d.L * d.H + h0 + j;
          for (int64_t t = 0; t < d.L; ++t) row[t] = src[t * d.H];
          std::fill(row + d.L, row + d.n, T(0));
          f.forward(row, us);
          Cx<T>* g = s.c(j);
          for (int64_t i = 0; i < d.nc; ++i) g[i] += mul_conj(dys[i], us[i]);
        }
        if (want_du) {
          const Cx<T>* kr = kf.data() + (h0 + j) * kcs;
          for (int64_t i = 0; i < d.nc; ++i) dys[i] = mul_conj(dys[i], kr[i]);
          f.inverse(dys, s.r(j));
        }
      }
      if (want_du) scatter(du.data<T>(), s, d, b, h0, w);
    }
    if (!want_g) continue;
    for (int64_t j = 0; j < w; ++j) {
      T* corr = s.r(j);
      f.inverse(s.c(j), corr);
      const int64_t h = h0 + j;
      if (dD.defined()) dD.data<T>()[h] = corr[0] * inv_n;
      if (!dk.defined()) continue;
      T* dk0 = dk.data<T>() + h * d.Lk;
      for (int64_t l = 0; l < d.Lk; ++l) dk0[l] = corr[l] * inv_n;
      if (d.C == 2) {
        T* dk1 = dk.data<T>() + (d.H + h) * d.Lk;
        for (int64_t l = 0; l < d.Lk; ++l) dk1[l] = l < anti ? corr[d.n - 1 - l] * inv_n : T(0);
      }
    }
  }
}

}  // namespace

void fft_conv_forward(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(y, u, k, D);
  });
}

void fft_conv_backward(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                       const Tensor& u, const Tensor& k, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(du, dk, dD, dy, u, k, D);
  });
}

}  // namespace coil::cpu
