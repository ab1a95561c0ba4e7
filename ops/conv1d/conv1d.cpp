// Front end of the causal depthwise conv: validation, the device call, and the recorded backward
// (one fused backward call for dx, dweight and dbias).
#include "ops/conv1d/conv1d.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/conv1d/kernels.h"

namespace coil {
namespace {

void check_inputs(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  COIL_CHECK(x.defined() && weight.defined(), "[conv1d_causal] got an undefined x or weight");
  auto shapes = [&] {
    return fmt::format("x {}, weight {}, bias {}", shape_str(x.shape()), shape_str(weight.shape()),
                       bias.defined() ? shape_str(bias.shape()) : "none");
  };
  COIL_CHECK(x.dim() == 3, "[conv1d_causal] x must be (B, L, C): {}", shapes());
  COIL_CHECK(weight.dim() == 2, "[conv1d_causal] weight must be (C, K): {}", shapes());
  COIL_CHECK(weight.size(0) == x.size(2), "[conv1d_causal] channel mismatch: {}", shapes());
  COIL_CHECK(weight.size(1) >= 1, "[conv1d_causal] kernel size must be at least 1: {}", shapes());
  if (bias.defined()) {
    COIL_CHECK(bias.dim() == 1 && bias.size(0) == x.size(2), "[conv1d_causal] bias must be (C): {}",
               shapes());
    COIL_CHECK(bias.dtype() == x.dtype(), "[conv1d_causal] bias is {}, x is {}", describe(bias),
               describe(x));
    core::check_same_device("conv1d_causal", {&x, &bias});
  }
  COIL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
             "[conv1d_causal] x must be f32 or f64, got {}", describe(x));
  COIL_CHECK(weight.dtype() == x.dtype(), "[conv1d_causal] weight is {}, x is {}", describe(weight),
             describe(x));
  core::check_same_device("conv1d_causal", {&x, &weight});
}

}  // namespace

Tensor conv1d_causal(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_inputs(x, weight, bias);
  Tensor xc = core::contiguous(x), wc = core::contiguous(weight);
  Tensor bc = bias.defined() ? core::contiguous(bias) : Tensor();
  Tensor out = empty(x.shape(), x.options());
  COIL_DEVICE_CALL("conv1d_causal", x.device(), conv1d_causal_forward, out, xc, wc, bc);
  if (needs_grad({x, weight, bias})) {
    record("conv1d_causal", {x, weight, bias}, {out},
           [xc = detach(xc), wc = detach(wc)](const std::vector<Tensor>& g,
                                              const std::vector<bool>& needs) {
             const int64_t C = wc.size(0), K = wc.size(1);
             Tensor dx = needs[0] ? empty(xc.shape(), g[0].options()) : Tensor();
             Tensor dw = needs[1] ? empty({C, K}, g[0].options()) : Tensor();
             Tensor db = needs[2] ? empty({C}, g[0].options()) : Tensor();
             Tensor gc = core::contiguous(g[0]);
             COIL_DEVICE_CALL("conv1d_causal", gc.device(), conv1d_causal_backward, dx, dw, db, gc,
                              xc, wc);
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return out;
}

}  // namespace coil
