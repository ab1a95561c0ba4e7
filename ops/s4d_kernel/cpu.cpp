// CPU kernels of the S4D kernel. All arithmetic in float64 whatever the storage type (this is
// also the reference the GPU is checked against). The Vandermonde sums over (mode, step) run as
// small real GEMMs (OpenBLAS dgemm, 10x+ faster than a scalar loop here): writing l = tT + j,
// z^l = z^(tT) z^j, so per channel h
//   forward:  K[t, j] = 2 Re sum_n (coef_n z_n^(tT)) z_n^j:   (Cn R x 2 N2) . (2 N2 x T)
//   backward: sum_l g_l z^l = sum_t z^(tT) sum_j g[tT + j] z^j: (rows x T) . (T x 2 N2), then a
//             sum over the R blocks per mode in order,
// the complex products split into real and imaginary columns. The powers z^j (j < T) and
// z^(tT) come by recurrences from exact anchors (pow_anchor) every kAnchor steps.
// OpenMP over channels; the GEMMs run inside the parallel region, where the OpenMP build of
// OpenBLAS that coil links uses one thread. Deterministic: every sum has a fixed order.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/s4d_kernel/kernels.h"
#include "ops/s4d_kernel/s4d_math.h"

namespace coil::cpu {
namespace {

using ssm::Cd;

constexpr int64_t kBlock = 32;  // T: steps per block (and the GEMMs' inner/outer size)
// Exact powers every kAnchor steps, recurrences in between. In float64 a recurrence of up to
// kAnchor / kBlock = 64 products drifts by ~1e-14 relative; anchors every 256 steps cost a
// quarter of the kernel's time in exp and sincos (fwd+bwd 4.1 -> 3.1 ms at H 128, N 64, L 1024).
constexpr int64_t kAnchor = 2048;

struct Dims {
  int64_t Cn, H, N2, L;
  int64_t T() const { return std::min(kBlock, L); }
  int64_t R() const { return (L + T() - 1) / T(); }  // blocks
};

template <class T>
Cd pair_at(const T* p, int64_t i) {
  return {double(p[2 * i]), double(p[2 * i + 1])};
}

template <class T>
ssm::S4dMode mode_at(const T* log_dt, const T* ar, const T* ai, int64_t h, int64_t n, const Dims& d,
                     int disc) {
  const int64_t hn = h * d.N2 + n;
  return ssm::s4d_mode(std::exp(double(log_dt[h])), {double(ar[hn]), double(ai[hn])}, disc);
}

// The powers of one channel's modes: w (2 N2 x T) holds Re z_n^j in row n and Im z_n^j in row
// N2 + n; a (N2 x R) holds z_n^(tT). The modes run in the inner loops, so their N2 recurrences
// (serial chains of complex products) overlap, and no modulo per block: this halved the time
// spent here (mode-outer loops: ~1/4 of the kernel's). Every value is the same product as before.
struct Powers {
  std::vector<double> w;
  std::vector<Cd> a;
  Powers(const std::vector<ssm::S4dMode>& modes, const Dims& d)
      : w(size_t(2 * d.N2 * d.T())), a(size_t(d.N2 * d.R())) {
    const int64_t T = d.T(), R = d.R(), N2 = d.N2, per_anchor = std::max<int64_t>(1, kAnchor / T);
    std::vector<Cd> p(size_t(N2), Cd{1, 0}), step;
    for (int64_t j = 0; j < T; ++j)
      for (int64_t n = 0; n < N2; ++n) {
        Cd& pn = p[size_t(n)];
        w[size_t(n * T + j)] = pn.re, w[size_t((N2 + n) * T + j)] = pn.im;
        pn = pn * modes[size_t(n)].z;
      }
    for (const ssm::S4dMode& m : modes) step.push_back(ssm::pow_anchor<double>(m.lz, double(T)));
    for (int64_t t0 = 0; t0 < R; t0 += per_anchor) {
      for (int64_t n = 0; n < N2; ++n)  // z^0 = 1 exactly: no exp and sincos for the first
        a[size_t(n * R + t0)] =
            t0 == 0 ? Cd{1, 0} : ssm::pow_anchor<double>(modes[size_t(n)].lz, double(t0 * T));
      for (int64_t t = t0 + 1; t < std::min(R, t0 + per_anchor); ++t)
        for (int64_t n = 0; n < N2; ++n)
          a[size_t(n * R + t)] = a[size_t(n * R + t - 1)] * step[size_t(n)];
    }
  }
};

template <class T>
std::vector<ssm::S4dMode> modes_of(const T* dtp, const T* arp, const T* aip, int64_t h,
                                   const Dims& d, int disc) {
  std::vector<ssm::S4dMode> modes(size_t(d.N2));
  for (int64_t n = 0; n < d.N2; ++n) modes[size_t(n)] = mode_at(dtp, arp, aip, h, n, d, disc);
  return modes;
}

template <class T>
void forward_impl(const Tensor& K, const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im,
                  const Tensor& B, const Tensor& C, int disc) {
  const Dims d{C.size(0), log_dt.size(0), A_re.size(1), K.size(2)};
  const T *dtp = log_dt.data<T>(), *arp = A_re.data<T>(), *aip = A_im.data<T>();
  const T *bp = B.data<T>(), *cp = C.data<T>();
  T* kp = K.data<T>();
  const int64_t Tb = d.T(), R = d.R(), N2 = d.N2;
  parallel_for(d.H, 1, [&](int64_t h) {
    const std::vector<ssm::S4dMode> modes = modes_of(dtp, arp, aip, h, d, disc);
    const Powers pw(modes, d);
    // coef (Cn R x 2 N2): row (c, t) holds Re and -Im of coef_{c,n} z_n^(tT), so that its product
    // with w sums Re(coef z^(tT) z^j).
    std::vector<double> coef(size_t(d.Cn * R * 2 * N2)), out(size_t(d.Cn * R * Tb));
    for (int64_t n = 0; n < N2; ++n) {
      const Cd bq = pair_at(bp, h * N2 + n) * modes[size_t(n)].q;
      for (int64_t c = 0; c < d.Cn; ++c) {
        const Cd cn = pair_at(cp, (c * d.H + h) * N2 + n) * bq;
        for (int64_t t = 0; t < R; ++t) {
          const Cd v = cn * pw.a[size_t(n * R + t)];
          double* row = coef.data() + (c * R + t) * 2 * N2;
          row[n] = v.re, row[N2 + n] = -v.im;
        }
      }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(d.Cn * R), int(Tb), int(2 * N2), 2.0,
                coef.data(), int(2 * N2), pw.w.data(), int(Tb), 0.0, out.data(), int(Tb));
    for (int64_t c = 0; c < d.Cn; ++c)
      for (int64_t l = 0; l < d.L; ++l)
        kp[(c * d.H + h) * d.L + l] = T(out[size_t((c * R + l / Tb) * Tb + l % Tb)]);
  });
}

template <class T>
void backward_impl(const Tensor& dlog_dt, const Tensor& dA_re, const Tensor& dA_im,
                   const Tensor& dB, const Tensor& dC, const Tensor& dK, const Tensor& log_dt,
                   const Tensor& A_re, const Tensor& A_im, const Tensor& B, const Tensor& C,
                   int disc) {
  const Dims d{C.size(0), log_dt.size(0), A_re.size(1), dK.size(2)};
  const T *dtp = log_dt.data<T>(), *arp = A_re.data<T>(), *aip = A_im.data<T>();
  const T *bp = B.data<T>(), *cp = C.data<T>(), *gp = dK.data<T>();
  T *g_dt = dlog_dt.data<T>(), *g_ar = dA_re.data<T>(), *g_ai = dA_im.data<T>();
  T *g_b = dB.data<T>(), *g_c = dC.data<T>();
  const int64_t Tb = d.T(), R = d.R(), N2 = d.N2;
  std::vector<double> ddelta(size_t(d.H * N2));
  parallel_for(d.H, 1, [&](int64_t h) {
    const std::vector<ssm::S4dMode> modes = modes_of(dtp, arp, aip, h, d, disc);
    const Powers pw(modes, d);
    // Per output kernel c, 2R rows of T: G_l and (l+1) G_{l+1} (the derivative of the powers),
    // zero past the kernel; their products with the powers z^j give per block t and mode n
    // sum_j G[tT + j] z^j in columns n (Re) and N2 + n (Im).
    const int64_t rows = d.Cn * 2 * R;
    std::vector<double> g(size_t(rows * Tb), 0.0), prod(size_t(rows * 2 * N2));
    for (int64_t c = 0; c < d.Cn; ++c) {
      const T* gk = gp + (c * d.H + h) * d.L;
      double* gs = g.data() + c * 2 * R * Tb;
      for (int64_t l = 0; l < d.L; ++l) {
        gs[l] = double(gk[l]);
        if (l + 1 < d.L) gs[R * Tb + l] = double(l + 1) * double(gk[l + 1]);
      }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(2 * N2), int(Tb), 1.0,
                g.data(), int(Tb), pw.w.data(), int(Tb), 0.0, prod.data(), int(2 * N2));
    for (int64_t n = 0; n < N2; ++n) {
      const ssm::S4dMode& m = modes[size_t(n)];
      const Cd b = pair_at(bp, h * N2 + n);
      Cd U{0, 0}, V{0, 0}, gb{0, 0};
      for (int64_t c = 0; c < d.Cn; ++c) {
        // S = sum_l G_l z^l,  Tt = sum_l (l+1) G_{l+1} z^l.
        Cd S{0, 0}, Tt{0, 0};
        for (int64_t t = 0; t < R; ++t) {
          const double* ps = prod.data() + (c * 2 * R + t) * 2 * N2;
          const double* pt = ps + R * 2 * N2;
          const Cd a = pw.a[size_t(n * R + t)];
          S = S + a * Cd{ps[n], ps[N2 + n]};
          Tt = Tt + a * Cd{pt[n], pt[N2 + n]};
        }
        const Cd cc = pair_at(cp, (c * d.H + h) * N2 + n);
        U = U + 2.0 * (S * cc * b);
        V = V + 2.0 * (Tt * cc * b * m.q);
        const Cd wc = 2.0 * (S * b * m.q), wb = 2.0 * (S * cc * m.q);
        T* gc = g_c + 2 * ((c * d.H + h) * N2 + n);
        gc[0] = T(wc.re), gc[1] = T(-wc.im);
        gb = gb + wb;
      }
      const int64_t hn = h * N2 + n;
      const Cd X = U * m.q_a + V * m.z_a;
      g_ar[hn] = T(X.re), g_ai[hn] = T(-X.im);
      g_b[2 * hn] = T(gb.re), g_b[2 * hn + 1] = T(-gb.im);
      ddelta[size_t(hn)] = (U * m.q_dt + V * m.z_dt).re;
    }
  });
  for (int64_t h = 0; h < d.H; ++h) {
    double s = 0;
    for (int64_t n = 0; n < N2; ++n) s += ddelta[size_t(h * N2 + n)];
    g_dt[h] = T(s * std::exp(double(dtp[h])));
  }
}

}  // namespace

void s4d_kernel_forward(const Tensor& K, const Tensor& log_dt, const Tensor& A_re,
                        const Tensor& A_im, const Tensor& B, const Tensor& C, int disc) {
  dispatch<DType::f32, DType::f64>(K.dtype(), "s4d_kernel", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(K, log_dt, A_re, A_im, B, C, disc);
  });
}

void s4d_kernel_backward(const Tensor& dlog_dt, const Tensor& dA_re, const Tensor& dA_im,
                         const Tensor& dB, const Tensor& dC, const Tensor& dK, const Tensor& log_dt,
                         const Tensor& A_re, const Tensor& A_im, const Tensor& B, const Tensor& C,
                         int disc) {
  dispatch<DType::f32, DType::f64>(dK.dtype(), "s4d_kernel", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(dlog_dt, dA_re, dA_im, dB, dC, dK, log_dt, A_re,
                                                A_im, B, C, disc);
  });
}

}  // namespace coil::cpu
