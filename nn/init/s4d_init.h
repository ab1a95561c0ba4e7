// Diagonal (S4D) initialisations of the state matrix: N/2 complex modes, one per conjugate pair.
#pragma once
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

namespace coil::nn::init {

// The inits s4d_A knows, for error messages: "lin, inv, real, legs".
const std::vector<std::string>& s4d_inits();

// A (N/2) for n = 0..N/2-1 (REFERENCE.md section 2):
//   lin:  -1/2 + i pi n          inv: -1/2 + i (N/pi)(N/(2n+1) - 1)
//   real: -(n+1)                 legs: W of the NPLR decomposition of LegS (nplr("legs", N)).
// Throws coil::Error "[s4d_init] ..." for odd or non-positive N or an unknown name (listing them).
std::vector<std::complex<double>> s4d_A(const std::string& init, int64_t N);

}  // namespace coil::nn::init
