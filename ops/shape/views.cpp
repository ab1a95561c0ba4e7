// Front ends of the view ops and value-preserving copies: the forward is core's view (storage
// shared), the backward maps the gradient back onto the base's shape, device and dtype.
#include "core/views.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "ops/common/grad_utils.h"
#include "ops/shape/shape.h"

namespace coil {
namespace {

void check_defined(const Tensor& x, const char* op) {
  COIL_CHECK(x.defined(), "[{}] undefined input tensor", op);
}

// Records `out = op(x)` with a one-input backward g -> bw(g). core:: returns x itself for no-op
// views (squeeze of a non-1 dim, contiguous of a contiguous tensor, to() the same place), so the
// output is re-wrapped in a fresh handle on the same storage: it must carry its own history.
template <class Backward>
Tensor record_unary(const char* op, const Tensor& x, Tensor out, Backward bw) {
  if (out.is_same(x)) out = make_view(x, x.shape(), x.strides(), x.offset());
  if (needs_grad({x})) {
    record(op, {x}, {out}, [bw](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{bw(g[0])};
    });
  }
  return out;
}

// Ops that keep the row-major order of elements: the gradient is g read in x's shape.
Tensor reshaped_view(const char* op, const Tensor& x, Tensor out) {
  return record_unary(op, x, std::move(out),
                      [shape = x.shape()](const Tensor& g) { return core::reshape(g, shape); });
}

}  // namespace

Tensor reshape(const Tensor& x, Shape shape) {
  check_defined(x, "reshape");
  return reshaped_view("reshape", x, core::reshape(x, std::move(shape)));
}

Tensor view(const Tensor& x, Shape shape) {
  check_defined(x, "view");
  return reshaped_view("view", x, core::view(x, std::move(shape)));
}

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  check_defined(x, "flatten");
  return reshaped_view("flatten", x, core::flatten(x, start, end));
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  check_defined(x, "unsqueeze");
  return reshaped_view("unsqueeze", x, core::unsqueeze(x, dim));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  check_defined(x, "squeeze");
  // core::squeeze accepts any dim of a scalar; like PyTorch, only 0 and -1 name its one "dim".
  if (x.dim() == 0) normalize_dim(dim, int64_t(0), "squeeze");
  return reshaped_view("squeeze", x, core::squeeze(x, dim));
}

Tensor squeeze(const Tensor& x) {
  check_defined(x, "squeeze");
  return reshaped_view("squeeze", x, core::squeeze(x));
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  check_defined(x, "permute");
  Tensor out = core::permute(x, dims);
  // Output dim i is input dim dims[i], so input dim dims[i] is gradient dim i.
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inverse[size_t(normalize_dim(dims[i], x.shape(), "permute"))] = int64_t(i);
  return record_unary("permute", x, out,
                      [inverse](const Tensor& g) { return core::permute(g, inverse); });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  check_defined(x, "transpose");
  return record_unary("transpose", x, core::transpose(x, d0, d1),
                      [d0, d1](const Tensor& g) { return core::transpose(g, d0, d1); });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand");
  return record_unary(
      "expand", x, core::expand(x, shape),
      [shape = x.shape(), dt = x.dtype()](const Tensor& g) { return ops::sum_to(g, shape, dt); });
}

// slice, narrow and select: the gradient is zero outside the view, g inside it. `same_view`
// maps a tensor of x's shape to the view the forward took.
template <class SameView>
Tensor sub_view(const char* op, const Tensor& x, SameView same_view) {
  return record_unary(op, x, same_view(x), [shape = x.shape(), same_view](const Tensor& g) {
    Tensor dx = zeros(shape, g.options());
    core::copy_(same_view(dx), g);
    return dx;
  });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check_defined(x, "slice");
  return sub_view("slice", x,
                  [=](const Tensor& t) { return core::slice(t, dim, start, end, step); });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  check_defined(x, "narrow");
  return sub_view("narrow", x,
                  [=](const Tensor& t) { return core::narrow(t, dim, start, length); });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check_defined(x, "select");
  return sub_view("select", x, [=](const Tensor& t) { return core::select(t, dim, index); });
}

Tensor contiguous(const Tensor& x) {
  check_defined(x, "contiguous");
  return record_unary("contiguous", x, core::contiguous(x), [](const Tensor& g) { return g; });
}

Tensor to(const Tensor& x, Device device) {
  check_defined(x, "to");
  return record_unary("to", x, core::to(x, device),
                      [from = x.device()](const Tensor& g) { return core::to(g, from); });
}

Tensor to(const Tensor& x, DType dtype) {
  check_defined(x, "to");
  return record_unary("to", x, core::to(x, dtype),
                      [from = x.dtype()](const Tensor& g) { return core::to(g, from); });
}

}  // namespace coil
