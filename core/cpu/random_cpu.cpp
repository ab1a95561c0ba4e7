// CPU random fills from the Philox stream (built without FMA contraction: see CMakeLists.txt).
#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "core/kernels.h"
#include "core/philox.h"
#include "core/random_transform.h"

namespace coil::cpu {

void random(const Tensor& out, uint64_t seed, uint64_t offset, int kind, double lo, double hi) {
  dispatch<COIL_NUMERIC_DTYPES>(out.dtype(), "random", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.data_ptr());
    parallel_for(out.numel(), 4096, [&](int64_t i) {
      o[i] = random_value<T>(seed, offset, uint64_t(i), kind, lo, hi);
    });
  });
}

}  // namespace coil::cpu
