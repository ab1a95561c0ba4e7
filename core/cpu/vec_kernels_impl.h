// The loops of vec_kernels.h for one instruction set: vec_kernels.cpp includes this with
// COIL_VEC_ISA = generic, vec_kernels_avx2.cpp and vec_kernels_avx512.cpp under their `#pragma GCC
// target` with avx2 and avx512.
// Only the entry points have external linkage (vec_math.h is all static).
#include "core/cpu/vec_kernels.h"
#include "core/cpu/vec_math.h"

#ifndef COIL_VEC_ISA
#error "define COIL_VEC_ISA (generic, avx2 or avx512) before including vec_kernels_impl.h"
#endif

namespace coil::cpu::vec::COIL_VEC_ISA {

void unary_f32(UnaryOp op, float* out, const float* x, int64_t n) {
  switch (op) {
    case UnaryOp::sigmoid:
      for (int64_t i = 0; i < n; ++i) out[i] = sigmoid(x[i]);
      return;
    case UnaryOp::silu:
      for (int64_t i = 0; i < n; ++i) out[i] = silu(x[i]);
      return;
    case UnaryOp::gelu_erf:
      for (int64_t i = 0; i < n; ++i) out[i] = gelu(x[i]);
      return;
    default:
      return;  // has_f32_loop() is false: the caller never gets here
  }
}

void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n) {
  switch (op) {
    case UnaryOp::sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = sigmoid_grad(x[i], g[i]);
      return;
    case UnaryOp::silu:
      for (int64_t i = 0; i < n; ++i) dx[i] = silu_grad(x[i], g[i]);
      return;
    case UnaryOp::gelu_erf:
      for (int64_t i = 0; i < n; ++i) dx[i] = gelu_grad(x[i], g[i]);
      return;
    default:
      return;
  }
}

void glu_f32(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * sigmoid(b[i]);
}

void glu_grad_f32(float* da, float* db, const float* a, const float* b, const float* g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float s = sigmoid(b[i]);
    da[i] = g[i] * s;
    db[i] = g[i] * a[i] * s * (1.0f - s);
  }
}

}  // namespace coil::cpu::vec::COIL_VEC_ISA
