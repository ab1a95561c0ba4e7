// Front end of the causal depthwise conv: validation, the device call, and the recorded backward
// (one fused backward call for dx, dweight and dbias); and the recurrent step.
#include "ops/conv1d/conv1d.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/conv1d/kernels.h"

namespace coil {
namespace {

void check_inputs(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& reset) {
  COIL_CHECK(x.defined() && weight.defined(), "[conv1d_causal] got an undefined x or weight");
  auto shapes = [&] {
    return fmt::format("x {}, weight {}, bias {}, reset {}", shape_str(x.shape()),
                       shape_str(weight.shape()), bias.defined() ? shape_str(bias.shape()) : "none",
                       reset.defined() ? describe(reset) : "none");
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
  if (reset.defined()) {
    COIL_CHECK(reset.dim() == 2 && reset.size(0) == x.size(0) && reset.size(1) == x.size(1),
               "[conv1d_causal] reset must be (B, L): {}", shapes());
    COIL_CHECK(reset.dtype() == DType::boolean, "[conv1d_causal] reset must be bool: {}", shapes());
    core::check_same_device("conv1d_causal", {&x, &reset});
  }
  COIL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
             "[conv1d_causal] x must be f32 or f64, got {}", describe(x));
  COIL_CHECK(weight.dtype() == x.dtype(), "[conv1d_causal] weight is {}, x is {}", describe(weight),
             describe(x));
  core::check_same_device("conv1d_causal", {&x, &weight});
}

}  // namespace

Tensor conv1d_causal(const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const Tensor& reset) {
  check_inputs(x, weight, bias, reset);
  Tensor xc = core::contiguous(x), wc = core::contiguous(weight);
  Tensor bc = bias.defined() ? core::contiguous(bias) : Tensor();
  Tensor rc = reset.defined() ? core::contiguous(reset) : Tensor();
  Tensor out = empty(x.shape(), x.options());
  COIL_DEVICE_CALL("conv1d_causal", x.device(), conv1d_causal_forward, out, xc, wc, bc, rc);
  if (needs_grad({x, weight, bias})) {
    record("conv1d_causal", {x, weight, bias}, {out},
           [xc = detach(xc), wc = detach(wc), rc](const std::vector<Tensor>& g,
                                                  const std::vector<bool>& needs) {
             const int64_t C = wc.size(0), K = wc.size(1);
             Tensor dx = needs[0] ? empty(xc.shape(), g[0].options()) : Tensor();
             Tensor dw = needs[1] ? empty({C, K}, g[0].options()) : Tensor();
             Tensor db = needs[2] ? empty({C}, g[0].options()) : Tensor();
             Tensor gc = core::contiguous(g[0]);
             COIL_DEVICE_CALL("conv1d_causal", gc.device(), conv1d_causal_backward, dx, dw, db, gc,
                              xc, wc, rc);
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return out;
}

Tensor conv1d_causal_step(const Tensor& conv_state, const Tensor& x_t, const Tensor& weight,
                          const Tensor& bias) {
  constexpr const char* kName = "conv1d_causal_step";
  COIL_CHECK(conv_state.defined() && x_t.defined() && weight.defined(),
             "[{}] conv_state, x_t and weight are required", kName);
  auto shapes = [&] {
    return fmt::format("conv_state {}, x_t {}, weight {}, bias {}", describe(conv_state),
                       describe(x_t), describe(weight), bias.defined() ? describe(bias) : "none");
  };
  COIL_CHECK(conv_state.dim() == 3 && conv_state.size(2) >= 1,
             "[{}] conv_state must be (B, C, K): {}", kName, shapes());
  const int64_t B = conv_state.size(0), C = conv_state.size(1), K = conv_state.size(2);
  COIL_CHECK(x_t.shape() == Shape({B, C}), "[{}] x_t must be (B, C): {}", kName, shapes());
  COIL_CHECK(weight.shape() == Shape({C, K}), "[{}] weight must be (C, K): {}", kName, shapes());
  COIL_CHECK(!bias.defined() || bias.shape() == Shape({C}), "[{}] bias must be (C): {}", kName,
             shapes());
  COIL_CHECK(x_t.dtype() == DType::f32 || x_t.dtype() == DType::f64,
             "[{}] x_t must be f32 or f64: {}", kName, shapes());
  for (const Tensor* t : {&conv_state, &weight, &bias})
    COIL_CHECK(!t->defined() || t->dtype() == x_t.dtype(), "[{}] dtypes differ: {}", kName,
               shapes());
  core::check_same_device(kName, {&conv_state, &x_t, &weight});
  if (bias.defined()) core::check_same_device(kName, {&conv_state, &bias});
  COIL_CHECK(conv_state.is_contiguous(),
             "[{}] conv_state is updated in place and must be contiguous: {}", kName, shapes());
  Tensor y = empty({B, C}, x_t.options());
  COIL_DEVICE_CALL(kName, x_t.device(), conv1d_causal_step, y, conv_state, core::contiguous(x_t),
                   core::contiguous(weight), bias.defined() ? core::contiguous(bias) : Tensor());
  return y;
}

}  // namespace coil
