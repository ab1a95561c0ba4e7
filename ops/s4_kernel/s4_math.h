// The S4 (DPLR, bilinear) generating function at the roots of unity (REFERENCE.md section 3), in
// float64 on host and device: the Cauchy terms, and the rank-R Woodbury combination with its
// adjoint. The 2/(1+omega) factor is folded into the Cauchy denominators so that omega = -1
// (k = L/2) stays finite:
//   r~_xy(k) = sum_n 2 v_n / (e - f u_n) + 2 conj(v_n) / (e - f conj(u_n)),
//   e = 2 (1 - omega), f = 1 + omega, u_n = dt W_n, v_n = dt x_n y_n,
//   khat = r~_CB - s r~_CP (I + s r~_PP)^-1 r~_PB,   s = (1 + omega) / 2.
// Pairs p = xi * (NC + R) + yi: x in (B, P_0..P_{R-1}), y in (C_0..C_{NC-1}, conj P_0..).
#pragma once
#include "ops/s4d_kernel/complex_math.h"

namespace coil::ssm {

template <int NC, int R>
struct S4Pairs {
  static constexpr int kX = 1 + R, kY = NC + R, kP = kX * kY;
  static constexpr COIL_HD int idx(int xi, int yi) { return xi * kY + yi; }
};

struct Freq {
  Cd s, e, f;
};

// omega_k = exp(-2 pi i k / L).
COIL_HD Freq freq_at(int64_t k, int64_t L) {
  const double th = -6.283185307179586476925286766559 * double(k) / double(L);
  const Cd w = {cos(th), sin(th)};
  return {{0.5 * (1 + w.re), 0.5 * w.im}, {2 * (1 - w.re), -2 * w.im}, {1 + w.re, w.im}};
}

// M^-1 for R = 1 or 2 (row-major R x R).
template <int R>
COIL_HD void small_inverse(const Cd (&M)[R][R], Cd (&Mi)[R][R]) {
  if constexpr (R == 1) {
    Mi[0][0] = recip(M[0][0]);
  } else {
    const Cd rdet = recip(M[0][0] * M[1][1] - M[0][1] * M[1][0]);
    Mi[0][0] = M[1][1] * rdet, Mi[1][1] = M[0][0] * rdet;
    Mi[0][1] = Cd{0, 0} - M[0][1] * rdet, Mi[1][0] = Cd{0, 0} - M[1][0] * rdet;
  }
}

// x = M^-1 b (indexed by the P columns j), y_c = a_c M^-1 (indexed by the conj P rows i),
// with M_ij = delta_ij + s r~(conj P_i, P_j), a_c,j = r~(C_c, P_j), b_i = r~(conj P_i, B).
template <int NC, int R>
struct Woodbury {
  using Pr = S4Pairs<NC, R>;
  Cd x[R], y[NC][R];
  COIL_HD Woodbury(const Cd* r, Cd s) {
    Cd M[R][R], Mi[R][R];
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < R; ++j)
        M[i][j] = Cd{i == j ? 1.0 : 0.0, 0} + s * r[Pr::idx(1 + j, NC + i)];
    small_inverse<R>(M, Mi);
    for (int j = 0; j < R; ++j) {
      x[j] = {0, 0};
      for (int i = 0; i < R; ++i) x[j] = x[j] + Mi[j][i] * r[Pr::idx(0, NC + i)];
    }
    for (int c = 0; c < NC; ++c)
      for (int i = 0; i < R; ++i) {
        y[c][i] = {0, 0};
        for (int j = 0; j < R; ++j) y[c][i] = y[c][i] + r[Pr::idx(1 + j, c)] * Mi[j][i];
      }
  }
};

template <int NC, int R>
COIL_HD void woodbury_forward(const Cd* r, Cd s, Cd* khat) {
  using Pr = S4Pairs<NC, R>;
  const Woodbury<NC, R> w(r, s);
  for (int c = 0; c < NC; ++c) {
    Cd corr = {0, 0};
    for (int j = 0; j < R; ++j) corr = corr + r[Pr::idx(1 + j, c)] * w.x[j];
    khat[c] = r[Pr::idx(0, c)] - s * corr;
  }
}

// gr[p] = sum_c g_c conj(d khat_c / d r~_p): the gradient of every pair sum (conj convention:
// g = d/d re + i d/d im) from the gradients g (NC) of khat.
template <int NC, int R>
COIL_HD void woodbury_backward(const Cd* r, Cd s, const Cd* g, Cd* gr) {
  using Pr = S4Pairs<NC, R>;
  const Woodbury<NC, R> w(r, s);
  for (int p = 0; p < Pr::kP; ++p) gr[p] = {0, 0};
  const Cd s2 = s * s;
  for (int c = 0; c < NC; ++c) {
    gr[Pr::idx(0, c)] = g[c];
    for (int j = 0; j < R; ++j)  // d/d a_c,j = -s x_j
      gr[Pr::idx(1 + j, c)] = gr[Pr::idx(1 + j, c)] - g[c] * conj(s * w.x[j]);
    for (int i = 0; i < R; ++i) {  // d/d b_i = -s y_c,i;  d/d r~PP_ij = s^2 y_c,i x_j
      gr[Pr::idx(0, NC + i)] = gr[Pr::idx(0, NC + i)] - g[c] * conj(s * w.y[c][i]);
      for (int j = 0; j < R; ++j)
        gr[Pr::idx(1 + j, NC + i)] =
            gr[Pr::idx(1 + j, NC + i)] + g[c] * conj(s2 * w.y[c][i] * w.x[j]);
    }
  }
}

// Per-mode gradient assembly from the Cauchy backward sums over k, for pair p:
//   Av_p = sum_k g_p conj(1/d) + conj(g_p) / d',   Au_p = sum_k g_p conj(f/d^2) + conj(g_p) f/d'^2
// so that d/dv_p = 2 Av_p and d/du = 2 sum_p conj(v_p) Au_p. Inputs x (1+R), y (NC+R) are the
// mode's B, P_j and C_c, conj(P_i); outputs are conj-convention gradients of B, P_j, C_c and W,
// and dDelta for this mode.
template <int NC, int R>
struct S4ModeGrads {
  Cd gB, gP[R], gC[NC], gW;
  double ddelta;
};

template <int NC, int R>
COIL_HD S4ModeGrads<NC, R> s4_mode_grads(const Cd* Av, const Cd* Au, const Cd* x, const Cd* y, Cd w,
                                         double dt) {
  using Pr = S4Pairs<NC, R>;
  S4ModeGrads<NC, R> out;
  out.gB = {0, 0};
  for (int j = 0; j < R; ++j) out.gP[j] = {0, 0};
  for (int c = 0; c < NC; ++c) out.gC[c] = {0, 0};
  Cd gu = {0, 0};
  out.ddelta = 0;
  for (int xi = 0; xi < Pr::kX; ++xi)
    for (int yi = 0; yi < Pr::kY; ++yi) {
      const int p = Pr::idx(xi, yi);
      const Cd gv = 2.0 * Av[p], xy = x[xi] * y[yi];
      gu = gu + 2.0 * (conj(dt * xy) * Au[p]);
      out.ddelta += re_mul(conj(gv), xy);
      const Cd gx = gv * conj(dt * y[yi]);  // v is holomorphic in x
      if (xi == 0) out.gB = out.gB + gx;
      else out.gP[xi - 1] = out.gP[xi - 1] + gx;
      if (yi < NC) out.gC[yi] = out.gC[yi] + gv * conj(dt * x[xi]);
      else out.gP[yi - NC] = out.gP[yi - NC] + dt * (conj(gv) * x[xi]);  // y = conj(P)
    }
  out.gW = dt * gu;
  out.ddelta += re_mul(conj(gu), w);
  return out;
}

}  // namespace coil::ssm
