// Front ends of the reductions: every forward is a core reduction (so it runs on both devices),
// every backward a few core elementwise ops on the gradient broadcast back over the reduced dims.
#include "ops/reduce/reduce.h"

#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/reduce.h"
#include "core/views.h"

namespace coil {
namespace {

// What one call reduces: normalised dims and how many elements meet in each output.
struct Reduction {
  std::vector<int64_t> dims;  // sorted and unique; empty only for a rank-0 input
  int64_t count = 1;
  Shape kept;  // the output shape with keepdim (reduced dims as 1)
};

Reduction resolve(const char* op, const Tensor& x, std::vector<int64_t> dims) {
  COIL_CHECK(x.defined(), "[{}] got an undefined input", op);
  Reduction r;
  r.dims = core::reduction_dims(x, std::move(dims), op);
  for (int64_t d : r.dims) r.count *= x.shape()[size_t(d)];
  r.kept = core::reduced_shape(x.shape(), r.dims, true);
  return r;
}

void check_floating(const char* op, const Tensor& x) {
  COIL_CHECK(is_floating(x.dtype()), "[{}] needs a floating dtype, got {}", op, describe(x));
}

// An output (or its gradient) with the reduced dims back as size 1, ready to broadcast over x.
Tensor kept(const Tensor& t, const Reduction& r) { return core::reshape(t, r.kept); }

Tensor scalar_like(double v, const Tensor& t) { return full({}, v, t.options()); }

Tensor bin(BinaryOp op, const Tensor& a, const Tensor& b) { return core::binary(op, a, b); }

}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  Reduction r = resolve("sum", x, std::move(dims));
  Tensor out = core::sum(x, r.dims, keepdim);
  if (needs_grad({x})) {
    // A stride-0 view is enough: the engine copies a gradient before a leaf keeps it.
    record("sum", {x}, {out},
           [r, shape = x.shape()](const std::vector<Tensor>& g, const std::vector<bool>&) {
             return std::vector<Tensor>{core::expand(kept(g[0], r), shape)};
           });
  }
  return out;
}

Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  Reduction r = resolve("mean", x, std::move(dims));
  check_floating("mean", x);
  Tensor out = core::mean(x, r.dims, keepdim);
  if (needs_grad({x})) {
    record("mean", {x}, {out},
           [r, shape = x.shape()](const std::vector<Tensor>& g, const std::vector<bool>&) {
             double scale = r.count > 0 ? 1.0 / double(r.count) : 0.0;
             Tensor gx = core::expand(kept(g[0], r), shape);
             return std::vector<Tensor>{core::unary(UnaryOp::mul_scalar, gx, {scale})};
           });
  }
  return out;
}

Tensor max(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  Reduction r = resolve("max", x, std::move(dims));
  COIL_CHECK(x.dtype() != DType::boolean, "[max] dtype bool is not supported: {}", describe(x));
  COIL_CHECK(r.count > 0, "[max] cannot reduce an empty dimension of shape {}",
             shape_str(x.shape()));
  Tensor out = core::amax(x, r.dims, keepdim);
  if (needs_grad({x})) {
    record("max", {x}, {out},
           [r, x = detach(x), out = detach(out)](const std::vector<Tensor>& g,
                                                 const std::vector<bool>&) {
             // Tied maxima share the gradient evenly, so its sum over the slice is exact. A NaN
             // maximum matches nothing and passes no gradient.
             Tensor hit = bin(BinaryOp::eq, x, kept(out, r));
             Tensor ties = core::sum(core::to(hit, g[0].dtype()), r.dims, true);
             Tensor share = bin(BinaryOp::div, kept(g[0], r), ties);
             return std::vector<Tensor>{core::where(hit, share, scalar_like(0, share))};
           });
  }
  return out;
}

Tensor logsumexp(const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  Reduction r = resolve("logsumexp", x, std::move(dims));
  check_floating("logsumexp", x);
  // Shift by the maximum so exp never overflows; an infinite maximum (a slice of all -inf, or
  // some +inf) would turn x - shift into NaN, so such slices shift by 0 instead and still give
  // log(0) = -inf or +inf. An empty slice sums to 0 and gives -inf.
  Tensor m = r.count > 0 ? core::amax(x, r.dims, true) : zeros(r.kept, x.options());
  Tensor finite = bin(BinaryOp::lt, core::unary(UnaryOp::abs, m), scalar_like(INFINITY, m));
  Tensor shift = core::where(finite, m, scalar_like(0, m));
  Tensor e = core::unary(UnaryOp::exp, bin(BinaryOp::sub, x, shift));
  Tensor total = core::sum(e, r.dims, true);
  Tensor lse = bin(BinaryOp::add, core::unary(UnaryOp::log, total), shift);
  Tensor out = keepdim ? lse : core::reshape(lse, core::reduced_shape(x.shape(), r.dims, false));
  if (needs_grad({x})) {
    record(
        "logsumexp", {x}, {out},
        [r, x = detach(x), shift, total](const std::vector<Tensor>& g, const std::vector<bool>&) {
          // d/dx = softmax(x) = exp(x - shift) / total. Not exp(x - lse): near x = 1000 an f32
          // lse carries an absolute error of ~1e-4, which exp turns into a relative one.
          Tensor scale = bin(BinaryOp::div, kept(g[0], r), total);
          Tensor gx =
              bin(BinaryOp::mul, core::unary(UnaryOp::exp, bin(BinaryOp::sub, x, shift)), scale);
          // Entries at -inf get exactly 0; this also covers all -inf slices, where total is 0
          // and the quotient above is NaN.
          Tensor masked = bin(BinaryOp::eq, x, scalar_like(-INFINITY, x));
          return std::vector<Tensor>{core::where(masked, scalar_like(0, gx), gx)};
        });
  }
  return out;
}

Tensor var(const Tensor& x, std::vector<int64_t> dims, int64_t correction, bool keepdim) {
  Reduction r = resolve("var", x, std::move(dims));
  check_floating("var", x);
  COIL_CHECK(correction >= 0 && correction < r.count,
             "[var] correction {} needs 0 <= correction < {} (elements per output) for shape {} "
             "over dims {}",
             correction, r.count, shape_str(x.shape()), shape_str(r.dims));
  double scale = 1.0 / double(r.count - correction);
  // Two passes (mean, then squared deviations): no cancellation for data far from zero.
  Tensor dev = bin(BinaryOp::sub, x, core::mean(x, r.dims, true));
  Tensor ss = core::sum(core::unary(UnaryOp::square, dev), r.dims, keepdim);
  Tensor out = core::unary(UnaryOp::mul_scalar, ss, {scale});
  if (needs_grad({x})) {
    // d/dx_i = 2 (x_i - mean) * scale; the path through the mean sums to zero. x is saved
    // rather than dev so the tape holds no extra x-sized tensor.
    record("var", {x}, {out},
           [r, x = detach(x), scale](const std::vector<Tensor>& g, const std::vector<bool>&) {
             Tensor d = bin(BinaryOp::sub, x, core::mean(x, r.dims, true));
             Tensor gs = core::unary(UnaryOp::mul_scalar, kept(g[0], r), {2.0 * scale});
             return std::vector<Tensor>{bin(BinaryOp::mul, d, gs)};
           });
  }
  return out;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  COIL_CHECK(x.defined(), "[argmax] got an undefined input");
  return core::argmax(x, dim, keepdim);
}

}  // namespace coil
