// clip_grad_norm_ front end: collects the gradients, validates them, then one norm kernel and
// one scale kernel over all of them.
#include "optim/clip.h"

#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "optim/kernels.h"

namespace coil::optim {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                       Tensor* first_nonfinite) {
  constexpr const char* kOp = "clip_grad_norm_";
  COIL_CHECK(max_norm > 0, "[{}] max_norm must be > 0 (infinity only measures), got {}", kOp,
             max_norm);
  NoGradGuard no_grad;
  std::vector<TensorSpan> spans;
  Tensor first;
  for (size_t i = 0; i < params.size(); ++i) {
    COIL_CHECK(params[i].defined(), "[{}] parameter {} is undefined", kOp, i);
    Tensor g = grad(params[i]);
    if (!g.defined()) continue;
    COIL_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64,
               "[{}] gradient of parameter {} must be f32 or f64, got {}", kOp, i, describe(g));
    if (!first.defined()) first = g;
    COIL_CHECK(g.device() == first.device() && g.dtype() == first.dtype(),
               "[{}] gradients must share one device and dtype: parameter {} has {}, an earlier "
               "one {}",
               kOp, i, describe(g), describe(first));
    if (!g.is_contiguous()) {  // clipped in place, so the stored gradient itself must be dense
      g = core::contiguous(g);
      set_grad(params[i], g);
    }
    spans.push_back({g.data_ptr(), g.numel(), int64_t(i)});
  }
  if (!first.defined()) {
    if (first_nonfinite) *first_nonfinite = scalar_tensor(-1, {DType::i64});
    return scalar_tensor(0.0);
  }
  Tensor norm = empty({}, first.options());
  Tensor bad;
  if (first_nonfinite) *first_nonfinite = bad = empty({}, {DType::i64, first.device()});
  COIL_DEVICE_CALL(kOp, first.device(), optim_global_norm, first.dtype(), first.device(), spans,
                   norm, bad);
  if (!std::isinf(max_norm))
    COIL_DEVICE_CALL(kOp, first.device(), optim_clip, first.dtype(), first.device(), spans, norm,
                     max_norm);
  return norm;
}

}  // namespace coil::optim
