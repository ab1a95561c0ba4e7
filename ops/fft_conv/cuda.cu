// CUDA kernels of the FFT convolution, on cuFFT (cached plans, ops/common/fft_plans_cuda.cuh).
// Two real channels (2p, 2p + 1) travel as one complex sequence z = u_a + i u_b, so one complex
// FFT of size n serves two channels; the multiply kernel separates their spectra
// (A = (Z[k] + conj Z[n-k]) / 2, B = (Z[k] - conj Z[n-k]) / 2i), multiplies each by its own
// kernel spectrum and repacks W = A Ka + i B Kb, whose inverse FFT is y_a + i y_b. D is folded
// into lag 0 of the kernel and 1/n into its spectrum, so a forward is: pad, FFT, multiply, IFFT,
// crop. The backward reduces dk (and dD, its lag 0) over the batch inside one thread per
// (pair, bin), in batch order: no atomics, bitwise reproducible. The fused layout, where it fits,
// does y and du in one on-chip kernel each and the correlation spectra for dk and dD with per-chunk
// partial sums reduced in chunk order (fused_cuda.cuh); fused2 does du and those spectra in one
// kernel (fused_bwd_cuda.cuh).
#include <bit>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/storage.h"
#include "ops/common/fft_plans_cuda.cuh"
#include "ops/fft_conv/cx_cuda.cuh"
#include "ops/fft_conv/fused_bwd_cuda.cuh"
#include "ops/fft_conv/fused_host_cuda.cuh"
#include "ops/fft_conv/kernels.h"

namespace coil::cuda {

// Automatic by default (kernels.h). COIL_FFT_CONV_LAYOUT=columns|rows|fused|fused2|automatic
// picks one at start-up (for the GPU tests).
FftConvLayout& fft_conv_layout() {
  static FftConvLayout layout = [] {
    const char* env = std::getenv("COIL_FFT_CONV_LAYOUT");
    const std::string v = env ? env : "";
    COIL_CHECK(
        v.empty() || v == "columns" || v == "rows" || v == "fused" || v == "fused2" ||
            v == "automatic",
        "[fft_conv] COIL_FFT_CONV_LAYOUT={} is not columns, rows, fused, fused2 or automatic", v);
    return v == "columns"  ? FftConvLayout::columns
           : v == "rows"   ? FftConvLayout::rows
           : v == "fused"  ? FftConvLayout::fused
           : v == "fused2" ? FftConvLayout::fused2
                           : FftConvLayout::automatic;
  }();
  return layout;
}

Fused2Parts& fft_conv_fused2() {
  static Fused2Parts parts = [] {
    const char* env = std::getenv("COIL_FFT_CONV_FUSED2");
    Fused2Parts p;
    std::string list = env ? env : "";
    for (size_t at = 0; at < list.size();) {
      const size_t end = std::min(list.find(',', at), list.size());
      const std::string part = list.substr(at, end - at);
      COIL_CHECK(part == "r16" || part == "sep",
                 "[fft_conv] COIL_FFT_CONV_FUSED2={}: '{}' is not r16 or sep", list, part);
      (part == "r16" ? p.radix32 : p.backward) = false;
      at = end + 1;
    }
    return p;
  }();
  return parts;
}

namespace {

using fftc::conj;
using fftc::Cx;
using fftc::mul;
using fftc::repack;
using fftc::unpack;

template <class T>
struct Fft;
template <>
struct Fft<float> {
  static constexpr cufftType r2c = CUFFT_R2C, c2c = CUFFT_C2C;
};
template <>
struct Fft<double> {
  static constexpr cufftType r2c = CUFFT_D2Z, c2c = CUFFT_Z2Z;
};

// log2 of the fused kernel's FFT size (the power of two at or above the minimum), or 0 where the
// fused kernel is not asked for or does not fit.
int fused_log2(int64_t L, int64_t Lk, int64_t C, FftConvLayout layout) {
  const int log2n = std::bit_width(uint64_t(fft_conv_min_size(L, Lk, C) - 1));
  const bool fused_layout = layout == FftConvLayout::fused || layout == FftConvLayout::fused2 ||
                            layout == FftConvLayout::automatic;
  const int max_log2 = fused_layout ? fused::kMaxLog2 : 0;
  return log2n <= max_log2 ? log2n : 0;
}

// Shapes and the packed layout. Pair p of batch b is row r = b * P + p; bin i of row r lives
// at Z[i * si + r * sr]. The fused kernel's size serves the packed path too (for dk and dD).
struct Geo {
  int64_t B, L, H, C, Lk;
  int log2n_fused;  // 0: not fused
  int64_t n, P, R, anti;
  int64_t si, sr;      // packed spectra
  int64_t kf_k, kf_h;  // kernel spectra (nc bins per channel): bin k of channel h
  bool columns;
  fused::Variant variant;  // of the fused kernels: fused2's changes (kernels.h) or none
  Geo(const Tensor& u, const Tensor& k, FftConvLayout layout)
      : B(u.size(0)),
        L(u.size(1)),
        H(u.size(2)),
        C(k.size(0)),
        Lk(k.size(2)),
        log2n_fused(fused_log2(L, Lk, C, layout)),
        n(log2n_fused ? int64_t(1) << log2n_fused : fft_conv_size(L, Lk, C)),
        P((H + 1) / 2),
        R(B * P),
        anti(fft_conv_anti_lags(L, Lk)),
        columns(layout == FftConvLayout::columns) {
    if (layout == FftConvLayout::fused2)
      variant = {true, fft_conv_fused2().radix32, fft_conv_fused2().backward};
    // Automatic: fused2 with radix-16 passes and the one backward kernel, the fastest on every
    // fused size measured (H100, 2026-12-07, bench/RESULTS.md "FFT conv": n 8192 0.351 / 1.135 ms
    // against fused 0.459 / 1.379 and rows 0.488 / 1.211; n 2048 within 3% of fused).
    if (layout == FftConvLayout::automatic) variant = {true, false, true};
    si = columns ? R : 1;
    sr = columns ? 1 : n;
    kf_k = columns ? H : 1;
    kf_h = columns ? 1 : n / 2 + 1;
  }
  fft::PlanKey packed(int dev, cufftType type) const { return {n, R, si, sr, si, sr, type, dev}; }
};

// kn (H, n): the two-sided kernel of each channel (D at lag 0), times 1/n.
template <class T>
__global__ void build_kernel(T* __restrict__ kn, const T* __restrict__ k, const T* __restrict__ D,
                             Geo g) {
  const int64_t total = g.H * g.n;
  const T inv_n = T(1) / T(g.n);
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t h = idx / g.n, i = idx - h * g.n;
    T v = T(0);
    if (i < g.Lk) v = k[h * g.Lk + i];
    if (i == 0 && D) v += D[h];
    if (g.C == 2 && i > 0 && g.n - i <= g.anti) v += k[(g.H + h) * g.Lk + (g.n - i - 1)];
    kn[idx] = v * inv_n;
  }
}

constexpr int kTile = 32, kTileRows = 8;

// Z <- x (B, L, H) packed in pairs, zero for times >= L. Block (32, 8) moves a tile of 32 times
// x 32 pairs through shared memory so both sides are coalesced in either layout.
template <class T>
__global__ void pad_kernel(Cx<T>* __restrict__ Z, const T* __restrict__ x, Geo g) {
  __shared__ Cx<T> tile[kTile][kTile + 1];
  const int64_t p0 = int64_t(blockIdx.x) * kTile, t0 = int64_t(blockIdx.y) * kTile, b = blockIdx.z;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int j = ty; j < kTile; j += kTileRows) {  // tile[time][pair]
    const int64_t t = t0 + j, p = p0 + tx;
    Cx<T> v{T(0), T(0)};
    if (t < g.L && p < g.P) {
      const T* row = x + (b * g.L + t) * g.H;
      v.re = row[2 * p];
      if (2 * p + 1 < g.H) v.im = row[2 * p + 1];
    }
    tile[j][tx] = v;
  }
  __syncthreads();
  for (int j = ty; j < kTile; j += kTileRows) {
    // columns: lanes walk pairs at one time; rows: lanes walk times of one pair
    const int64_t t = g.columns ? t0 + j : t0 + tx, p = g.columns ? p0 + tx : p0 + j;
    if (t < g.n && p < g.P)
      Z[t * g.si + (b * g.P + p) * g.sr] = g.columns ? tile[j][tx] : tile[tx][j];
  }
}

// y (B, L, H) <- the first L times of Z, unpacked (the inverse of pad_kernel).
template <class T>
__global__ void crop_kernel(T* __restrict__ y, const Cx<T>* __restrict__ Z, Geo g) {
  __shared__ Cx<T> tile[kTile][kTile + 1];
  const int64_t p0 = int64_t(blockIdx.x) * kTile, t0 = int64_t(blockIdx.y) * kTile, b = blockIdx.z;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int j = ty; j < kTile; j += kTileRows) {
    const int64_t t = g.columns ? t0 + j : t0 + tx, p = g.columns ? p0 + tx : p0 + j;
    if (t < g.L && p < g.P) {
      const Cx<T> v = Z[t * g.si + (b * g.P + p) * g.sr];
      if (g.columns) tile[j][tx] = v;
      else tile[tx][j] = v;
    }
  }
  __syncthreads();
  for (int j = ty; j < kTile; j += kTileRows) {
    const int64_t t = t0 + j, p = p0 + tx;
    if (t < g.L && p < g.P) {
      T* row = y + (b * g.L + t) * g.H;
      row[2 * p] = tile[j][tx].re;
      if (2 * p + 1 < g.H) row[2 * p + 1] = tile[j][tx].im;
    }
  }
}

// Work item (row r, bin k <= n/2) from a flat index: rows fastest in the columns layout, bins
// fastest in the rows layout, so neighbouring threads touch neighbouring addresses.
__device__ __forceinline__ void item(int64_t idx, int64_t rows, int64_t bins, bool columns,
                                     int64_t& r, int64_t& k) {
  if (columns) {
    k = idx / rows;
    r = idx - k * rows;
  } else {
    r = idx / bins;
    k = idx - r * bins;
  }
}

// Z <- the packed spectrum of (A Ka, B Kb), or with conj_k of (A conj Ka, B conj Kb) (the
// adjoint, for du). kf holds the (1/n-scaled) kernel spectra at bins 0..n/2.
template <class T>
__global__ void multiply_kernel(Cx<T>* __restrict__ Z, const Cx<T>* __restrict__ kf, Geo g,
                                bool conj_k) {
  const int64_t bins = g.n / 2 + 1, total = g.R * bins;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t r, k;
    item(idx, g.R, bins, g.columns, r, k);
    const int64_t p = r % g.P, k2 = k == 0 ? 0 : g.n - k;
    Cx<T>* z1 = Z + k * g.si + r * g.sr;
    Cx<T>* z2 = Z + k2 * g.si + r * g.sr;
    Cx<T> a, b;
    unpack(*z1, *z2, a, b);
    Cx<T> ka = kf[k * g.kf_k + 2 * p * g.kf_h];
    Cx<T> kb = 2 * p + 1 < g.H ? kf[k * g.kf_k + (2 * p + 1) * g.kf_h] : Cx<T>{T(0), T(0)};
    if (conj_k) ka = conj(ka), kb = conj(kb);
    Cx<T> w1, w2;
    repack(mul(a, ka), mul(b, kb), w1, w2);
    *z1 = w1;
    if (k2 != k) *z2 = w2;
  }
}

// Backward, one thread per (pair p, bin k), walking the batch in order:
//   G_h[k] = sum_b DY_b,h[k] conj(U_b,h[k])   (packed for the pair into gz, (P, n) rows, / n)
//   Zdy <- packed DY conj(K) when du is wanted (kf non-null), in place.
template <class T>
__global__ void backward_multiply_kernel(Cx<T>* __restrict__ Zdy, const Cx<T>* __restrict__ Zu,
                                         const Cx<T>* __restrict__ kf, Cx<T>* __restrict__ gz,
                                         Geo g) {
  const int64_t bins = g.n / 2 + 1, total = g.P * bins;
  const T inv_n = T(1) / T(g.n);
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, k;
    item(idx, g.P, bins, g.columns, p, k);
    const int64_t k2 = k == 0 ? 0 : g.n - k;
    Cx<T> ka{T(0), T(0)}, kb{T(0), T(0)};
    if (kf) {
      ka = conj(kf[k * g.kf_k + 2 * p * g.kf_h]);
      if (2 * p + 1 < g.H) kb = conj(kf[k * g.kf_k + (2 * p + 1) * g.kf_h]);
    }
    Cx<T> ga{T(0), T(0)}, gb{T(0), T(0)};
    for (int64_t b = 0; b < g.B; ++b) {
      const int64_t r = b * g.P + p;
      Cx<T>* z1 = Zdy + k * g.si + r * g.sr;
      Cx<T>* z2 = Zdy + k2 * g.si + r * g.sr;
      Cx<T> da, db;
      unpack(*z1, *z2, da, db);
      if (gz) {
        Cx<T> ua, ub;
        unpack(Zu[k * g.si + r * g.sr], Zu[k2 * g.si + r * g.sr], ua, ub);
        ga = ga + mul(da, conj(ua));
        gb = gb + mul(db, conj(ub));
      }
      if (kf) {
        Cx<T> w1, w2;
        repack(mul(da, ka), mul(db, kb), w1, w2);
        *z1 = w1;
        if (k2 != k) *z2 = w2;
      }
    }
    if (gz) {
      Cx<T> w1, w2;
      repack(Cx<T>{ga.re * inv_n, ga.im * inv_n}, Cx<T>{gb.re * inv_n, gb.im * inv_n}, w1, w2);
      gz[p * g.n + k] = w1;
      if (k2 != k) gz[p * g.n + k2] = w2;
    }
  }
}

// dk (C, H, Lk) and dD (H) from the correlations in gz (P, n): channel 2p in the real parts,
// 2p + 1 in the imaginary parts; dk0 at lags 0..Lk-1, dk1 at lags -1..-anti, dD at lag 0.
template <class T>
__global__ void kernel_grads(T* __restrict__ dk, T* __restrict__ dD, const Cx<T>* __restrict__ gz,
                             Geo g) {
  const int64_t total = g.C * g.H * g.Lk;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t l = idx % g.Lk, h = (idx / g.Lk) % g.H, c = idx / (g.Lk * g.H);
    const Cx<T>* row = gz + (h / 2) * g.n;
    auto part = [&](int64_t i) { return h % 2 ? row[i].im : row[i].re; };
    if (dk) dk[idx] = c == 0 ? part(l) : (l < g.anti ? part(g.n - 1 - l) : T(0));
    if (dD && c == 0 && l == 0) dD[h] = part(0);
  }
}

dim3 tile_grid(const Geo& g, int64_t times) {
  const int64_t gx = (g.P + kTile - 1) / kTile, gy = (times + kTile - 1) / kTile;
  COIL_CHECK(gy <= 65535 && g.B <= 65535,
             "[fft_conv] too long or too large a batch for the "
             "CUDA tile grid: B {}, n {}",
             g.B, g.n);
  return dim3(unsigned(gx), unsigned(gy), unsigned(g.B));
}

template <class T>
struct Workspace {
  Geo g;
  int dev;
  cudaStream_t s;
  Workspace(const Tensor& u, const Tensor& k)
      : g(u, k, fft_conv_layout()), dev(u.device().index), s(stream(dev)) {}

  // Kernel spectra (1/n and D folded in) into a new Storage: bins 0..n/2 in the packed layout,
  // or for the fused kernels in bin pair slot order, in runs of 2^kr (fused::kf_slot) for the
  // kernel that reads them.
  std::unique_ptr<Storage> spectra(const Tensor& k, const Tensor& D, int kr = 0) const {
    const int64_t nc = g.n / 2 + 1;
    Storage kn(size_t(g.H * g.n) * sizeof(T), Device::cuda(dev));
    auto kf = std::make_unique<Storage>(size_t(g.H * nc) * sizeof(Cx<T>), Device::cuda(dev));
    build_kernel<T><<<grid_for(g.H * g.n, dev), kBlock, 0, s>>>(
        static_cast<T*>(kn.data()), k.data<T>(), D.defined() ? D.data<T>() : nullptr, g);
    COIL_CUDA_CHECK_LAUNCH();
    if (g.log2n_fused)
      fused::spectra(static_cast<Cx<T>*>(kf->data()), static_cast<const T*>(kn.data()), g.H,
                     g.log2n_fused, g.variant, kr, s);
    else fft::execute({g.n, g.H, 1, g.n, g.kf_k, g.kf_h, Fft<T>::r2c, dev}, kn.data(), kf->data());
    return kf;
  }
  // y <- x convolved with the fused kernel spectra kf (conj_k: the adjoint).
  void fused_convolve(T* y, const T* x, const Storage& kf, bool conj_k) const {
    COIL_CHECK(g.B <= 65535, "[fft_conv] too large a batch for the fused CUDA grid: B {}", g.B);
    fused::convolve(y, x, static_cast<const Cx<T>*>(kf.data()), g.B, g.L, g.H, g.log2n_fused,
                    conj_k, g.variant, s);
  }
  // dk and dD (either may be undefined) from the packed correlation spectra gz (P, n), 1/n
  // folded in.
  void kernel_grads_from(const Tensor& dk, const Tensor& dD, Storage& gz) const {
    fft::execute({g.n, g.P, 1, g.n, 1, g.n, Fft<T>::c2c, dev}, gz.data(), gz.data(), CUFFT_INVERSE);
    kernel_grads<T><<<grid_for(g.C * g.H * g.Lk, dev), kBlock, 0, s>>>(
        dk.defined() ? dk.data<T>() : nullptr, dD.defined() ? dD.data<T>() : nullptr,
        static_cast<const Cx<T>*>(gz.data()), g);
    COIL_CUDA_CHECK_LAUNCH();
  }
  // A packed spectrum of x (B, L, H), transformed forward.
  std::unique_ptr<Storage> packed_spectrum(const T* x) const {
    auto Z = std::make_unique<Storage>(size_t(g.n * g.R) * sizeof(Cx<T>), Device::cuda(dev));
    pad_kernel<T>
        <<<tile_grid(g, g.n), dim3(kTile, kTileRows), 0, s>>>(static_cast<Cx<T>*>(Z->data()), x, g);
    COIL_CUDA_CHECK_LAUNCH();
    fft::execute(g.packed(dev, Fft<T>::c2c), Z->data(), Z->data(), CUFFT_FORWARD);
    return Z;
  }
  void inverse_and_crop(T* y, const Storage& Z) const {
    fft::execute(g.packed(dev, Fft<T>::c2c), Z.data(), Z.data(), CUFFT_INVERSE);
    crop_kernel<T><<<tile_grid(g, g.L), dim3(kTile, kTileRows), 0, s>>>(
        y, static_cast<const Cx<T>*>(Z.data()), g);
    COIL_CUDA_CHECK_LAUNCH();
  }
};

template <class T>
void forward_impl(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  const Workspace<T> w(u, k);
  if (w.g.log2n_fused) {
    auto kf = w.spectra(k, D, fused::conv_runs<T>(w.g.log2n_fused, w.g.variant));
    return w.fused_convolve(y.data<T>(), u.data<T>(), *kf, false);
  }
  auto kf = w.spectra(k, D);
  auto Z = w.packed_spectrum(u.data<T>());
  multiply_kernel<T><<<grid_for(w.g.R * (w.g.n / 2 + 1), w.dev), kBlock, 0, w.s>>>(
      static_cast<Cx<T>*>(Z->data()), static_cast<const Cx<T>*>(kf->data()), w.g, false);
  COIL_CUDA_CHECK_LAUNCH();
  w.inverse_and_crop(y.data<T>(), *Z);
}

template <class T>
void backward_impl(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                   const Tensor& u, const Tensor& k, const Tensor& D) {
  const Workspace<T> w(u, k);
  const Geo& g = w.g;
  const bool want_du = du.defined(), want_g = dk.defined() || dD.defined();
  if (!want_du && !want_g) return;
  if (g.log2n_fused && g.variant.backward && want_du && want_g &&
      fused::bwd_pairs_per_block<T>(g.log2n_fused) > 0) {
    Storage gz(size_t(g.P * g.n) * sizeof(Cx<T>), u.device());
    Storage part(size_t(fused::bwd_partials_size<T>(g.B, g.H, g.log2n_fused)) * sizeof(Cx<T>),
                 u.device());
    fused::backward(du.data<T>(), static_cast<Cx<T>*>(gz.data()), static_cast<Cx<T>*>(part.data()),
                    dy.data<T>(), u.data<T>(),
                    static_cast<const Cx<T>*>(
                        w.spectra(k, D, fused::bwd_runs<T>(g.log2n_fused, g.variant))->data()),
                    g.B, g.L, g.H, g.log2n_fused, g.variant, w.dev, w.s);
    return w.kernel_grads_from(dk, dD, gz);
  }
  if (g.log2n_fused) {
    if (want_du)
      w.fused_convolve(du.data<T>(), dy.data<T>(),
                       *w.spectra(k, D, fused::conv_runs<T>(g.log2n_fused, g.variant)), true);
    if (!want_g) return;
    Storage gz(size_t(g.P * g.n) * sizeof(Cx<T>), u.device());
    Storage part(size_t(fused::partials_size<T>(g.B, g.H, g.log2n_fused)) * sizeof(Cx<T>),
                 u.device());
    fused::correlate(static_cast<Cx<T>*>(gz.data()), static_cast<Cx<T>*>(part.data()), dy.data<T>(),
                     u.data<T>(), g.B, g.L, g.H, g.log2n_fused, w.dev, w.s);
    return w.kernel_grads_from(dk, dD, gz);
  }
  auto kf = want_du ? w.spectra(k, D) : nullptr;
  auto Zdy = w.packed_spectrum(dy.data<T>());
  auto Zu = want_g ? w.packed_spectrum(u.data<T>()) : nullptr;
  auto gz =
      want_g ? std::make_unique<Storage>(size_t(g.P * g.n) * sizeof(Cx<T>), u.device()) : nullptr;
  auto cx = [](const std::unique_ptr<Storage>& st) {
    return st ? static_cast<Cx<T>*>(st->data()) : nullptr;
  };
  backward_multiply_kernel<T><<<grid_for(g.P * (g.n / 2 + 1), w.dev), kBlock, 0, w.s>>>(
      cx(Zdy), cx(Zu), cx(kf), cx(gz), g);
  COIL_CUDA_CHECK_LAUNCH();
  if (want_du) w.inverse_and_crop(du.data<T>(), *Zdy);
  if (want_g) w.kernel_grads_from(dk, dD, *gz);
}

}  // namespace

void fft_conv_forward(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  DeviceGuard guard(u.device().index);
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(y, u, k, D);
  });
}

void fft_conv_backward(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                       const Tensor& u, const Tensor& k, const Tensor& D) {
  DeviceGuard guard(u.device().index);
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(du, dk, dD, dy, u, k, D);
  });
}

}  // namespace coil::cuda
