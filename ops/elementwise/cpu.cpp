// CPU kernels of ops/elementwise/kernels.h: OpenMP over blocks, core/cpu/vec_kernels' loops.
#include <algorithm>

#include "core/cpu/loops.h"
#include "core/cpu/vec_kernels.h"
#include "ops/elementwise/kernels.h"

namespace coil::cpu {

void gelu_with_slope(const Tensor& y, const Tensor& slope, const Tensor& x) {
  const int64_t n = x.numel(), blocks = (n + kParallelGrain - 1) / kParallelGrain;
  const float* xp = x.data<float>();
  float *yp = y.data<float>(), *sp = slope.data<float>();
  parallel_for(blocks, 1, [&](int64_t k) {
    const int64_t i0 = k * kParallelGrain, len = std::min(kParallelGrain, n - i0);
    vec::gelu_slope_f32(yp + i0, sp + i0, xp + i0, len);
  });
}

}  // namespace coil::cpu
