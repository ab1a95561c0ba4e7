#include "core/cpu/isa.h"

namespace coil::cpu {

Isa best_isa() {
  static const Isa best = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return Isa::generic;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    return avx512 ? Isa::avx512 : Isa::avx2;
  }();
  return best;
}

}  // namespace coil::cpu
