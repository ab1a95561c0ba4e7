// Front end of glu, built from core ops on narrow views (no copies of the halves), so it runs on
// every device. The backward writes both halves of dx into one fresh tensor.
#include "ops/glu/glu.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/views.h"

namespace coil {

Tensor glu(const Tensor& x, int64_t dim) {
  COIL_CHECK(x.defined(), "[glu] got an undefined tensor");
  COIL_CHECK(is_floating(x.dtype()), "[glu] input must be floating, got {}", describe(x));
  const int64_t d = normalize_dim(dim, x.shape(), "glu");
  const int64_t n = x.size(d);
  COIL_CHECK(n % 2 == 0, "[glu] dimension {} of input {} has odd size {}: it must split in halves",
             dim, shape_str(x.shape()), n);
  const int64_t h = n / 2;
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
