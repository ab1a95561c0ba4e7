// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3") and the
// transforms to uniform and normal floats. Pure integer and IEEE double arithmetic with no
// library calls, so the CPU and the GPU produce bitwise the same stream for a (seed, offset).
// Files that include this are compiled without FMA contraction (see CMakeLists.txt).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.h"

namespace coil::philox {

struct U4 {
  uint32_t v[4];
};

COIL_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// Block `counter` of the stream keyed by `seed`: four 32-bit words.
COIL_HD U4 block(uint64_t seed, uint64_t counter) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Word i of the stream that starts at `offset` (offset counts words).
COIL_HD uint32_t word(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t w = offset + i;
  return block(seed, w >> 2).v[w & 3];
}

// Uniform in [0, 1) with 24 random bits: exactly representable, so identical everywhere.
COIL_HD double uniform(uint32_t w) { return double(w >> 8) * (1.0 / 16777216.0); }

// Natural log on (0, 1] by exponent extraction and the atanh series; error well below float ulp.
COIL_HD double log_unit(double x) {
  int e = 0;
  while (x < 0.7071067811865476) {  // x >= 2^-25 by construction, so this loop is short
    x *= 2.0;
    --e;
  }
  double s = (x - 1.0) / (x + 1.0), s2 = s * s, term = s, sum = 0.0;
  for (int k = 1; k <= 25; k += 2) {
    sum += term / double(k);
    term *= s2;
  }
  return 2.0 * sum + double(e) * 0.6931471805599453;
}

// cos(2*pi*t) for t in [0, 1), by quadrant reduction and Taylor series on [-pi/4, pi/4].
COIL_HD double cos_turns(double t) {
  double q = t * 4.0;
  int quadrant = int(q + 0.5);  // nearest multiple of a quarter turn
  double x = (q - double(quadrant)) * 1.5707963267948966;  // |x| <= pi/4
  double x2 = x * x;
  double c = 1.0, s = x, tc = 1.0, ts = x;
  for (int k = 1; k <= 10; ++k) {
    tc *= -x2 / double((2 * k - 1) * (2 * k));
    ts *= -x2 / double((2 * k) * (2 * k + 1));
    c += tc;
    s += ts;
  }
  switch (quadrant & 3) {
    case 0: return c;
    case 1: return -s;
    case 2: return -c;
    default: return s;
  }
}

// Standard normal from two words (Box-Muller, cosine branch).
COIL_HD double normal(uint32_t w0, uint32_t w1) {
  double u1 = (double(w0 >> 8) + 1.0) * (1.0 / 16777216.0);  // (0, 1]
  double r = -2.0 * log_unit(u1);
  return (r > 0 ? sqrt(r) : 0.0) * cos_turns(uniform(w1));
}

}  // namespace coil::philox
