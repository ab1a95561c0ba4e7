// Front ends of the matrix products. Forwards and backwards are core GEMMs on views, where a
// transpose becomes a BLAS flag rather than a copy, so everything runs on both devices.
#include "ops/linalg/linalg.h"

#include "autograd/autograd.h"
#include "core/elementwise.h"
#include "core/linalg.h"
#include "core/reduce.h"
#include "core/views.h"
#include "ops/common/grad_utils.h"

namespace coil {
namespace {

Tensor mT(const Tensor& t) { return core::transpose(t, -1, -2); }

// Gradients of out = a @ b (NumPy semantics) given g shaped like out.
std::vector<Tensor> matmul_grads(const Tensor& a, const Tensor& b, const Tensor& g,
                                 const std::vector<bool>& needs) {
  // Work on the promoted forms a2 (..., M, K), b2 (..., K, N), g2 (batch..., M, N).
  Tensor a2 = a.dim() == 1 ? core::unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? core::unsqueeze(b, 1) : b;
  int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  Shape batch(g.shape().begin(), g.shape().end() - int(a.dim() > 1) - int(b.dim() > 1));
  Shape g_shape = batch;
  g_shape.insert(g_shape.end(), {m, n});
  Tensor g2 = core::reshape(g, g_shape);
  Tensor ga, gb;
  if (needs[0]) {
    // core folds the batch into rows when b2 has none, so x @ W costs one GEMM here too.
    ga = ops::sum_to(core::matmul(g2, mT(b2)), a2.shape(), a.dtype());
    ga = core::reshape(ga, a.shape());
  }
  if (needs[1]) {
    if (b2.dim() == 2) {
      // b2 is shared by the whole batch (which is then a2's own): the sum over the batch of
      // a_i^T g_i is a single (K, rows) @ (rows, N) GEMM.
      int64_t rows = shape_numel(batch) * m;
      gb = core::matmul(mT(core::reshape(a2, {rows, k})), core::reshape(g2, {rows, n}));
    } else {
      gb = ops::sum_to(core::matmul(mT(a2), g2), b2.shape(), b.dtype());
    }
    gb = core::reshape(gb, b.shape());
  }
  return {ga, gb};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = core::matmul(a, b);  // validates operands, naming "[matmul]"
  if (needs_grad({a, b})) {
    record("matmul", {a, b}, {out},
           [a = detach(a), b = detach(b)](const std::vector<Tensor>& g,
                                          const std::vector<bool>& needs) {
             return matmul_grads(a, b, g[0], needs);
           });
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  Tensor out = core::bmm(a, b);  // validates operands, naming "[bmm]"
  if (needs_grad({a, b})) {
    record("bmm", {a, b}, {out},
           [a = detach(a), b = detach(b)](const std::vector<Tensor>& g,
                                          const std::vector<bool>& needs) {
             return std::vector<Tensor>{needs[0] ? core::bmm(g[0], mT(b)) : Tensor(),
                                        needs[1] ? core::bmm(mT(a), g[0]) : Tensor()};
           });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  COIL_CHECK(x.defined() && weight.defined(), "[linear] input and weight must be defined");
  if (bias.defined()) core::check_same_device("linear", {&x, &weight, &bias});
  else core::check_same_device("linear", {&x, &weight});
  COIL_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1),
             "[linear] expected x (..., in) and weight (out, in), got x {} and weight {}",
             shape_str(x.shape()), shape_str(weight.shape()));
  COIL_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
             "[linear] bias must have shape ({}) for weight {}, got {}", weight.size(0),
             shape_str(weight.shape()), shape_str(bias.shape()));
  COIL_CHECK(is_floating(x.dtype()) && x.dtype() == weight.dtype() &&
                 (!bias.defined() || bias.dtype() == x.dtype()),
             "[linear] x, weight and bias need one floating dtype, got x {}, weight {}{}",
             describe(x), describe(weight), bias.defined() ? ", bias " + describe(bias) : "");
  int64_t in = weight.size(1), out_features = weight.size(0);
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  int64_t rows = shape_numel(lead);
  // (rows, in) @ (in, out): the transposed weight is a view that BLAS reads with a flag; the
  // bias is written into the output first and the GEMM accumulates onto it (beta = 1).
  Tensor x2 = core::reshape(x, {rows, in});
  Tensor wt = core::transpose(weight, 0, 1);
  Tensor y2 = bias.defined() ? core::addmm(bias, x2, wt) : core::matmul(x2, wt);
  Shape out_shape = lead;
  out_shape.push_back(out_features);
  Tensor out = core::reshape(y2, out_shape);
  std::vector<Tensor> inputs = {x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    record("linear", inputs, {out},
           [x = detach(x), w = detach(weight), rows, in, out_features](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor g2 = core::reshape(g[0], {rows, out_features});
             std::vector<Tensor> grads(needs.size());
             if (needs[0]) grads[0] = core::reshape(core::matmul(g2, w), x.shape());
             // Summed over all leading dims at once: (out, rows) @ (rows, in).
             if (needs[1]) grads[1] = core::matmul(mT(g2), core::reshape(x, {rows, in}));
             if (needs.size() > 2 && needs[2]) grads[2] = core::sum(g2, {0});
             return grads;
           });
  }
  return out;
}

}  // namespace coil
