// batch_norm front end: validate, run the fused statistics + normalise kernels (updating the
// running statistics in place, outside autograd), record the fused backward.
#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/views.h"
#include "ops/norm/common.h"
#include "ops/norm/kernels.h"
#include "ops/norm/norm.h"

namespace coil {

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  const char* name = "batch_norm";
  norm::check_input(name, x, 2, 3);
  const int64_t N = x.size(0), C = x.size(1), L = x.dim() == 3 ? x.size(2) : 1;
  norm::check_param(name, "weight", weight, C, x);
  norm::check_param(name, "bias", bias, C, x);
  norm::check_param(name, "running_mean", running_mean, C, x);
  norm::check_param(name, "running_var", running_var, C, x);
  COIL_CHECK(running_mean.defined() == running_var.defined(),
             "[{}] running_mean and running_var must be given together (input {})", name,
             shape_str(x.shape()));
  COIL_CHECK(!training || N * L > 1,
             "[{}] expected more than 1 value per channel when training, got input of shape {}",
             name, shape_str(x.shape()));
  COIL_CHECK(training || running_mean.defined(),
             "[{}] eval mode normalises with running_mean and running_var, which are missing "
             "(input {})",
             name, shape_str(x.shape()));
  norm::check_eps(name, eps);
  COIL_CHECK(std::isfinite(momentum), "[{}] momentum must be finite, got {}", name, momentum);

  Tensor x3 = core::view(core::contiguous(x), {N, C, L});
  Tensor w = norm::contiguous_or_none(weight), b = norm::contiguous_or_none(bias);
  Tensor y = empty(x.shape(), x.options());
  Tensor save_mean = empty({C}, x.options()), save_invstd = empty({C}, x.options());
  {
    // The running statistics are state, not part of the graph: updated in place, never recorded.
    NoGradGuard no_grad;
    Tensor rm = norm::contiguous_or_none(running_mean);
    Tensor rv = norm::contiguous_or_none(running_var);
    COIL_DEVICE_CALL(name, x.device(), batch_norm_forward, core::view(y, {N, C, L}), save_mean,
                     save_invstd, x3, w, b, rm, rv, training, momentum, eps);
    if (training && rm.defined()) {  // a non-contiguous running stat was updated in a copy
      if (!rm.is_same(running_mean)) core::copy_(running_mean, rm);
      if (!rv.is_same(running_var)) core::copy_(running_var, rv);
    }
  }

  if (needs_grad({x, weight, bias})) {
    record(name, {x, weight, bias}, {y},
           [name, xs = detach(x3), w = detach(w), save_mean, save_invstd, training,
            shape = x.shape()](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor dy = core::contiguous(core::to(g[0], xs.dtype()));
             Tensor dx = needs[0] ? empty(xs.shape(), xs.options()) : Tensor();
             const int64_t C = xs.size(1);
             Tensor dw = needs[1] ? empty({C}, xs.options()) : Tensor();
             Tensor db = needs[2] ? empty({C}, xs.options()) : Tensor();
             COIL_DEVICE_CALL(name, xs.device(), batch_norm_backward, dx, dw, db,
                              core::view(dy, xs.shape()), xs, w, save_mean, save_invstd, training);
             return std::vector<Tensor>{dx.defined() ? core::view(dx, shape) : dx, dw, db};
           });
  }
  return y;
}

}  // namespace coil
