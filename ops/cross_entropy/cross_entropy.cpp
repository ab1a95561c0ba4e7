// Front end of cross_entropy: validate logits, target and options, run the fused forward kernel
// over (N, C) rows, reduce the per-row losses with core ops (fixed-order sums), and record a
// backward that runs the fused backward kernel.
#include "ops/cross_entropy/cross_entropy.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/kernels.h"
#include "core/reduce.h"
#include "core/views.h"
#include "ops/cross_entropy/kernels.h"

namespace coil {
namespace {

constexpr const char* kName = "cross_entropy";

void validate(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  core::check_same_device(kName, {&logits, &target});
  COIL_CHECK(logits.dtype() == DType::f32 || logits.dtype() == DType::f64,
             "[cross_entropy] logits must be f32 or f64, got {}", describe(logits));
  COIL_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32,
             "[cross_entropy] target must hold integer class indices (i64 or i32), got {}",
             describe(target));
  COIL_CHECK(logits.dim() >= 1, "[cross_entropy] logits need a class dimension, got shape ()");
  Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  COIL_CHECK(target.shape() == lead,
             "[cross_entropy] target shape {} must equal the leading shape {} of logits {} "
             "(classes are the last dimension)",
             shape_str(target.shape()), shape_str(lead), shape_str(logits.shape()));
  COIL_CHECK(logits.size(-1) > 0, "[cross_entropy] logits {} have no classes",
             shape_str(logits.shape()));
  COIL_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1,
             "[cross_entropy] label_smoothing must be in [0, 1), got {}", o.label_smoothing);
  COIL_CHECK(o.reduction == Reduction::none || o.reduction == Reduction::mean ||
                 o.reduction == Reduction::sum,
             "[cross_entropy] unknown reduction {}", int(o.reduction));
}

}  // namespace

std::string bad_target_message(int64_t target, int64_t position, int64_t C, int64_t ignore_index,
                               const std::string& logits) {
  return fmt::format(
      "[cross_entropy] target {} at flat position {} is out of range for {} classes (and is not "
      "ignore_index {}); logits {}",
      target, position, C, ignore_index, logits);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, CrossEntropyOptions o) {
  validate(logits, target, o);
  const Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  const int64_t C = logits.size(-1), N = shape_numel(lead);
  const Tensor x = core::reshape(core::contiguous(logits), {N, C});
  const Tensor t = core::reshape(core::contiguous(target), {N});
  Tensor loss = empty({N}, x.options()), lse = empty({N}, x.options());
  int64_t bad = -1;
  if (N > 0)
    COIL_DEVICE_CALL(kName, x.device(), cross_entropy_forward, loss, lse, x, t, o.ignore_index,
                     o.label_smoothing, bad);
  if (bad >= 0)  // CPU only: on CUDA the error waits for the next host synchronisation
    COIL_FAIL("{}", bad_target_message(core::select(t, 0, bad).item<int64_t>(), bad, C,
                                       o.ignore_index, shape_str(logits.shape())));

  Tensor out, count;
  switch (o.reduction) {
    case Reduction::none:
      out = core::reshape(loss, lead);
      break;
    case Reduction::sum:
      out = core::sum(loss);
      break;
    case Reduction::mean: {
      // Stays on the device: count of kept targets, then sum / count (NaN for 0 / 0).
      Tensor kept =
          core::binary(BinaryOp::ne, t, full({}, double(o.ignore_index), {DType::i64, t.device()}));
      count = core::to(core::sum(kept), x.dtype());
      out = core::binary(BinaryOp::div, core::sum(loss), count);
      break;
    }
  }

  if (needs_grad({logits})) {
    record(kName, {logits, target}, {out},
           [x = detach(x), t, lse, count, o, shape = logits.shape()](const std::vector<Tensor>& g,
                                                                     const std::vector<bool>&) {
             const int64_t n_rows = x.size(0);
             Tensor scale = core::to(g[0], x.dtype());
             bool per_row = false;
             if (o.reduction == Reduction::none) {
               scale = core::contiguous(core::reshape(scale, {n_rows}));
               per_row = true;
             } else if (o.reduction == Reduction::mean) {
               scale = core::binary(BinaryOp::div, scale, count);
             } else {
               scale = core::contiguous(scale);
             }
             Tensor dx = empty(x.shape(), x.options());
             if (n_rows > 0)
               COIL_DEVICE_CALL(kName, x.device(), cross_entropy_backward, dx, x, lse, t, scale,
                                per_row, o.ignore_index, o.label_smoothing);
             return std::vector<Tensor>{core::reshape(dx, shape), Tensor()};
           });
  }
  return out;
}

}  // namespace coil
