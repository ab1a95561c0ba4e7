// Front end of glu: on the CPU (f32, f64) one fused kernel each way (ops/glu/kernels.h); on other
// devices and dtypes core ops on narrow views (no copies of the halves), whose backward writes
// both halves of dx into one fresh tensor.
#include "ops/glu/glu.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/views.h"
#include "ops/glu/kernels.h"

namespace coil {
namespace {

// The fused CPU kernels (ops/glu/kernels.h) on x made contiguous: (outer, 2, h * inner).
Tensor glu_cpu(const Tensor& x, int64_t d, int64_t h) {
  Tensor xc = core::contiguous(x);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.size(i);
    if (i > d) inner *= x.size(i);
  }
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = h;
  Tensor out = empty(out_shape, x.options());
  cpu::glu_forward(out, xc, outer, h * inner);
  if (needs_grad({x})) {
    record("glu", {x}, {out},
           [xc = detach(xc), outer, half = h * inner](const std::vector<Tensor>& g,
                                                      const std::vector<bool>&) {
             Tensor dx = empty(xc.shape(), xc.options());
             cpu::glu_backward(dx, core::contiguous(g[0]), xc, outer, half);
             return std::vector<Tensor>{dx};
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
    return glu_cpu(x, d, h);
  Tensor a = core::narrow(x, d, 0, h), b = core::narrow(x, d, h, h);
  Tensor gate = core::unary(UnaryOp::sigmoid, b);
  Tensor out = core::binary(BinaryOp::mul, a, gate);
  if (needs_grad({x})) {
    record("glu", {x}, {out},
           [x = detach(x), d, h, gate](const std::vector<Tensor>& g, const std::vector<bool>&) {
             // d out / d a = sigmoid(b); d out / d b = a * sigmoid'(b).
             Tensor a = core::narrow(x, d, 0, h), b = core::narrow(x, d, h, h);
             Tensor dx = empty(x.shape(), g[0].options());
             core::copy_(core::narrow(dx, d, 0, h), core::binary(BinaryOp::mul, g[0], gate));
             Tensor ga = core::binary(BinaryOp::mul, g[0], a);
             core::copy_(core::narrow(dx, d, h, h), core::unary_backward(UnaryOp::sigmoid, b, ga));
             return std::vector<Tensor>{dx};
           });
  }
  return out;
}

}  // namespace coil
