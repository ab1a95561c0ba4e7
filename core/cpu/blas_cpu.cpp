// CPU GEMM through OpenBLAS. Called outside OpenMP regions only, so OpenBLAS (OpenMP or pthread
// build) uses its own threads without oversubscribing ours.
#include <cblas.h>

#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const Tensor& a, int64_t lda, int64_t stride_a, const Tensor& b, int64_t ldb,
          int64_t stride_b, double beta, const Tensor& c, int64_t ldc, int64_t stride_c,
          int64_t batch) {
  auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  dispatch<DType::f32, DType::f64>(c.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* pc = static_cast<T*>(c.data_ptr());
    for (int64_t i = 0; i < batch; ++i) {
      if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), float(alpha), pa + i * stride_a,
                    int(lda), pb + i * stride_b, int(ldb), float(beta), pc + i * stride_c, int(ldc));
      else
        cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, pa + i * stride_a,
                    int(lda), pb + i * stride_b, int(ldb), beta, pc + i * stride_c, int(ldc));
    }
  });
}

}  // namespace coil::cpu
