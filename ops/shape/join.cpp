// cat, stack and pad: one allocation for the output, each input copied into its slice with
// core::copy_ (either device); the backward hands each input the matching slice of the gradient.
#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/views.h"
#include "ops/shape/shape.h"

namespace coil {
namespace {

std::string shapes_str(const std::vector<Tensor>& ts) {
  std::string s;
  for (const Tensor& t : ts) {
    if (!s.empty()) s += ", ";
    s += t.defined() ? shape_str(t.shape()) : "undefined";
  }
  return s;
}

// Checks what cat and stack share: a non-empty list of defined tensors of one dtype, device and
// rank. Shapes are compared by the caller (cat lets `dim` differ, stack does not).
void check_joinable(const std::vector<Tensor>& ts, const char* op) {
  COIL_CHECK(!ts.empty(), "[{}] expects a non-empty list of tensors", op);
  for (size_t i = 0; i < ts.size(); ++i)
    COIL_CHECK(ts[i].defined(), "[{}] tensor {} is undefined: shapes {}", op, i, shapes_str(ts));
  const Tensor& first = ts[0];
  for (size_t i = 1; i < ts.size(); ++i) {
    COIL_CHECK(ts[i].dtype() == first.dtype() && ts[i].device() == first.device(),
               "[{}] tensor {} is {}, tensor 0 is {}: all must share dtype and device", op, i,
               describe(ts[i]), describe(first));
    COIL_CHECK(ts[i].dim() == first.dim(), "[{}] tensors differ in rank: shapes {}", op,
               shapes_str(ts));
  }
}

// The gradient of each input is the view `part(g, i)` of the output's gradient.
template <class Part>
void record_join(const char* op, const std::vector<Tensor>& ts, const Tensor& out, Part part) {
  if (!needs_grad(ts)) return;
  record(op, ts, {out}, [part](const std::vector<Tensor>& g, const std::vector<bool>& needs) {
    std::vector<Tensor> grads(needs.size());
    for (size_t i = 0; i < needs.size(); ++i)
      if (needs[i]) grads[i] = part(g[0], i);
    return grads;
  });
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  check_joinable(tensors, "cat");
  const Tensor& first = tensors[0];
  COIL_CHECK(first.dim() > 0, "[cat] cannot concatenate scalars: shapes {}", shapes_str(tensors));
  dim = normalize_dim(dim, first.shape(), "cat");
  Shape shape = first.shape();
  std::vector<int64_t> starts(tensors.size());
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    Shape s = tensors[i].shape();
    s[size_t(dim)] = shape[size_t(dim)];
    COIL_CHECK(s == shape, "[cat] shapes {} differ outside dimension {}", shapes_str(tensors), dim);
    starts[i] = total;
    total += tensors[i].size(dim);
  }
  shape[size_t(dim)] = total;
  Tensor out = empty(shape, first.options());
  for (size_t i = 0; i < tensors.size(); ++i)
    core::copy_(core::narrow(out, dim, starts[i], tensors[i].size(dim)), tensors[i]);

  std::vector<int64_t> sizes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) sizes[i] = tensors[i].size(dim);
  record_join("cat", tensors, out, [dim, starts, sizes](const Tensor& g, size_t i) {
    return core::narrow(g, dim, starts[i], sizes[i]);
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  check_joinable(tensors, "stack");
  const Tensor& first = tensors[0];
  for (const Tensor& t : tensors)
    COIL_CHECK(t.shape() == first.shape(), "[stack] tensors must share one shape, got {}",
               shapes_str(tensors));
  COIL_CHECK(dim >= -first.dim() - 1 && dim <= first.dim(),
             "[stack] dimension {} is out of range [{}, {}] for shapes {}", dim, -first.dim() - 1,
             first.dim(), shapes_str(tensors));
  if (dim < 0) dim += first.dim() + 1;
  Shape shape = first.shape();
  shape.insert(shape.begin() + dim, int64_t(tensors.size()));
  Tensor out = empty(shape, first.options());
  for (size_t i = 0; i < tensors.size(); ++i)
    core::copy_(core::select(out, dim, int64_t(i)), tensors[i]);
  record_join("stack", tensors, out,
              [dim](const Tensor& g, size_t i) { return core::select(g, dim, int64_t(i)); });
  return out;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  COIL_CHECK(x.defined(), "[pad] undefined input tensor");
  COIL_CHECK(pads.size() % 2 == 0 && pads.size() <= 2 * size_t(x.dim()),
             "[pad] pads {} must have an even length of at most 2 * rank = {} for shape {}",
             shape_str(pads), 2 * x.dim(), shape_str(x.shape()));
  for (int64_t p : pads)
    COIL_CHECK(p >= 0, "[pad] negative pads (cropping) are not supported: pads {} for shape {}",
               shape_str(pads), shape_str(x.shape()));
  // pads[2k], pads[2k+1] apply to dim rank-1-k. `interior` maps a tensor of the output's shape
  // to the block that holds x.
  Shape shape = x.shape();
  for (size_t k = 0; k < pads.size() / 2; ++k)
    shape[size_t(x.dim()) - 1 - k] += pads[2 * k] + pads[2 * k + 1];
  auto interior = [pads, in_shape = x.shape()](const Tensor& t) {
    Tensor v = t;
    for (size_t k = 0; k < pads.size() / 2; ++k) {
      int64_t d = int64_t(in_shape.size()) - 1 - int64_t(k);
      v = core::narrow(v, d, pads[2 * k], in_shape[size_t(d)]);
    }
    return v;
  };
  Tensor out = full(shape, value, x.options());
  core::copy_(interior(out), x);
  if (needs_grad({x})) {
    record("pad", {x}, {out}, [interior](const std::vector<Tensor>& g, const std::vector<bool>&) {
      return std::vector<Tensor>{interior(g[0])};
    });
  }
  return out;
}

}  // namespace coil
