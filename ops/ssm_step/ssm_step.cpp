// Front end of the step mode: validation and the device call (inference only, nothing recorded).
#include "ops/ssm_step/ssm_step.h"

#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/ssm_step/kernels.h"

namespace coil {
namespace {

void check_common(const char* op, const Tensor& state, const Tensor& u, const Tensor& Abar,
                  const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  COIL_CHECK(state.defined() && u.defined() && Abar.defined() && Bbar.defined() && C.defined() &&
                 D.defined(),
             "[{}] got an undefined input", op);
  COIL_CHECK(state.dtype() == DType::f32 || state.dtype() == DType::f64,
             "[{}] inputs must be f32 or f64, got {}", op, describe(state));
  for (const Tensor* t : {&u, &Abar, &Bbar, &C, &D})
    COIL_CHECK(t->dtype() == state.dtype(), "[{}] dtype mismatch: {} vs state {}", op, describe(*t),
               describe(state));
  core::check_same_device(op, {&state, &u, &Abar, &Bbar, &C, &D});
}

}  // namespace

std::pair<Tensor, Tensor> s4d_step(const Tensor& state, const Tensor& u, const Tensor& Abar,
                                   const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  check_common("s4d_step", state, u, Abar, Bbar, C, D);
  auto shapes = [&] {
    return fmt::format("state {}, u {}, Abar {}, Bbar {}, C {}, D {}", shape_str(state.shape()),
                       shape_str(u.shape()), shape_str(Abar.shape()), shape_str(Bbar.shape()),
                       shape_str(C.shape()), shape_str(D.shape()));
  };
  COIL_CHECK(
      state.dim() == 4 && state.size(3) == 2 && u.dim() == 2 && Abar.dim() == 3 &&
          Bbar.shape() == Abar.shape() && C.shape() == Abar.shape() && D.dim() == 1,
      "[s4d_step] expected state (B, H, N2, 2), u (B, H), Abar, Bbar, C (H, N2, 2), D (H): {}",
      shapes());
  const int64_t H = Abar.size(0);
  COIL_CHECK(state.size(0) == u.size(0) && state.size(1) == H && u.size(1) == H &&
                 state.size(2) == Abar.size(1) && Abar.size(2) == 2 && D.size(0) == H,
             "[s4d_step] mismatched shapes: {}", shapes());
  Tensor y = empty(u.shape(), u.options()), next = empty(state.shape(), state.options());
  COIL_DEVICE_CALL("s4d_step", u.device(), s4d_step_forward, y, next, core::contiguous(state),
                   core::contiguous(u), core::contiguous(Abar), core::contiguous(Bbar),
                   core::contiguous(C), core::contiguous(D));
  return {y, next};
}

std::pair<Tensor, Tensor> ssm_step(const Tensor& state, const Tensor& u, const Tensor& Abar,
                                   const Tensor& Bbar, const Tensor& C, const Tensor& D) {
  check_common("ssm_step", state, u, Abar, Bbar, C, D);
  auto shapes = [&] {
    return fmt::format("state {}, u {}, Abar {}, Bbar {}, C {}, D {}", shape_str(state.shape()),
                       shape_str(u.shape()), shape_str(Abar.shape()), shape_str(Bbar.shape()),
                       shape_str(C.shape()), shape_str(D.shape()));
  };
  COIL_CHECK(state.dim() == 3 && u.dim() == 2 && Abar.dim() == 3 && Bbar.dim() == 2 &&
                 C.dim() == 2 && D.dim() == 1,
             "[ssm_step] expected state (B, H, N), u (B, H), Abar (H, N, N), Bbar (H, N), "
             "C (H, N), D (H): {}",
             shapes());
  const int64_t H = Abar.size(0), N = Abar.size(1);
  COIL_CHECK(Abar.size(2) == N && Bbar.size(0) == H && Bbar.size(1) == N && C.size(0) == H &&
                 C.size(1) == N && D.size(0) == H && state.size(0) == u.size(0) &&
                 state.size(1) == H && state.size(2) == N && u.size(1) == H,
             "[ssm_step] mismatched shapes: {}", shapes());
  COIL_CHECK(N >= 1 && N <= 1024, "[ssm_step] state size N must be in [1, 1024]: {}", shapes());
  Tensor y = empty(u.shape(), u.options()), next = empty(state.shape(), state.options());
  COIL_DEVICE_CALL("ssm_step", u.device(), ssm_step_forward, y, next, core::contiguous(state),
                   core::contiguous(u), core::contiguous(Abar), core::contiguous(Bbar),
                   core::contiguous(C), core::contiguous(D));
  return {y, next};
}

}  // namespace coil
