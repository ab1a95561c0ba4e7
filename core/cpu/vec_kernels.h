// Contiguous f32 loops of the transcendental elementwise ops (sigmoid, silu, gelu_erf; forward
// and backward) and of GLU's halves on core/cpu/vec_math.h, compiled for the build's baseline,
// for AVX2 + FMA and for AVX-512; each CPU runs the widest set it has.
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
// GELU (erf form) and its derivative in one pass: y[i] = gelu(x[i]), slope[i] = gelu'(x[i]).
void gelu_slope_f32(float* y, float* slope, const float* x, int64_t n);
// GLU (ops/glu) of the halves a, b plus biases ba, bb (both null: no bias), i < n:
// out[i] = (a[i] + ba[i]) * sigmoid(b[i] + bb[i]). Outputs (out; da, db) must not overlap inputs.
void glu_f32(float* out, const float* a, const float* b, const float* ba, const float* bb,
             int64_t n);
// da[i] = g[i] * sigmoid(b[i] + bb[i]), db[i] = g[i] * (a[i] + ba[i]) * sigmoid'(b[i] + bb[i]).
void glu_grad_f32(float* da, float* db, const float* a, const float* b, const float* ba,
                  const float* bb, const float* g, int64_t n);

// The same loops for one instruction set each (vec_kernels_impl.h).
#define COIL_DECLARE_VEC_LOOPS                                                               \
  void unary_f32(UnaryOp op, float* out, const float* x, int64_t n);                         \
  void unary_grad_f32(UnaryOp op, float* dx, const float* x, const float* g, int64_t n);     \
  void gelu_slope_f32(float* y, float* slope, const float* x, int64_t n);                    \
  void glu_f32(float* out, const float* a, const float* b, const float* ba, const float* bb, \
               int64_t n);                                                                   \
  void glu_grad_f32(float* da, float* db, const float* a, const float* b, const float* ba,   \
                    const float* bb, const float* g, int64_t n);
namespace generic {
COIL_DECLARE_VEC_LOOPS
}
namespace avx2 {
COIL_DECLARE_VEC_LOOPS
}
namespace avx512 {
COIL_DECLARE_VEC_LOOPS
}
#undef COIL_DECLARE_VEC_LOOPS

}  // namespace coil::cpu::vec
