// Front end of the S4D kernel: validation, the device call and the recorded backward (one fused
// backward kernel for all five gradients).
#include "ops/s4d_kernel/s4d_kernel.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/s4d_kernel/kernels.h"

namespace coil {
namespace {

void check_inputs(const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im, const Tensor& B,
                  const Tensor& C, int64_t L, SsmDisc disc) {
  COIL_CHECK(log_dt.defined() && A_re.defined() && A_im.defined() && B.defined() && C.defined(),
             "[s4d_kernel] got an undefined input");
  auto shapes = [&] {
    return fmt::format("log_dt {}, A_re {}, A_im {}, B {}, C {}, L {}", shape_str(log_dt.shape()),
                       shape_str(A_re.shape()), shape_str(A_im.shape()), shape_str(B.shape()),
                       shape_str(C.shape()), L);
  };
  COIL_CHECK(
      log_dt.dim() == 1 && A_re.dim() == 2 && A_im.dim() == 2 && B.dim() == 3 && C.dim() == 4,
      "[s4d_kernel] expected log_dt (H), A_re (H, N2), A_im (H, N2), B (H, N2, 2), "
      "C (Cn, H, N2, 2): {}",
      shapes());
  const int64_t H = log_dt.size(0), N2 = A_re.size(1);
  COIL_CHECK(A_re.size(0) == H && A_im.size(0) == H && B.size(0) == H && C.size(1) == H,
             "[s4d_kernel] mismatched H: {}", shapes());
  COIL_CHECK(A_im.size(1) == N2 && B.size(1) == N2 && C.size(2) == N2,
             "[s4d_kernel] mismatched N2: {}", shapes());
  COIL_CHECK(B.size(2) == 2 && C.size(3) == 2,
             "[s4d_kernel] B and C must end in a (re, im) pair dimension of 2: {}", shapes());
  COIL_CHECK(C.size(0) >= 1 && N2 >= 1 && H >= 1, "[s4d_kernel] empty dimension: {}", shapes());
  COIL_CHECK(L >= 1, "[s4d_kernel] kernel length L must be at least 1: {}", shapes());
  COIL_CHECK(disc == SsmDisc::zoh || disc == SsmDisc::bilinear,
             "[s4d_kernel] unknown discretisation {}", int(disc));
  COIL_CHECK(log_dt.dtype() == DType::f32 || log_dt.dtype() == DType::f64,
             "[s4d_kernel] inputs must be f32 or f64, got {}", describe(log_dt));
  for (const Tensor* t : {&A_re, &A_im, &B, &C})
    COIL_CHECK(t->dtype() == log_dt.dtype(), "[s4d_kernel] dtype mismatch: {} vs log_dt {}",
               describe(*t), describe(log_dt));
  core::check_same_device("s4d_kernel", {&log_dt, &A_re, &A_im, &B, &C});
}

}  // namespace

Tensor s4d_kernel(const Tensor& log_dt, const Tensor& A_re, const Tensor& A_im, const Tensor& B,
                  const Tensor& C, int64_t L, SsmDisc disc) {
  check_inputs(log_dt, A_re, A_im, B, C, L, disc);
  Tensor dt = core::contiguous(log_dt), ar = core::contiguous(A_re), ai = core::contiguous(A_im),
         bc = core::contiguous(B), cc = core::contiguous(C);
  Tensor K = empty({C.size(0), log_dt.size(0), L}, log_dt.options());
  const int d = int(disc);
  COIL_DEVICE_CALL("s4d_kernel", K.device(), s4d_kernel_forward, K, dt, ar, ai, bc, cc, d);
  if (needs_grad({log_dt, A_re, A_im, B, C})) {
    record("s4d_kernel", {log_dt, A_re, A_im, B, C}, {K},
           [dt = detach(dt), ar = detach(ar), ai = detach(ai), bc = detach(bc), cc = detach(cc), d](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             std::vector<Tensor> grads = {empty_like(dt), empty_like(ar), empty_like(ai),
                                          empty_like(bc), empty_like(cc)};
             Tensor gk = core::contiguous(g[0]);
             COIL_DEVICE_CALL("s4d_kernel", gk.device(), s4d_kernel_backward, grads[0], grads[1],
                              grads[2], grads[3], grads[4], gk, dt, ar, ai, bc, cc, d);
             for (size_t i = 0; i < grads.size(); ++i)
               if (!needs[i]) grads[i] = Tensor();
             return grads;
           });
  }
  return K;
}

}  // namespace coil
