// HiPPO transition matrices (LegS, LegT, FouT) and their NPLR/DPLR decomposition, computed once in
// float64 on the CPU (LAPACK). The S4 kernel's initial parameters (W, P, B) come from here.
#pragma once
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

namespace coil::nn::init {

using cdouble = std::complex<double>;

// The measures hippo() and nplr() know, for error messages: "legs, legt, fout".
const std::vector<std::string>& hippo_measures();

// A (N, N) row-major, B (N), and the low-rank correction P (rank, N) row-major, such that
// A + sum_r P_r P_r^T = c I + S with S skew-symmetric (REFERENCE.md section 2; A carries the minus
// sign). rank is 1 for LegS and FouT, 2 for LegT.
struct Hippo {
  int64_t N = 0;
  int rank = 0;
  std::vector<double> A, B, P;
};

// Throws coil::Error "[hippo] ..." for an unknown measure (listing the valid names), N < 1, or
// odd N for FouT (its modes come in sine/cosine pairs).
Hippo hippo(const std::string& measure, int64_t N);

// The diagonal-plus-low-rank form of a HiPPO matrix in its eigenbasis, keeping one mode of each
// conjugate pair: A = V_full (diag(W_full) - P~_full P~_full^*) V_full^* with V_full = [V, conj V],
// W_full = [W, conj W], P~_full = [P, conj P] (rank rows). All vectors have N/2 entries:
//   W (N/2): the eigenvalues with Im W <= 0, sorted by Im W ascending (Re W = c, -1/2 for LegS);
//   P (rank, N/2) row-major: V^* P_hippo;  B (N/2): V^* B_hippo with Im B clipped to
//   [-b_clip, b_clip];  V (N, N/2) row-major: the kept orthonormal eigenvectors.
struct Nplr {
  int64_t N2 = 0;
  int rank = 0;
  std::vector<cdouble> W, P, B, V;
};

// Throws coil::Error "[nplr] ..." for odd N, an unknown measure, a matrix that is not normal
// plus low rank (|sym part - c I| > 1e-8), or a LAPACK failure (with LAPACK's info code).
Nplr nplr(const std::string& measure, int64_t N, double b_clip = 2.0);

}  // namespace coil::nn::init
