// Front end of the embedding op: validation, the device call, and the recorded backward.
#include "ops/embedding/embedding.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/kernels.h"
#include "ops/embedding/kernels.h"

namespace coil {

std::string bad_index_message(int64_t index, int64_t position, int64_t V, const std::string& weight,
                              const std::string& indices) {
  return fmt::format(
      "[embedding] index {} at position {} is outside [0, {}): weight {}, indices {}", index,
      position, V, weight, indices);
}

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  COIL_CHECK(weight.defined() && indices.defined(), "[embedding] got an undefined tensor");
  COIL_CHECK(weight.dim() == 2, "[embedding] weight must be (V, D), got {}; indices {}",
             shape_str(weight.shape()), shape_str(indices.shape()));
  COIL_CHECK(weight.dtype() == DType::f32 || weight.dtype() == DType::f64,
             "[embedding] weight must be f32 or f64, got {}", describe(weight));
  COIL_CHECK(indices.dtype() == DType::i32 || indices.dtype() == DType::i64,
             "[embedding] indices must be i32 or i64, got {} (weight {})", describe(indices),
             shape_str(weight.shape()));
  core::check_same_device("embedding", {&weight, &indices});
  const int64_t V = weight.size(0), D = weight.size(1);
  COIL_CHECK(V < (int64_t(1) << 31), "[embedding] at most 2^31 - 1 rows, got weight {}",
             shape_str(weight.shape()));
  int64_t pad = -1;
  if (padding_idx) {
    pad = *padding_idx < 0 ? *padding_idx + V : *padding_idx;
    COIL_CHECK(pad >= 0 && pad < V, "[embedding] padding_idx {} is outside [-{}, {}): weight {}",
               *padding_idx, V, V, shape_str(weight.shape()));
  }
  Tensor w = core::contiguous(weight), idx = core::contiguous(indices);
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor out = empty(out_shape, weight.options());
  COIL_DEVICE_CALL("embedding", weight.device(), embedding_forward, out, w, idx);
  if (needs_grad({weight})) {
    record("embedding", {weight}, {out},
           [idx, V, D, pad](const std::vector<Tensor>& g, const std::vector<bool>&) {
             Tensor dw = empty({V, D}, g[0].options());
             Tensor gc = core::contiguous(g[0]);
             COIL_DEVICE_CALL("embedding", dw.device(), embedding_backward, dw, gc, idx, pad);
             return std::vector<Tensor>{dw};
           });
  }
  return out;
}

}  // namespace coil
