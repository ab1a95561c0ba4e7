// Contiguous f32 loops of the transcendental elementwise ops (sigmoid, silu, gelu_erf; forward
// and backward) on core/cpu/vec_math.h, compiled for the build's baseline and for AVX2 + FMA.
// The AVX2 loops (twice the lanes, fused multiply-adds) run on CPUs that have both.
#pragma once
#include <cstdint>

#include "core/elementwise_math.h"

namespace coil::cpu::vec {

// True for the ops that have these loops.
bool has_f32_loop(UnaryOp op);
// out[i] = op(x[i]) for i < n; out may be x.
void unary_f32(UnaryOp op, float* out, const float* x, int64_t n);
// dx[i] = g[i] * op'(x[i]) for i < n; dx may be x or g.
void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n);

// The same loops for one instruction set each (vec_kernels_impl.h).
#define COIL_DECLARE_VEC_LOOPS                                       \
  void unary_f32(UnaryOp op, float* out, const float* x, int64_t n); \
  void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n);
namespace generic {
COIL_DECLARE_VEC_LOOPS
}
namespace avx2 {
COIL_DECLARE_VEC_LOOPS
}
#undef COIL_DECLARE_VEC_LOOPS

}  // namespace coil::cpu::vec
