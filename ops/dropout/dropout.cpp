// Front end of dropout, built from core ops (so it runs on every device): the mask is drawn
// once, applied by a broadcasting multiply, and saved for the backward (the input is not).
#include "ops/dropout/dropout.h"

#include "autograd/autograd.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/random.h"

namespace coil {

Tensor dropout(const Tensor& x, double p, bool training, std::optional<int64_t> tie_dim) {
  COIL_CHECK(x.defined(), "[dropout] got an undefined tensor");
  COIL_CHECK(p >= 0 && p <= 1, "[dropout] p must lie in [0, 1], got {} for input {}", p,
             shape_str(x.shape()));
  COIL_CHECK(is_floating(x.dtype()), "[dropout] input must be floating, got {}", describe(x));
  Shape mask_shape = x.shape();
  if (tie_dim) mask_shape[size_t(normalize_dim(*tie_dim, x.shape(), "dropout"))] = 1;
  if (!training || p == 0) return x;
  // Uniforms are drawn in f32 whatever x's dtype: the mask depends only on (seed, offset, shape).
  Tensor u = rand(mask_shape, {DType::f32, x.device()});
  Tensor keep = core::binary(BinaryOp::ge, u, full({}, p, {DType::f32, x.device()}));
  Tensor scale = full({}, p < 1 ? 1 / (1 - p) : 0.0, x.options());
  Tensor mask = core::where(keep, scale, zeros({}, x.options()));
  Tensor out = core::binary(BinaryOp::mul, x, mask);
  if (needs_grad({x})) {
    record("dropout", {x}, {out}, [mask](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{core::binary(BinaryOp::mul, g[0], mask)};
    });
  }
  return out;
}

}  // namespace coil
