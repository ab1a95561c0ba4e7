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

void gelu_slope_f32(float* __restrict y, float* __restrict slope, const float* __restrict x,
                    int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    y[i] = gelu(x[i]);
    slope[i] = gelu_slope(x[i]);
  }
}

namespace {

// kBias false drops the bias loads and adds at compile time. The outputs never alias the inputs
// here: __restrict spares GCC the run-time overlap checks, too many of which (two outputs, five
// inputs) made it leave the biased backward scalar (6x slower).
template <bool kBias>
void glu_loop(float* __restrict out, const float* __restrict a, const float* __restrict b,
              const float* __restrict ba, const float* __restrict bb, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float av = kBias ? a[i] + ba[i] : a[i], bv = kBias ? b[i] + bb[i] : b[i];
    out[i] = av * sigmoid(bv);
  }
}

template <bool kBias>
void glu_grad_loop(float* __restrict da, float* __restrict db, const float* __restrict a,
                   const float* __restrict b, const float* __restrict ba,
                   const float* __restrict bb, const float* __restrict g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float av = kBias ? a[i] + ba[i] : a[i], s = sigmoid(kBias ? b[i] + bb[i] : b[i]);
    da[i] = g[i] * s;
    db[i] = g[i] * av * s * (1.0f - s);
  }
}

}  // namespace

void glu_f32(float* out, const float* a, const float* b, const float* ba, const float* bb,
             int64_t n) {
  ba ? glu_loop<true>(out, a, b, ba, bb, n) : glu_loop<false>(out, a, b, ba, bb, n);
}

void glu_grad_f32(float* da, float* db, const float* a, const float* b, const float* ba,
                  const float* bb, const float* g, int64_t n) {
  ba ? glu_grad_loop<true>(da, db, a, b, ba, bb, g, n)
     : glu_grad_loop<false>(da, db, a, b, ba, bb, g, n);
}

}  // namespace coil::cpu::vec::COIL_VEC_ISA
