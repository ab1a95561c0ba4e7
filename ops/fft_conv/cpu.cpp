// CPU kernels of the FFT convolution: FFTW (cached plans, ops/common/fft_plans.h) on tiles of
// kTile channels, OpenMP over (batch, tile) in the forward and over tiles in the backward, where
// each tile walks the batch in order (dk and dD never depend on the thread count). Two real
// channels travel as one complex sequence (as on the GPU, ops/fft_conv/cuda.cu): FFTW's complex
// transform of size n ran 1.7x faster per channel than its real pair r2c + c2r here.
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
// Scratch rows also get one more cache line, so that the rows a tile walks side by side do not
// start a power of two apart (which maps them all onto the same L1 sets).
template <class T>
int64_t row_stride(int64_t count) {
  return padded<T>(count) + int64_t(64 / sizeof(T));
}

struct Dims {
  int64_t B, L, H, C, Lk, n, nc;
  Dims(const Tensor& u, const Tensor& k)
      : B(u.size(0)),
        L(u.size(1)),
        H(u.size(2)),
        C(k.size(0)),
        Lk(k.size(2)),
        n(fft_conv_size(L, Lk)),
        nc(n / 2 + 1) {}
  int64_t tiles() const { return (H + kTile - 1) / kTile; }
};

// Per-thread scratch: real rows and complex rows of n values each, padded.
template <class T>
struct Scratch {
  int64_t rs, cs;
  fft::Buffer<T> real;
  fft::Buffer<Cx<T>> cplx;
  Scratch(const Dims& d, int64_t real_rows, int64_t cplx_rows)
      : rs(row_stride<T>(d.n)),
        cs(row_stride<Cx<T>>(d.n)),
        real(size_t(real_rows * rs)),
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
fft::Buffer<Cx<T>> kernel_spectra(const Dims& d, const fft::RealFft<T>& f, const T* k, const T* D) {
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

// The pairs of a tile as complex rows z_q = x[b, :, h0 + 2q] + i x[b, :, h0 + 2q + 1] (zero past
// the tile's w channels and past time L): one complex FFT then serves two channels.
template <class T>
void gather_pairs(const Scratch<T>& s, int64_t first_row, const T* x, const Dims& d, int64_t b,
                  int64_t h0, int64_t w) {
  const int64_t pairs = (w + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q)
    std::fill(s.c(first_row + q) + d.L, s.c(first_row + q) + d.n, Cx<T>(0));
  for (int64_t t = 0; t < d.L; ++t) {
    const T* src = x + (b * d.L + t) * d.H + h0;
    for (int64_t q = 0; q < pairs; ++q)
      s.c(first_row + q)[t] = Cx<T>(src[2 * q], 2 * q + 1 < w ? src[2 * q + 1] : T(0));
  }
}

template <class T>
void scatter_pairs(T* x, const Scratch<T>& s, int64_t first_row, const Dims& d, int64_t b,
                   int64_t h0, int64_t w) {
  const int64_t pairs = (w + 1) / 2;
  for (int64_t t = 0; t < d.L; ++t) {
    T* dst = x + (b * d.L + t) * d.H + h0;
    for (int64_t q = 0; q < pairs; ++q) {
      const Cx<T> v = s.c(first_row + q)[t];
      dst[2 * q] = v.real();
      if (2 * q + 1 < w) dst[2 * q + 1] = v.imag();
    }
  }
}

// The spectra at bin k of the two real channels packed in z, from Z[k] = z1 and Z[n-k] = z2:
// A = (z1 + conj z2) / 2, B = (z1 - conj z2) / 2i.
template <class T>
void unpack(Cx<T> z1, Cx<T> z2, Cx<T>& a, Cx<T>& b) {
  a = {T(0.5) * (z1.real() + z2.real()), T(0.5) * (z1.imag() - z2.imag())};
  b = {T(0.5) * (z1.imag() + z2.imag()), T(0.5) * (z2.real() - z1.real())};
}

// Packed spectra (ya, yb) at bins k and n-k: Y[k] = ya + i yb, Y[n-k] = conj(ya) + i conj(yb).
template <class T>
void repack(Cx<T>* z, int64_t k, int64_t k2, Cx<T> ya, Cx<T> yb) {
  z[k] = {ya.real() - yb.imag(), ya.imag() + yb.real()};
  if (k2 != k) z[k2] = {ya.real() + yb.imag(), yb.real() - ya.imag()};
}

// z <- the packed spectrum of (A Ka, B Kb); kb is null for a lone last channel.
template <class T>
void multiply_pair(Cx<T>* z, const Cx<T>* ka, const Cx<T>* kb, int64_t n) {
  for (int64_t k = 0; k <= n / 2; ++k) {
    const int64_t k2 = k == 0 ? 0 : n - k;
    Cx<T> a, b;
    unpack(z[k], z[k2], a, b);
    repack(z, k, k2, mul(a, ka[k]), kb ? mul(b, kb[k]) : Cx<T>(0));
  }
}

template <class T>
void forward_impl(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  const Dims d(u, k);
  const fft::ComplexFft<T> f(d.n);
  const fft::Buffer<Cx<T>> kf =
      kernel_spectra<T>(d, fft::RealFft<T>(d.n), k.data<T>(), D.defined() ? D.data<T>() : nullptr);
  const int64_t kcs = padded<Cx<T>>(d.nc), tasks = d.B * d.tiles();
  auto scratch = per_thread<T>(d, 0, kTile / 2);
  const T* up = u.data<T>();
  T* yp = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const Scratch<T>& s = *scratch[size_t(omp_get_thread_num())];
    const int64_t b = task / d.tiles(), h0 = (task % d.tiles()) * kTile;
    const int64_t w = std::min(kTile, d.H - h0);
    gather_pairs(s, 0, up, d, b, h0, w);
    for (int64_t q = 0; 2 * q < w; ++q) {
      Cx<T>* z = s.c(q);
      const Cx<T>* ka = kf.data() + (h0 + 2 * q) * kcs;
      f.forward(z, z);
      multiply_pair(z, ka, 2 * q + 1 < w ? ka + kcs : nullptr, d.n);
      f.inverse(z, z);
    }
    scatter_pairs(yp, s, 0, d, b, h0, w);
  }
}

// Per tile, in batch order: DY = F(pad dy), U = F(pad u) (packed in pairs); G += DY conj(U)
// (the correlation of dy with u over all lags, summed over the batch); du = F^-1(DY conj(K)).
// Then dk and dD are read off F^-1(G) / n at the kernel's lags (dD is lag 0).
template <class T>
void backward_impl(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                   const Tensor& u, const Tensor& k, const Tensor& D) {
  const Dims d(u, k);
  const fft::ComplexFft<T> f(d.n);
  const bool want_du = du.defined(), want_g = dk.defined() || dD.defined();
  const fft::Buffer<Cx<T>> kf = want_du ? kernel_spectra<T>(d, fft::RealFft<T>(d.n), k.data<T>(),
                                                            D.defined() ? D.data<T>() : nullptr)
                                        : fft::Buffer<Cx<T>>(0);
  const int64_t kcs = padded<Cx<T>>(d.nc), anti = fft_conv_anti_lags(d.L, d.Lk);
  constexpr int64_t kPairs = kTile / 2;  // complex rows: DY, then U, then G, kPairs each
  auto scratch = per_thread<T>(d, 0, 3 * kPairs);
  const T *dyp = dy.data<T>(), *up = u.data<T>();
  const T inv_n = T(1) / T(d.n);
#pragma omp parallel for schedule(static)
  for (int64_t tile = 0; tile < d.tiles(); ++tile) {
    const Scratch<T>& s = *scratch[size_t(omp_get_thread_num())];
    const int64_t h0 = tile * kTile, w = std::min(kTile, d.H - h0), pairs = (w + 1) / 2;
    if (want_g)
      for (int64_t q = 0; q < pairs; ++q)
        std::fill(s.c(2 * kPairs + q), s.c(2 * kPairs + q) + d.n, Cx<T>(0));
    for (int64_t b = 0; b < d.B; ++b) {
      gather_pairs(s, 0, dyp, d, b, h0, w);
      if (want_g) gather_pairs(s, kPairs, up, d, b, h0, w);
      for (int64_t q = 0; q < pairs; ++q) {
        Cx<T>*zdy = s.c(q), *zu = s.c(kPairs + q), *g = s.c(2 * kPairs + q);
        const Cx<T>* ka = want_du ? kf.data() + (h0 + 2 * q) * kcs : nullptr;
        const bool has_b = 2 * q + 1 < w;
        f.forward(zdy, zdy);
        if (want_g) f.forward(zu, zu);
        for (int64_t i = 0; i <= d.n / 2; ++i) {
          const int64_t i2 = i == 0 ? 0 : d.n - i;
          Cx<T> da, db;
          unpack(zdy[i], zdy[i2], da, db);
          if (want_g) {
            Cx<T> ua, ub;
            unpack(zu[i], zu[i2], ua, ub);
            const Cx<T> ga = mul_conj(da, ua), gb = mul_conj(db, ub);
            g[i] += Cx<T>(ga.real() - gb.imag(), ga.imag() + gb.real());
            if (i2 != i) g[i2] += Cx<T>(ga.real() + gb.imag(), gb.real() - ga.imag());
          }
          if (want_du)
            repack(zdy, i, i2, mul_conj(da, ka[i]), has_b ? mul_conj(db, ka[kcs + i]) : Cx<T>(0));
        }
        if (want_du) f.inverse(zdy, zdy);
      }
      if (want_du) scatter_pairs(du.data<T>(), s, 0, d, b, h0, w);
    }
    if (!want_g) continue;
    for (int64_t q = 0; q < pairs; ++q) {
      Cx<T>* corr = s.c(2 * kPairs + q);
      f.inverse(corr, corr);
      for (int64_t j = 0; j < 2 && 2 * q + j < w; ++j) {
        const int64_t h = h0 + 2 * q + j;
        auto at = [&](int64_t i) { return (j == 0 ? corr[i].real() : corr[i].imag()) * inv_n; };
        if (dD.defined()) dD.data<T>()[h] = at(0);
        if (!dk.defined()) continue;
        T* dk0 = dk.data<T>() + h * d.Lk;
        for (int64_t l = 0; l < d.Lk; ++l) dk0[l] = at(l);
        if (d.C == 2) {
          T* dk1 = dk.data<T>() + (d.H + h) * d.Lk;
          for (int64_t l = 0; l < d.Lk; ++l) dk1[l] = l < anti ? at(d.n - 1 - l) : T(0);
        }
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
