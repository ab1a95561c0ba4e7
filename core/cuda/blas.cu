// cuBLAS GEMM. coil's matrices are row-major; cuBLAS is column-major, so C = A B is computed as
// C^T = B^T A^T with the operands swapped (a row-major X with leading dim ld is a column-major
// X^T with the same ld). f32 is true f32 unless TF32 is enabled (core/linalg.h); bf16 inputs
// accumulate in f32.
#include "core/cuda/context.h"
#include "core/kernels.h"
#include "core/linalg.h"

namespace coil::cuda {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const Tensor& a, int64_t lda, int64_t stride_a, const Tensor& b, int64_t ldb,
          int64_t stride_b, double beta, const Tensor& c, int64_t ldc, int64_t stride_c,
          int64_t batch) {
  int dev = c.device().index;
  DeviceGuard guard(dev);
  cudaDataType_t type;
  cublasComputeType_t compute;
  if (c.dtype() == DType::f32) {
    type = CUDA_R_32F;
    compute = core::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  } else if (c.dtype() == DType::bf16) {
    type = CUDA_R_16BF;
    compute = CUBLAS_COMPUTE_32F;
  } else {
    COIL_FAIL("[matmul] dtype {} is not supported on cuda (f32, bf16)", dtype_name(c.dtype()));
  }
  float alpha_f = float(alpha), beta_f = float(beta);
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  COIL_CHECK(m < INT32_MAX && n < INT32_MAX && k < INT32_MAX && batch < INT32_MAX,
             "[matmul] sizes ({}, {}, {}) x {} exceed cuBLAS's int range", m, n, k, batch);
  COIL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(dev), op_b, op_a, int(n), int(m), int(k), &alpha_f, b.data_ptr(), type,
      int(ldb), stride_b, a.data_ptr(), type, int(lda), stride_a, &beta_f, c.data_ptr(), type,
      int(ldc), stride_c, int(batch), compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace coil::cuda
