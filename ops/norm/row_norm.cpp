// Shared front end of layer_norm and rms_norm. The forward saves the input and the per-row
// statistics (mean for layer norm, rstd for both), not the output; the backward is one fused
// kernel for dx plus the fixed-order weight/bias sums.
#include "ops/norm/row_norm.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "ops/norm/common.h"

namespace coil::norm {

Tensor row_norm(RowNorm kind, const Tensor& x, const Tensor& weight, const Tensor& bias,
                double eps) {
  const char* name = kind == RowNorm::layer ? "layer_norm" : "rms_norm";
  check_input(name, x, 1, 1 << 30);
  const int64_t D = x.size(-1);
  check_param(name, "weight", weight, D, x);
  check_param(name, "bias", bias, D, x);
  check_eps(name, eps);

  Shape row_shape(x.shape().begin(), x.shape().end() - 1);
  Tensor xc = core::contiguous(x);
  Tensor w = contiguous_or_none(weight), b = contiguous_or_none(bias);
  Tensor y = empty(x.shape(), x.options());
  Tensor mean = kind == RowNorm::layer ? empty(row_shape, x.options()) : Tensor();
  Tensor rstd = empty(row_shape, x.options());
  COIL_DEVICE_CALL(name, x.device(), row_norm_forward, kind, y, mean, rstd, xc, w, b, eps);

  if (needs_grad({x, weight, bias})) {
    record(name, {x, weight, bias}, {y},
           [kind, name, xs = detach(xc), w = detach(w), mean, rstd, D](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor dy = core::contiguous(core::to(g[0], xs.dtype()));
             Tensor dx = needs[0] ? empty(xs.shape(), xs.options()) : Tensor();
             Tensor dw = needs[1] ? empty({D}, xs.options()) : Tensor();
             Tensor db = needs[2] ? empty({D}, xs.options()) : Tensor();
             COIL_DEVICE_CALL(name, xs.device(), row_norm_backward, kind, dx, dw, db, dy, xs, w,
                              mean, rstd);
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return y;
}

}  // namespace coil::norm
