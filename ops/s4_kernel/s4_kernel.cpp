// Front end of the S4 (DPLR) kernel: validation, the device call and the recorded backward,
// which reuses the pair sums r~ the forward saved.
#include "ops/s4_kernel/s4_kernel.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/s4_kernel/kernels.h"

namespace coil {
namespace {

void check_inputs(const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im, const Tensor& P,
                  const Tensor& B, const Tensor& C, int64_t L) {
  COIL_CHECK(log_dt.defined() && W_re.defined() && W_im.defined() && P.defined() && B.defined() &&
                 C.defined(),
             "[s4_kernel] got an undefined input");
  auto shapes = [&] {
    return fmt::format("log_dt {}, W_re {}, W_im {}, P {}, B {}, C {}, L {}",
                       shape_str(log_dt.shape()), shape_str(W_re.shape()), shape_str(W_im.shape()),
                       shape_str(P.shape()), shape_str(B.shape()), shape_str(C.shape()), L);
  };
  COIL_CHECK(log_dt.dim() == 1 && W_re.dim() == 2 && W_im.dim() == 2 && P.dim() == 4 &&
                 B.dim() == 3 && C.dim() == 4,
             "[s4_kernel] expected log_dt (H), W_re (H, N2), W_im (H, N2), P (R, H, N2, 2), "
             "B (H, N2, 2), C (Cn, H, N2, 2): {}",
             shapes());
  const int64_t H = log_dt.size(0), N2 = W_re.size(1);
  COIL_CHECK(
      W_re.size(0) == H && W_im.size(0) == H && P.size(1) == H && B.size(0) == H && C.size(1) == H,
      "[s4_kernel] mismatched H: {}", shapes());
  COIL_CHECK(W_im.size(1) == N2 && P.size(2) == N2 && B.size(1) == N2 && C.size(2) == N2,
             "[s4_kernel] mismatched N2: {}", shapes());
  COIL_CHECK(P.size(3) == 2 && B.size(2) == 2 && C.size(3) == 2,
             "[s4_kernel] P, B and C must end in a (re, im) pair dimension of 2: {}", shapes());
  COIL_CHECK(P.size(0) == 1 || P.size(0) == 2, "[s4_kernel] rank R must be 1 or 2: {}", shapes());
  COIL_CHECK(C.size(0) == 1 || C.size(0) == 2,
             "[s4_kernel] Cn must be 1 (causal) or 2 (bidirectional): {}", shapes());
  COIL_CHECK(H >= 1 && N2 >= 1, "[s4_kernel] empty dimension: {}", shapes());
  COIL_CHECK(L >= 1, "[s4_kernel] kernel length L must be at least 1: {}", shapes());
  COIL_CHECK(log_dt.dtype() == DType::f32 || log_dt.dtype() == DType::f64,
             "[s4_kernel] inputs must be f32 or f64, got {}", describe(log_dt));
  for (const Tensor* t : {&W_re, &W_im, &P, &B, &C})
    COIL_CHECK(t->dtype() == log_dt.dtype(), "[s4_kernel] dtype mismatch: {} vs log_dt {}",
               describe(*t), describe(log_dt));
  core::check_same_device("s4_kernel", {&log_dt, &W_re, &W_im, &P, &B, &C});
}

}  // namespace

Tensor s4_kernel(const Tensor& log_dt, const Tensor& W_re, const Tensor& W_im, const Tensor& P,
                 const Tensor& B, const Tensor& C, int64_t L) {
  check_inputs(log_dt, W_re, W_im, P, B, C, L);
  std::vector<Tensor> in = {core::contiguous(log_dt), core::contiguous(W_re),
                            core::contiguous(W_im),   core::contiguous(P),
                            core::contiguous(B),      core::contiguous(C)};
  const int64_t R = P.size(0), Cn = C.size(0), NP = (1 + R) * (Cn + R);
  Tensor K = empty({Cn, log_dt.size(0), L}, log_dt.options());
  const bool grad = needs_grad({log_dt, W_re, W_im, P, B, C});
  Tensor rsave = grad ? empty({log_dt.size(0), L / 2 + 1, NP, 2}, log_dt.options()) : Tensor();
  COIL_DEVICE_CALL("s4_kernel", K.device(), s4_kernel_forward, K, rsave, in[0], in[1], in[2], in[3],
                   in[4], in[5]);
  if (grad) {
    for (auto& t : in) t = detach(t);
    record("s4_kernel", {log_dt, W_re, W_im, P, B, C}, {K},
           [in, rsave](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             std::vector<Tensor> grads;
             for (const auto& t : in) grads.push_back(empty_like(t));
             Tensor gk = core::contiguous(g[0]);
             COIL_DEVICE_CALL("s4_kernel", gk.device(), s4_kernel_backward, grads, gk, rsave, in[0],
                              in[1], in[2], in[3], in[4], in[5]);
             for (size_t i = 0; i < grads.size(); ++i)
               if (!needs[i]) grads[i] = Tensor();
             return grads;
           });
  }
  return K;
}

}  // namespace coil
