// S4D diagonal initialisations (REFERENCE.md section 2); S4D-LegS reuses the NPLR decomposition.
#include "nn/init/s4d_init.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "nn/init/hippo.h"

namespace coil::nn::init {

const std::vector<std::string>& s4d_inits() {
  static const std::vector<std::string> names = {"lin", "inv", "real", "legs"};
  return names;
}

std::vector<std::complex<double>> s4d_A(const std::string& init, int64_t N) {
  const auto& names = s4d_inits();
  if (std::find(names.begin(), names.end(), init) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    COIL_FAIL("[s4d_init] unknown init '{}' (valid: {})", init, list);
  }
  COIL_CHECK(N >= 2 && N % 2 == 0,
             "[s4d_init] state size N must be even (conjugate pairs) and at least 2, got {}", N);
  if (init == "legs") return nplr("legs", N).W;
  const int64_t N2 = N / 2;
  std::vector<std::complex<double>> A(static_cast<size_t>(N2));
  for (int64_t n = 0; n < N2; ++n) {
    const double dn = double(n), dN = double(N);
    if (init == "lin") A[size_t(n)] = {-0.5, M_PI * dn};
    else if (init == "inv") A[size_t(n)] = {-0.5, (dN / M_PI) * (dN / (2 * dn + 1) - 1)};
    else A[size_t(n)] = {-(dn + 1), 0.0};
  }
  return A;
}

}  // namespace coil::nn::init
