// Reduction front end: bring the reduced dims together as one middle axis of an
// (outer, r, inner) block (a permuted copy only when they are not already adjacent), then run
// the backend's single reduction kernel.
#include "core/reduce.h"

#include <algorithm>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/views.h"

namespace coil::core {

std::vector<int64_t> reduction_dims(const Tensor& t, std::vector<int64_t> dims, const char* op) {
  if (dims.empty()) {
    for (int64_t d = 0; d < t.dim(); ++d) dims.push_back(d);
    return dims;
  }
  if (t.dim() == 0) {  // as in PyTorch, a scalar "reduces" over dim 0 or -1 to itself
    for (int64_t d : dims)
      COIL_CHECK(d == 0 || d == -1, "[{}] dimension {} is out of range for shape ()", op, d);
    return {};
  }
  for (auto& d : dims) d = normalize_dim(d, t.shape(), op);
  std::sort(dims.begin(), dims.end());
  COIL_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(),
             "[{}] repeated dimension in {} for shape {}", op, shape_str(dims),
             shape_str(t.shape()));
  return dims;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    bool reduced = std::find(dims.begin(), dims.end(), d) != dims.end();
    if (!reduced) out.push_back(s[size_t(d)]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

static Tensor run_reduce(ReduceOp op, const char* name, const Tensor& t, std::vector<int64_t> dims,
                         bool keepdim, DType out_dtype) {
  check_same_device(name, {&t});
  COIL_CHECK(op == ReduceOp::sum || t.dtype() != DType::boolean,
             "[{}] dtype bool is not supported: {}", name, describe(t));
  dims = reduction_dims(t, std::move(dims), name);
  Shape out_shape = reduced_shape(t.shape(), dims, keepdim);
  int64_t r = 1;
  for (int64_t d : dims) r *= t.shape()[size_t(d)];
  COIL_CHECK(r > 0 || op == ReduceOp::sum, "[{}] cannot reduce an empty dimension of shape {}",
             name, shape_str(t.shape()));
  Tensor out = empty(out_shape, {out_dtype, t.device()});
  if (out.numel() == 0) return out;
  if (r == 0) {
    fill_(out, 0.0);
    return out;
  }
  // Adjacent reduced dims in a contiguous tensor reduce in place; otherwise move them last.
  bool adjacent = dims.empty() || dims.back() - dims.front() + 1 == int64_t(dims.size());
  Tensor src = t;
  int64_t outer = 1, inner = 1;
  if (adjacent && t.is_contiguous()) {
    for (int64_t d = 0; d < (dims.empty() ? 0 : dims.front()); ++d) outer *= t.shape()[size_t(d)];
    for (int64_t d = dims.empty() ? 0 : dims.back() + 1; d < t.dim(); ++d)
      inner *= t.shape()[size_t(d)];
  } else {
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < t.dim(); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) perm.push_back(d);
    perm.insert(perm.end(), dims.begin(), dims.end());
    src = contiguous(permute(t, perm));
    outer = out.numel();
  }
  // The kernel reduces in the input's dtype; integer sums are widened first.
  if (op == ReduceOp::sum && src.dtype() != out_dtype) src = to(src, out_dtype);
  COIL_DEVICE_CALL(name, t.device(), reduce, op, out, src, outer, r, inner);
  return out;
}

Tensor sum(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  DType dt = is_floating(t.dtype()) ? t.dtype() : DType::i64;
  return run_reduce(ReduceOp::sum, "sum", t, std::move(dims), keepdim, dt);
}

Tensor mean(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  COIL_CHECK(is_floating(t.dtype()), "[mean] needs a floating dtype, got {}", describe(t));
  auto rd = reduction_dims(t, dims, "mean");
  int64_t r = 1;
  for (int64_t d : rd) r *= t.shape()[size_t(d)];
  Tensor s = sum(t, std::move(dims), keepdim);
  return unary(UnaryOp::mul_scalar, s, {r > 0 ? 1.0 / double(r) : NAN});
}

Tensor amax(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  return run_reduce(ReduceOp::max, "amax", t, std::move(dims), keepdim, t.dtype());
}
Tensor amin(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  return run_reduce(ReduceOp::min, "amin", t, std::move(dims), keepdim, t.dtype());
}
Tensor argmax(const Tensor& t, int64_t dim, bool keepdim) {
  return run_reduce(ReduceOp::argmax, "argmax", t, {dim}, keepdim, DType::i64);
}
Tensor argmin(const Tensor& t, int64_t dim, bool keepdim) {
  return run_reduce(ReduceOp::argmin, "argmin", t, {dim}, keepdim, DType::i64);
}

}  // namespace coil::core
