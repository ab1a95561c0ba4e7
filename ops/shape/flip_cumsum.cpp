// Front ends of flip and cumsum: validate, lay the data out for the kernels (ops/shape/
// kernels.h), dispatch by device and record the backward (flip of the gradient; a reverse
// cumsum of the gradient).
#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/kernels.h"
#include "ops/shape/kernels.h"
#include "ops/shape/shape.h"

namespace coil {
namespace {

Tensor flip_raw(const Tensor& x, uint32_t mask) {
  Tensor out = empty(x.shape(), x.options());
  if (out.numel() > 0) COIL_DEVICE_CALL("flip", x.device(), flip, out, x, mask);
  return out;
}

Tensor cumsum_raw(const Tensor& x, int64_t dim, bool reverse) {
  Tensor in = core::contiguous(x);
  Tensor out = empty(x.shape(), x.options());
  if (out.numel() == 0) return out;
  int64_t outer = 1, inner = 1, len = x.dim() == 0 ? 1 : x.size(dim);
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < dim) outer *= x.size(d);
    if (d > dim) inner *= x.size(d);
  }
  COIL_DEVICE_CALL("cumsum", x.device(), cumsum, out, in, outer, len, inner, reverse);
  return out;
}

}  // namespace

Tensor flip(const Tensor& x, const std::vector<int64_t>& dims) {
  COIL_CHECK(x.defined(), "[flip] undefined input tensor");
  COIL_CHECK(x.dim() <= kMaxDims, "[flip] rank {} exceeds the supported {} dims: shape {}", x.dim(),
             kMaxDims, shape_str(x.shape()));
  uint32_t mask = 0;
  for (int64_t d : dims) {
    int64_t n = normalize_dim(d, x.shape(), "flip");
    COIL_CHECK(!((mask >> n) & 1u), "[flip] dimension {} appears more than once in {} for shape {}",
               n, shape_str(dims), shape_str(x.shape()));
    mask |= 1u << n;
  }
  Tensor out = flip_raw(x, mask);
  if (needs_grad({x})) {
    record("flip", {x}, {out}, [mask](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{flip_raw(g[0], mask)};
    });
  }
  return out;
}

Tensor cumsum(const Tensor& x, int64_t dim) {
  COIL_CHECK(x.defined(), "[cumsum] undefined input tensor");
  // A scalar is one line of one element (dim 0 or -1, as in PyTorch).
  dim = x.dim() == 0 ? normalize_dim(dim, int64_t(0), "cumsum")
                     : normalize_dim(dim, x.shape(), "cumsum");
  DType dt = x.dtype();
  COIL_CHECK(is_floating(dt) || dt == DType::i32 || dt == DType::i64,
             "[cumsum] dtype {} is not supported (f32, f64, bf16, i32, i64): {}", dtype_name(dt),
             describe(x));
  Tensor out = cumsum_raw(x, dim, false);
  if (needs_grad({x})) {
    record("cumsum", {x}, {out}, [dim](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{cumsum_raw(g[0], dim, true)};
    });
  }
  return out;
}

}  // namespace coil
