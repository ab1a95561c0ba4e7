// The backend kernel interface. Front ends validate, allocate and broadcast; then they call the
// same-named function in coil::cpu (OpenMP, core/cpu/) or coil::cuda (core/cuda/) through
// COIL_DEVICE_CALL. Every kernel here is asynchronous on the GPU.
#pragma once
#include "core/elementwise_math.h"
#include "core/tensor.h"
#include "core/backend.h"

namespace coil {

enum class ReduceOp : uint8_t { sum, max, min, argmax, argmin };

// Operands of one kernel share out's shape (inputs arrive as expanded views) unless noted.
#define COIL_DECLARE_KERNELS                                                                    \
  void copy(const Tensor& dst, const Tensor& src); /* converts dtype */                        \
  void fill(const Tensor& dst, double value);                                                  \
  void arange(const Tensor& out, double start, double step); /* contiguous out */              \
  void unary(UnaryOp op, const Tensor& out, const Tensor& x, UnaryParams p);                   \
  void unary_backward(UnaryOp op, const Tensor& dx, const Tensor& x, const Tensor& g,          \
                      UnaryParams p);                                                          \
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);               \
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);         \
  /* in viewed as (outer, r, inner) contiguous; out (outer, inner) contiguous */               \
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, int64_t outer, int64_t r,      \
              int64_t inner);                                                                  \
  /* contiguous out; Philox stream (seed, offset); kind 0 uniform [lo, hi), 1 normal(lo, hi), \
     2 integers [lo, hi) */                                                                    \
  void random(const Tensor& out, uint64_t seed, uint64_t offset, int kind, double lo,          \
              double hi);                                                                      \
  /* C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b]; row-major matrices with leading dims */   \
  void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,         \
            const Tensor& a, int64_t lda, int64_t stride_a, const Tensor& b, int64_t ldb,      \
            int64_t stride_b, double beta, const Tensor& c, int64_t ldc, int64_t stride_c,     \
            int64_t batch);

namespace cpu {
COIL_DECLARE_KERNELS
}
namespace cuda {
COIL_DECLARE_KERNELS
}

}  // namespace coil

#define COIL_DEVICE_CALL(op, device, fn, ...)                 \
  do {                                                        \
    if ((device).is_cpu()) {                                  \
      ::coil::cpu::fn(__VA_ARGS__);                           \
    } else {                                                  \
      COIL_CUDA_ONLY(op, ::coil::cuda::fn(__VA_ARGS__));      \
    }                                                         \
  } while (0)
