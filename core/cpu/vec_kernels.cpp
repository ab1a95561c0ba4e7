// The baseline loops of core/cpu/vec_kernels.h and the choice between them, the AVX2 and the
// AVX-512 ones.
#define COIL_VEC_ISA generic
#include "core/cpu/isa.h"
#include "core/cpu/vec_kernels_impl.h"
#undef COIL_VEC_ISA

namespace coil::cpu::vec {
namespace {

// Calls fn of the namespace of the widest instruction set this CPU has.
#define COIL_VEC_CALL(fn, ...)         \
  switch (best_isa()) {                \
    case Isa::avx512:                  \
      return avx512::fn(__VA_ARGS__);  \
    case Isa::avx2:                    \
      return avx2::fn(__VA_ARGS__);    \
    default:                           \
      return generic::fn(__VA_ARGS__); \
  }

}  // namespace

bool has_f32_loop(UnaryOp op) {
  return op == UnaryOp::sigmoid || op == UnaryOp::silu || op == UnaryOp::gelu_erf;
}

void unary_f32(UnaryOp op, float* out, const float* x, int64_t n) {
  COIL_VEC_CALL(unary_f32, op, out, x, n)
}

void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n) {
  COIL_VEC_CALL(unary_grad_f32, op, dx, x, g, n)
}

void gelu_slope_f32(float* y, float* slope, const float* x, int64_t n) {
  COIL_VEC_CALL(gelu_slope_f32, y, slope, x, n)
}

void glu_f32(float* out, const float* a, const float* b, const float* ba, const float* bb,
             int64_t n) {
  COIL_VEC_CALL(glu_f32, out, a, b, ba, bb, n)
}

void glu_grad_f32(float* da, float* db, const float* a, const float* b, const float* ba,
                  const float* bb, const float* g, int64_t n) {
  COIL_VEC_CALL(glu_grad_f32, da, db, a, b, ba, bb, g, n)
}

}  // namespace coil::cpu::vec
