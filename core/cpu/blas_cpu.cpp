// CPU GEMM through OpenBLAS, tall products split by rows over our OpenMP threads (gemm_rows).
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <type_traits>

#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cpu {

namespace {

// Below this many multiply-adds, or with too few rows to share, one call on one thread.
constexpr double kSplitMacs = 1 << 20;
constexpr int64_t kMinRowsPerThread = 128;

template <class T>
void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, T alpha,
               const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb),
                beta, c, int(ldc));
  else
    cblas_dgemm(CblasRowMajor, ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb),
                beta, c, int(ldc));
}

// One product, its rows of C shared among our OpenMP threads: each thread calls BLAS on its row
// block, where OpenBLAS runs single-threaded. OpenBLAS's own threading synchronises its workers
// by spinning and yielding, which cost 5-30% more CPU time on the tall products of a model step
// (8192 x 256 x 128: 11.7 vs 8.8 ms) and stalls whenever a busy machine deschedules a worker.
// Every element of C sums over k in the same order either way.
template <class T>
void gemm_rows(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               CBLAS_TRANSPOSE tb, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads < 2 || double(m) * double(n) * double(k) < kSplitMacs || m < 2 * kMinRowsPerThread) {
    gemm_call<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const int parts = int(std::min<int64_t>(threads, m / kMinRowsPerThread));
  // Row blocks in multiples of 16 so every block but the last keeps the kernels' full tiles.
  const int64_t rows = ((m + parts - 1) / parts + 15) / 16 * 16;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; ++p) {
    const int64_t r0 = std::min(m, p * rows), r1 = std::min(m, r0 + rows);
    if (r0 < r1)  // rows of op(A) start at a + r0 * lda, or at column r0 when A is transposed
      gemm_call<T>(ta, tb, r1 - r0, n, k, alpha, trans_a ? a + r0 : a + r0 * lda, lda, b, ldb, beta,
                   c + r0 * ldc, ldc);
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const Tensor& a, int64_t lda, int64_t stride_a, const Tensor& b, int64_t ldb,
          int64_t stride_b, double beta, const Tensor& c, int64_t ldc, int64_t stride_c,
          int64_t batch) {
  const auto tb = trans_b ? CblasTrans : CblasNoTrans;
  dispatch<DType::f32, DType::f64>(c.dtype(), "matmul", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* pc = static_cast<T*>(c.data_ptr());
    for (int64_t i = 0; i < batch; ++i)
      gemm_rows<T>(trans_a, m, n, k, T(alpha), pa + i * stride_a, lda, tb, pb + i * stride_b, ldb,
                   T(beta), pc + i * stride_c, ldc);
  });
}

}  // namespace coil::cpu
