// CPU kernels of the S4D kernel. All arithmetic in float64 whatever the storage type (this is
// also the reference the GPU is checked against). Forward: OpenMP over (h, L-tile), modes
// innermost, powers z^l re-anchored at each tile. Backward: OpenMP over (h, n), each summing its
// whole L range in order (no partial buffers needed), then dlog_dt summed over n in order.
#include <algorithm>
#include <vector>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "ops/s4d_kernel/kernels.h"
#include "ops/s4d_kernel/s4d_math.h"

namespace coil::cpu {
namespace {

using ssm::Cd;

constexpr int64_t kTile = 256;  // powers are re-anchored every kTile steps

struct Dims {
  int64_t Cn, H, N2, L;
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

template <class T>
void forward_impl(const Tensor& K, const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im,
                  const Tensor& B, const Tensor& C, int disc) {
  const Dims d{C.size(0), log_dt.size(0), A_re.size(1), K.size(2)};
  const T *dtp = log_dt.data<T>(), *arp = A_re.data<T>(), *aip = A_im.data<T>();
  const T *bp = B.data<T>(), *cp = C.data<T>();
  T* kp = K.data<T>();
  const int64_t tiles = (d.L + kTile - 1) / kTile;
  parallel_for(d.H * tiles, 1, [&](int64_t i) {
    const int64_t h = i / tiles, l0 = (i % tiles) * kTile, len = std::min(kTile, d.L - l0);
    std::vector<double> acc(size_t(d.Cn * len), 0.0);
    std::vector<Cd> coef(size_t(d.Cn));
    for (int64_t n = 0; n < d.N2; ++n) {
      const ssm::S4dMode m = mode_at(dtp, arp, aip, h, n, d, disc);
      const Cd bq = pair_at(bp, h * d.N2 + n) * m.q;
      for (int64_t c = 0; c < d.Cn; ++c)
        coef[size_t(c)] = pair_at(cp, (c * d.H + h) * d.N2 + n) * bq;
      Cd p = ssm::pow_anchor<double>(m.lz, double(l0));
      for (int64_t j = 0; j < len; ++j) {
        for (int64_t c = 0; c < d.Cn; ++c)
          acc[size_t(c * len + j)] += ssm::re_mul(coef[size_t(c)], p);
        p = p * m.z;
      }
    }
    for (int64_t c = 0; c < d.Cn; ++c)
      for (int64_t j = 0; j < len; ++j)
        kp[(c * d.H + h) * d.L + l0 + j] = T(2 * acc[size_t(c * len + j)]);
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
  std::vector<double> ddelta(size_t(d.H * d.N2));
  parallel_for(d.H * d.N2, 1, [&](int64_t hn) {
    const int64_t h = hn / d.N2, n = hn % d.N2;
    const ssm::S4dMode m = mode_at(dtp, arp, aip, h, n, d, disc);
    const Cd b = pair_at(bp, hn);
    Cd U{0, 0}, V{0, 0}, gb{0, 0};
    for (int64_t c = 0; c < d.Cn; ++c) {
      // S = sum_l G_l z^l,  T = sum_l (l+1) G_{l+1} z^l  (the derivative of the powers).
      const T* g = gp + (c * d.H + h) * d.L;
      Cd S{0, 0}, Tt{0, 0}, p{0, 0};
      for (int64_t l = 0; l < d.L; ++l) {
        p = l % kTile == 0 ? ssm::pow_anchor<double>(m.lz, double(l)) : p * m.z;
        S = S + double(g[l]) * p;
        if (l + 1 < d.L) Tt = Tt + double(l + 1) * double(g[l + 1]) * p;
      }
      const Cd cc = pair_at(cp, (c * d.H + h) * d.N2 + n);
      U = U + 2.0 * (S * cc * b);
      V = V + 2.0 * (Tt * cc * b * m.q);
      const Cd wc = 2.0 * (S * b * m.q), wb = 2.0 * (S * cc * m.q);
      T* gc = g_c + 2 * ((c * d.H + h) * d.N2 + n);
      gc[0] = T(wc.re), gc[1] = T(-wc.im);
      gb = gb + wb;
    }
    const Cd X = U * m.q_a + V * m.z_a;
    g_ar[hn] = T(X.re), g_ai[hn] = T(-X.im);
    g_b[2 * hn] = T(gb.re), g_b[2 * hn + 1] = T(-gb.im);
    ddelta[size_t(hn)] = (U * m.q_dt + V * m.z_dt).re;
  });
  for (int64_t h = 0; h < d.H; ++h) {
    double s = 0;
    for (int64_t n = 0; n < d.N2; ++n) s += ddelta[size_t(h * d.N2 + n)];
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
