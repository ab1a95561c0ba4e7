// The S4 kernels' instantiations, shared by the CPU and CUDA front ends: dtype (f32, f64), output
// count Cn (1 or 2, bidirectional) and low-rank R (1 for LegS, 2 for LegT).
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace coil::ssm {

// Calls f.template operator()<T, NC, R>() for the runtime (dtype, Cn, R).
template <class F>
void dispatch_s4(DType dt, int64_t Cn, int64_t R, F&& f) {
  dispatch<DType::f32, DType::f64>(dt, "s4_kernel", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (Cn == 1 && R == 1) f.template operator()<T, 1, 1>();
    else if (Cn == 1) f.template operator()<T, 1, 2>();
    else if (R == 1) f.template operator()<T, 2, 1>();
    else f.template operator()<T, 2, 2>();
  });
}

}  // namespace coil::ssm
