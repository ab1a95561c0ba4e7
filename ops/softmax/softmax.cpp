// Front end of softmax / log_softmax: validate, bring the normalised dim last (a permuted copy
// only when needed), run the fused row kernel, record a backward that saves the output.
#include "ops/softmax/softmax.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/kernels.h"
#include "core/views.h"
#include "ops/softmax/kernels.h"

namespace coil {
namespace {

// How the tensor is laid out for the row kernels: `perm` moves the normalised dim last and
// `inverse` undoes it; rank-0 tensors are handled as one row of one element.
struct RowLayout {
  std::vector<int64_t> perm, inverse;
  bool scalar = false;
  bool moved = false;
};

RowLayout row_layout(int64_t ndim, int64_t dim) {
  RowLayout L;
  L.scalar = ndim == 0;
  L.moved = !L.scalar && dim != ndim - 1;
  if (!L.moved) return L;
  for (int64_t d = 0; d < ndim; ++d)
    if (d != dim) L.perm.push_back(d);
  L.perm.push_back(dim);
  L.inverse.assign(size_t(ndim), 0);
  for (int64_t i = 0; i < ndim; ++i) L.inverse[size_t(L.perm[size_t(i)])] = i;
  return L;
}

// Contiguous rows along the normalised dim.
Tensor to_rows(const Tensor& t, const RowLayout& L) {
  if (L.scalar) return core::reshape(t, {1});
  return core::contiguous(L.moved ? core::permute(t, L.perm) : t);
}

Tensor from_rows(const Tensor& t, const RowLayout& L) {
  if (L.scalar) return core::reshape(t, {});
  return L.moved ? core::permute(t, L.inverse) : t;
}

Tensor softmax_impl(const char* name, const Tensor& x, int64_t dim, bool log) {
  COIL_CHECK(x.defined(), "[{}] input is undefined", name);
  COIL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
             "[{}] needs an f32 or f64 input, got {}", name, describe(x));
  // A scalar admits dim 0 and -1, as in PyTorch.
  const int64_t d = normalize_dim(dim, x.dim(), name);
  const RowLayout L = row_layout(x.dim(), d);
  Tensor xr = to_rows(x, L);
  const int64_t n = xr.size(-1), rows = n > 0 ? xr.numel() / n : 0;
  Tensor yr = empty(xr.shape(), xr.options());
  if (yr.numel() > 0) COIL_DEVICE_CALL(name, x.device(), softmax_forward, yr, xr, rows, n, log);
  Tensor out = from_rows(yr, L);
  if (needs_grad({x})) {
    record(name, {x}, {out},
           [name, y = detach(yr), L, rows, n, log](const std::vector<Tensor>& g,
                                                   const std::vector<bool>&) {
             Tensor gr = to_rows(core::to(g[0], y.dtype()), L);
             Tensor dx = empty(y.shape(), y.options());
             if (dx.numel() > 0)
               COIL_DEVICE_CALL(name, y.device(), softmax_backward, dx, y, gr, rows, n, log);
             return std::vector<Tensor>{from_rows(dx, L)};
           });
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_impl("log_softmax", x, dim, true);
}

}  // namespace coil
