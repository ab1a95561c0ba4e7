// CPU reductions over the middle axis of a contiguous (outer, r, inner) block. Floating sums
// accumulate in double; every output is computed by one thread in a fixed order (deterministic).
#include <algorithm>
#include <limits>

#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cpu {

template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, int64_t>;

void reduce(ReduceOp op, const Tensor& out, const Tensor& in, int64_t outer, int64_t r,
            int64_t inner) {
  dispatch<COIL_NUMERIC_DTYPES>(in.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const T* x = static_cast<const T*>(in.data_ptr());
    if (op == ReduceOp::sum && inner > 1) {
      // Column sums (a bias gradient: (rows, C) -> (C)): a block of adjacent outputs advances
      // through r together, so the reads are contiguous and vectorise; each output still adds
      // its values in the order i = 0, 1, ..., like the one-output loop below.
      constexpr int64_t kBlock = 64;
      const int64_t blocks = (inner + kBlock - 1) / kBlock;
      parallel_for(outer * blocks, std::max<int64_t>(1, kParallelGrain / (r * kBlock)),
                   [&](int64_t task) {
                     const int64_t bo = task / blocks, j0 = (task % blocks) * kBlock;
                     const int64_t n = std::min(kBlock, inner - j0);
                     A acc[kBlock] = {};
                     const T* p = x + bo * r * inner + j0;
                     for (int64_t i = 0; i < r; ++i)
                       for (int64_t j = 0; j < n; ++j) acc[j] += A(compute_t<T>(p[i * inner + j]));
                     T* o = static_cast<T*>(out.data_ptr()) + bo * inner + j0;
                     for (int64_t j = 0; j < n; ++j) o[j] = math::cast<T, A>(acc[j]);
                   });
      return;
    }
    parallel_for(outer * inner, 256, [&](int64_t o) {
      int64_t bo = o / inner, j = o % inner;
      const T* p = x + bo * r * inner + j;
      if (op == ReduceOp::sum) {
        A acc = 0;
        for (int64_t i = 0; i < r; ++i) acc += A(compute_t<T>(p[i * inner]));
        static_cast<T*>(out.data_ptr())[o] = math::cast<T, A>(acc);
        return;
      }
      // max/min/argmax/argmin: first occurrence wins; NaN propagates like PyTorch.
      bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      compute_t<T> best = compute_t<T>(p[0]);
      int64_t best_i = 0;
      for (int64_t i = 1; i < r; ++i) {
        compute_t<T> v = compute_t<T>(p[i * inner]);
        if (best != best) break;  // NaN already found
        if (v != v || (want_max ? v > best : v < best)) best = v, best_i = i;
      }
      if (op == ReduceOp::argmax || op == ReduceOp::argmin)
        static_cast<int64_t*>(out.data_ptr())[o] = best_i;
      else static_cast<T*>(out.data_ptr())[o] = T(best);
    });
  });
}

}  // namespace coil::cpu
