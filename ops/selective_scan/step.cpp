// Front end of the selective scan's recurrent step (inference; no autograd).
#include "core/copy.h"
#include "ops/selective_scan/kernels.h"
#include "ops/selective_scan/selective_scan.h"
#include "ops/selective_scan/validate.h"

namespace coil {

Tensor selective_scan_step(const Tensor& state, const Tensor& u_t, const Tensor& delta_t,
                           const Tensor& A, const Tensor& B_t, const Tensor& C_t, const Tensor& D,
                           const Tensor& z_t, const Tensor& delta_bias, bool delta_softplus) {
  constexpr const char* kName = "selective_scan_step";
  scan_detail::check_step_inputs(kName, {state, u_t, delta_t, A, B_t, C_t, D, z_t, delta_bias});
  COIL_CHECK(state.is_contiguous(), "[{}] state is updated in place and must be contiguous: {}",
             kName, describe(state));
  auto dense = [](const Tensor& t) { return t.defined() ? core::contiguous(t) : t; };
  Tensor y = empty(u_t.shape(), u_t.options());
  COIL_DEVICE_CALL(kName, state.device(), selective_scan_step, y, state, dense(u_t), dense(delta_t),
                   dense(A), dense(B_t), dense(C_t), dense(D), dense(z_t), dense(delta_bias),
                   delta_softplus);
  return y;
}

}  // namespace coil
