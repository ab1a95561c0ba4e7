// Front end of the FFT convolution: validation, the device call, and the recorded backward (one
// fused backward call for du, dk and dD).
#include "ops/fft_conv/fft_conv.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "ops/fft_conv/kernels.h"

namespace coil {
namespace {

void check_inputs(const Tensor& u, const Tensor& k, const Tensor& D, bool bidirectional) {
  COIL_CHECK(u.defined() && k.defined(), "[fft_conv] got an undefined u or k");
  auto shapes = [&] {
    return fmt::format("u {}, k {}, D {} ({})", shape_str(u.shape()), shape_str(k.shape()),
                       D.defined() ? shape_str(D.shape()) : "none",
                       bidirectional ? "bidirectional" : "causal");
  };
  COIL_CHECK(u.dim() == 3, "[fft_conv] u must be (B, L, H): {}", shapes());
  COIL_CHECK(k.dim() == 3, "[fft_conv] k must be (C, H, Lk): {}", shapes());
  COIL_CHECK(u.numel() > 0, "[fft_conv] u has a zero-sized dimension (L = 0?): {}", shapes());
  COIL_CHECK(k.size(0) == (bidirectional ? 2 : 1),
             "[fft_conv] k must have C = {} kernels for a {} convolution: {}",
             bidirectional ? 2 : 1, bidirectional ? "bidirectional" : "causal", shapes());
  COIL_CHECK(k.size(1) == u.size(2), "[fft_conv] channel mismatch (k's H vs u's H): {}", shapes());
  COIL_CHECK(k.size(2) >= 1, "[fft_conv] kernel length must be at least 1: {}", shapes());
  COIL_CHECK(k.size(2) <= u.size(1), "[fft_conv] kernel longer than the sequence: {}", shapes());
  COIL_CHECK(u.dtype() == DType::f32 || u.dtype() == DType::f64,
             "[fft_conv] u must be f32 or f64, got {}", describe(u));
  COIL_CHECK(k.dtype() == u.dtype(), "[fft_conv] k is {}, u is {}", describe(k), describe(u));
  core::check_same_device("fft_conv", {&u, &k});
  if (D.defined()) {
    COIL_CHECK(D.dim() == 1 && D.size(0) == u.size(2), "[fft_conv] D must be (H): {}", shapes());
    COIL_CHECK(D.dtype() == u.dtype(), "[fft_conv] D is {}, u is {}", describe(D), describe(u));
    core::check_same_device("fft_conv", {&u, &D});
  }
}

}  // namespace

Tensor fft_conv(const Tensor& u, const Tensor& k, const Tensor& D, bool bidirectional) {
  check_inputs(u, k, D, bidirectional);
  Tensor uc = core::contiguous(u), kc = core::contiguous(k);
  Tensor Dc = D.defined() ? core::contiguous(D) : Tensor();
  Tensor y = empty(u.shape(), u.options());
  COIL_DEVICE_CALL("fft_conv", u.device(), fft_conv_forward, y, uc, kc, Dc);
  if (needs_grad({u, k, D})) {
    record("fft_conv", {u, k, D}, {y},
           [uc = detach(uc), kc = detach(kc), Dc = D.defined() ? detach(Dc) : Tensor()](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor du = needs[0] ? empty(uc.shape(), g[0].options()) : Tensor();
             Tensor dk = needs[1] ? empty(kc.shape(), g[0].options()) : Tensor();
             Tensor dD = needs[2] && Dc.defined() ? empty(Dc.shape(), g[0].options()) : Tensor();
             Tensor gc = core::contiguous(g[0]);
             COIL_DEVICE_CALL("fft_conv", gc.device(), fft_conv_backward, du, dk, dD, gc, uc, kc,
                              Dc);
             return std::vector<Tensor>{du, dk, dD};
           });
  }
  return y;
}

}  // namespace coil
