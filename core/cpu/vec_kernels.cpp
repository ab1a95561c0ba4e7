// The baseline loops of core/cpu/vec_kernels.h and the choice between them and the AVX2 ones.
#define COIL_VEC_ISA generic
#include "core/cpu/vec_kernels_impl.h"
#undef COIL_VEC_ISA

namespace coil::cpu::vec {
namespace {

bool use_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}

}  // namespace

bool has_f32_loop(UnaryOp op) {
  return op == UnaryOp::sigmoid || op == UnaryOp::silu || op == UnaryOp::gelu_erf;
}

void unary_f32(UnaryOp op, float* out, const float* x, int64_t n) {
  use_avx2() ? avx2::unary_f32(op, out, x, n) : generic::unary_f32(op, out, x, n);
}

void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n) {
  use_avx2() ? avx2::unary_grad_f32(op, dx, x, g, n) : generic::unary_grad_f32(op, dx, x, g, n);
}

}  // namespace coil::cpu::vec
