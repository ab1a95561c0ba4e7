// Front ends of glu and bias_glu: on the CPU (f32, f64) one fused kernel each way
// (ops/glu/kernels.h); on other devices and dtypes core ops (glu_core).
#include "ops/glu/glu.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/reduce.h"
#include "core/views.h"
#include "ops/glu/kernels.h"

namespace coil {
namespace {

// The fused CPU kernels (ops/glu/kernels.h) on x made contiguous: (outer, 2, h * inner). bias
// (undefined, or (2h) with inner = 1) is added to x first.
Tensor glu_cpu(const char* name, const Tensor& x, const Tensor& bias, int64_t d, int64_t h) {
  Tensor xc = core::contiguous(x);
  Tensor bc = bias.defined() ? core::contiguous(bias) : Tensor();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.size(i);
    if (i > d) inner *= x.size(i);
  }
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = h;
  Tensor out = empty(out_shape, x.options());
  cpu::glu_forward(out, xc, bc, outer, h * inner);
  std::vector<Tensor> inputs = {x};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    record(name, inputs, {out},
           [xc = detach(xc), bc = bc.defined() ? detach(bc) : Tensor(), outer, half = h * inner](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor dx = empty(xc.shape(), xc.options());
             Tensor db = needs.size() > 1 && needs[1] ? empty(bc.shape(), bc.options()) : Tensor();
             cpu::glu_backward(dx, db, core::contiguous(g[0]), xc, bc, outer, half);
             std::vector<Tensor> grads = {dx};
             if (needs.size() > 1) grads.push_back(db);
             return grads;
           });
  }
  return out;
}

// Other devices and dtypes: core ops on narrow views of x (+ bias, broadcast over the leading
// dims; inner = 1 then), no copies of the halves; the backward writes both halves of dx into one
// fresh tensor and sums it over the leading dims for the bias.
Tensor glu_core(const char* name, const Tensor& x, const Tensor& bias, int64_t d, int64_t h) {
  const Tensor xb = bias.defined() ? core::binary(BinaryOp::add, x, bias) : x;
  Tensor a = core::narrow(xb, d, 0, h), b = core::narrow(xb, d, h, h);
  Tensor gate = core::unary(UnaryOp::sigmoid, b);
  Tensor out = core::binary(BinaryOp::mul, a, gate);
  std::vector<Tensor> inputs = {x};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    record(name, inputs, {out},
           [xb = detach(xb), d, h, gate](const std::vector<Tensor>& g,
                                         const std::vector<bool>& needs) {
             // d out / d a = sigmoid(b); d out / d b = a * sigmoid'(b).
             Tensor a = core::narrow(xb, d, 0, h), b = core::narrow(xb, d, h, h);
             Tensor dx = empty(xb.shape(), g[0].options());
             core::copy_(core::narrow(dx, d, 0, h), core::binary(BinaryOp::mul, g[0], gate));
             Tensor ga = core::binary(BinaryOp::mul, g[0], a);
             core::copy_(core::narrow(dx, d, h, h), core::unary_backward(UnaryOp::sigmoid, b, ga));
             std::vector<Tensor> grads = {dx};
             if (needs.size() > 1) {
               std::vector<int64_t> lead(size_t(dx.dim() - 1));
               for (size_t i = 0; i < lead.size(); ++i) lead[i] = int64_t(i);
               grads.push_back(!needs[1] ? Tensor() : lead.empty() ? dx : core::sum(dx, lead));
             }
             return grads;
           });
  }
  return out;
}

}  // namespace

Tensor glu(const Tensor& x, int64_t dim) {
  COIL_CHECK(x.defined(), "[glu] got an undefined tensor");
  COIL_CHECK(is_floating(x.dtype()), "[glu] input must be floating, got {}", describe(x));
  const int64_t d = normalize_dim(dim, x.shape(), "glu");
  const int64_t n = x.size(d);
  COIL_CHECK(n % 2 == 0, "[glu] dimension {} of input {} has odd size {}: it must split in halves",
             dim, shape_str(x.shape()), n);
  const int64_t h = n / 2;
  if (x.device().is_cpu() && (x.dtype() == DType::f32 || x.dtype() == DType::f64))
    return glu_cpu("glu", x, Tensor(), d, h);
  return glu_core("glu", x, Tensor(), d, h);
}

Tensor bias_glu(const Tensor& x, const Tensor& bias) {
  COIL_CHECK(x.defined() && bias.defined(), "[bias_glu] got an undefined tensor");
  core::check_same_device("bias_glu", {&x, &bias});
  COIL_CHECK(is_floating(x.dtype()) && bias.dtype() == x.dtype(),
             "[bias_glu] x and bias need one floating dtype, got x {}, bias {}", describe(x),
             describe(bias));
  COIL_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0 && bias.dim() == 1 && bias.size(0) == x.size(-1),
             "[bias_glu] expected x (..., 2H) and bias (2H), got x {} and bias {}",
             shape_str(x.shape()), shape_str(bias.shape()));
  const int64_t d = x.dim() - 1, h = x.size(-1) / 2;
  if (x.device().is_cpu() && (x.dtype() == DType::f32 || x.dtype() == DType::f64))
    return glu_cpu("bias_glu", x, bias, d, h);
  return glu_core("bias_glu", x, bias, d, h);
}

}  // namespace coil
