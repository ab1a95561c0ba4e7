// Per-mode discretisation of a diagonal SSM (REFERENCE.md sections 1 and 4), in float64 on host
// and device: the transition z = Abar, its logarithm (for anchored powers z^l), Bbar / B = q, and
// the derivatives of z and q that the backward needs.
#pragma once
#include "ops/s4d_kernel/complex_math.h"

namespace coil::ssm {

enum : int { kZoh = 0, kBilinear = 1 };

struct S4dMode {
  Cd z, lz, q;              // Abar, log Abar, Bbar / B
  Cd z_a, z_dt, q_a, q_dt;  // d/dA (holomorphic) and d/d(dt) of z and q
};

// dt > 0, a = A (Re a < 0 keeps the kernel decaying; a = 0 is not allowed under ZOH).
COIL_HD S4dMode s4d_mode(double dt, Cd a, int disc) {
  S4dMode m;
  const Cd dta = dt * a;
  if (disc == kZoh) {
    m.lz = dta;
    m.z = cexp(dta);
    // exp(dta) - 1 without cancellation for small |dta|.
    const double s = sin(0.5 * dta.im);
    const Cd em1 = {expm1(dta.re) * cos(dta.im) - 2 * s * s, exp(dta.re) * sin(dta.im)};
    const Cd ra = recip(a);
    m.q = em1 * ra;
    m.q_a = (dt * m.z - m.q) * ra;
    m.q_dt = m.z;
    m.z_a = dt * m.z;
    m.z_dt = a * m.z;
  } else {
    const Cd num = {1 + 0.5 * dta.re, 0.5 * dta.im}, den = {1 - 0.5 * dta.re, -0.5 * dta.im};
    const Cd rd = recip(den), rd2 = rd * rd;
    m.z = num * rd;
    m.lz = {0.5 * log((num.re * num.re + num.im * num.im) / (den.re * den.re + den.im * den.im)),
            atan2(num.im, num.re) - atan2(den.im, den.re)};
    m.q = dt * rd;
    m.q_a = (0.5 * dt * dt) * rd2;
    m.q_dt = rd2;
    m.z_a = dt * rd2;
    m.z_dt = a * rd2;
  }
  return m;
}

}  // namespace coil::ssm
