// The non-finite flag's front end: shape and device checks, then one kernel.
#include "optim/nonfinite.h"

#include "core/factory.h"
#include "optim/kernels.h"

namespace coil::optim {

Tensor nonfinite_flag(Device device) { return zeros({kFlagSize}, {DType::i64, device}); }

void record_nonfinite(const Tensor& flag, const Tensor& loss, const Tensor& grad_norm,
                      const Tensor& first_param, int64_t step) {
  constexpr const char* kOp = "record_nonfinite";
  COIL_CHECK(flag.defined() && flag.dtype() == DType::i64 && flag.numel() == kFlagSize &&
                 flag.is_contiguous(),
             "[{}] the flag must be nonfinite_flag()'s i64 tensor of {}, got {}", kOp,
             int(kFlagSize), flag.defined() ? describe(flag) : "undefined");
  COIL_CHECK(step > 0, "[{}] step must be positive (0 means clean), got {}", kOp, step);
  for (const Tensor* t : {&loss, &grad_norm})
    COIL_CHECK(t->defined() && t->numel() == 1 && t->is_contiguous() &&
                   (t->dtype() == DType::f32 || t->dtype() == DType::f64) &&
                   t->device() == flag.device(),
               "[{}] loss and grad norm must be one f32/f64 value on {}, got {}", kOp,
               flag.device().str(), t->defined() ? describe(*t) : "undefined");
  COIL_CHECK(
      !first_param.defined() || (first_param.dtype() == DType::i64 && first_param.numel() == 1 &&
                                 first_param.device() == flag.device()),
      "[{}] first_param must be one i64 on {}, got {}", kOp, flag.device().str(),
      describe(first_param));
  COIL_DEVICE_CALL(kOp, flag.device(), optim_record_nonfinite, flag.device(), flag, loss, grad_norm,
                   first_param, step);
}

NonfiniteRecord decode_nonfinite(const int64_t* v) {
  return {v[kFlagStep], v[kFlagLoss] != 0, v[kFlagGrad] != 0, v[kFlagParam]};
}

}  // namespace coil::optim
