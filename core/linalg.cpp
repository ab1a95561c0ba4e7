// Matrix-product front end: shape checks, broadcasting, and mapping strided operands onto the
// (transpose flag, leading dimension) form BLAS takes, copying only when no such form exists.
#include "core/linalg.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/kernels.h"
#include "core/views.h"

namespace coil::core {

static std::atomic<int> g_allow_tf32{-1};  // -1: not decided yet, read the environment
void set_allow_tf32(bool allow) { g_allow_tf32 = allow ? 1 : 0; }
bool allow_tf32() {
  if (g_allow_tf32 < 0) {
    const char* env = std::getenv("COIL_ALLOW_TF32");
    g_allow_tf32 = (env && std::strcmp(env, "1") == 0) ? 1 : 0;
  }
  return g_allow_tf32 == 1;
}

namespace {

// A batch of matrices as BLAS sees them: row-major with leading dimension, maybe transposed.
struct MatrixArg {
  Tensor t;  // (batch, rows, cols)
  bool trans = false;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

MatrixArg as_blas_matrix(Tensor t3) {
  int64_t rows = t3.shape()[1], cols = t3.shape()[2];
  int64_t s0 = t3.strides()[1], s1 = t3.strides()[2];
  MatrixArg m;
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= std::max<int64_t>(1, cols))) {
    m.trans = false;
    m.ld = rows == 1 ? std::max<int64_t>(1, cols) : s0;
  } else if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= std::max<int64_t>(1, rows))) {
    m.trans = true;
    m.ld = cols == 1 ? std::max<int64_t>(1, rows) : s1;
  } else {
    t3 = contiguous(t3);
    m.trans = false;
    m.ld = std::max<int64_t>(1, cols);
  }
  m.batch_stride = t3.shape()[0] == 1 ? 0 : t3.strides()[0];
  m.t = t3;
  return m;
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_same_device(op, {&a, &b});
  COIL_CHECK(a.dtype() == b.dtype(), "[{}] dtypes differ: {} vs {}", op, describe(a), describe(b));
  bool ok = a.device().is_cpu() ? (a.dtype() == DType::f32 || a.dtype() == DType::f64)
                                : (a.dtype() == DType::f32 || a.dtype() == DType::bf16);
  COIL_CHECK(ok, "[{}] dtype {} is not supported on {} (cpu: f32, f64; cuda: f32, bf16): {} @ {}",
             op, dtype_name(a.dtype()), a.device().str(), shape_str(a.shape()),
             shape_str(b.shape()));
}

// out (batch, m, n) contiguous = a3 @ b3 (+ beta * out).
void run_gemm(const Tensor& out, const Tensor& a3, const Tensor& b3, double alpha, double beta) {
  int64_t batch = out.shape()[0], m = out.shape()[1], n = out.shape()[2], k = a3.shape()[2];
  if (out.numel() == 0) return;
  if (k == 0) {
    if (beta == 0) fill_(out, 0.0);
    else binary_into(BinaryOp::mul, out, out, full({}, beta, out.options()));
    return;
  }
  MatrixArg A = as_blas_matrix(a3), B = as_blas_matrix(b3);
  COIL_DEVICE_CALL("matmul", out.device(), gemm, A.trans, B.trans, m, n, k, alpha, A.t, A.ld,
                   A.batch_stride, B.t, B.ld, B.batch_stride, beta, out, n, m * n, batch);
}

}  // namespace

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b);
  COIL_CHECK(a.dim() == 3 && b.dim() == 3 && a.shape()[0] == b.shape()[0] &&
                 a.shape()[2] == b.shape()[1],
             "[bmm] expected (B, M, K) @ (B, K, N), got {} @ {}", shape_str(a.shape()),
             shape_str(b.shape()));
  Tensor out = empty({a.shape()[0], a.shape()[1], b.shape()[2]}, a.options());
  run_gemm(out, a, b, 1.0, 0.0);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  COIL_CHECK(a.dim() >= 1 && b.dim() >= 1, "[matmul] operands must have rank >= 1, got {} @ {}",
             shape_str(a.shape()), shape_str(b.shape()));
  Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  COIL_CHECK(b2.size(-2) == k, "[matmul] inner dimensions differ: {} @ {}", shape_str(a.shape()),
             shape_str(b.shape()));
  Shape ab(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb, "matmul");
  int64_t nb = shape_numel(batch);
  Shape a_full = batch, b_full = batch;
  a_full.insert(a_full.end(), {m, k});
  b_full.insert(b_full.end(), {k, n});
  Tensor a3, b3;
  if (bb.empty() || shape_numel(bb) == 1) {
    // Common case (x @ W): fold the batch of a into its rows when a's rows are uniform.
    Tensor af = reshape(expand(a2, a_full), {nb * m, k});
    a3 = unsqueeze(af, 0);
    b3 = unsqueeze(reshape(b2, {k, n}), 0);
    Tensor out = empty({1, nb * m, n}, a.options());
    run_gemm(out, a3, b3, 1.0, 0.0);
    Shape out_shape = batch;
    if (a.dim() > 1) out_shape.push_back(m);
    if (b.dim() > 1) out_shape.push_back(n);
    return reshape(out, out_shape);
  }
  a3 = reshape(expand(a2, a_full), {nb, m, k});
  b3 = reshape(expand(b2, b_full), {nb, k, n});
  Tensor out = empty({nb, m, n}, a.options());
  run_gemm(out, a3, b3, 1.0, 0.0);
  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(m);
  if (b.dim() > 1) out_shape.push_back(n);
  return reshape(out, out_shape);
}

Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, double beta, double alpha) {
  check_operands("addmm", a, b);
  check_same_device("addmm", {&c, &a});
  COIL_CHECK(a.dim() == 2 && b.dim() == 2 && a.shape()[1] == b.shape()[0],
             "[addmm] expected (M, K) @ (K, N), got {} @ {}", shape_str(a.shape()),
             shape_str(b.shape()));
  Shape mn = {a.shape()[0], b.shape()[1]};
  COIL_CHECK(broadcast_shapes(c.shape(), mn, "addmm") == mn,
             "[addmm] cannot broadcast c {} to the product's shape {}", shape_str(c.shape()),
             shape_str(mn));
  Tensor out = empty({1, mn[0], mn[1]}, a.options());
  copy_(out, expand(c, mn));
  run_gemm(out, unsqueeze(a, 0), unsqueeze(b, 0), alpha, beta);
  return reshape(out, mn);
}

}  // namespace coil::core
