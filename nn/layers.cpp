// The basic modules: thin wrappers that own parameters and call the differentiable ops.
#include "nn/layers.h"

#include <cmath>

#include "core/factory.h"
#include "core/random.h"
#include "ops/conv1d/conv1d.h"
#include "ops/dropout/dropout.h"
#include "ops/embedding/embedding.h"
#include "ops/glu/glu.h"
#include "ops/linalg/linalg.h"
#include "ops/norm/norm.h"
#include "ops/shape/shape.h"

namespace coil::nn {

namespace {
void check_positive(const char* module, const char* option, int64_t value) {
  COIL_CHECK(value > 0, "[{}] {} must be positive, got {}", module, option, value);
}
}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias) : Module("Linear") {
  check_positive("Linear", "in_features", in_features);
  check_positive("Linear", "out_features", out_features);
  double bound = 1.0 / std::sqrt(double(in_features));
  weight = register_parameter("weight", uniform({out_features, in_features}, -bound, bound));
  if (with_bias)
    bias = register_parameter("bias", uniform({out_features}, -bound, bound), kNoWeightDecay);
}

Linear::Linear(Tensor w, Tensor b) : Module("Linear") {
  COIL_CHECK(w.defined() && w.dim() == 2, "[Linear] weight must be (out, in), got {}",
             w.defined() ? shape_str(w.shape()) : "undefined");
  weight = register_parameter("weight", w);
  if (b.defined()) bias = register_parameter("bias", b, kNoWeightDecay);
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

Embedding::Embedding(int64_t num_embeddings, int64_t dim, double init_std) : Module("Embedding") {
  check_positive("Embedding", "num_embeddings", num_embeddings);
  check_positive("Embedding", "dim", dim);
  weight =
      register_parameter("weight", normal({num_embeddings, dim}, 0.0, init_std), kNoWeightDecay);
}

Tensor Embedding::forward(const Tensor& indices) const { return embedding(weight, indices); }

LayerNorm::LayerNorm(int64_t dim, double eps, bool affine) : Module("LayerNorm"), eps(eps) {
  check_positive("LayerNorm", "dim", dim);
  if (affine) {
    weight = register_parameter("weight", ones({dim}), kNoWeightDecay);
    bias = register_parameter("bias", zeros({dim}), kNoWeightDecay);
  }
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }

RMSNorm::RMSNorm(int64_t dim, double eps) : Module("RMSNorm"), eps(eps) {
  check_positive("RMSNorm", "dim", dim);
  weight = register_parameter("weight", ones({dim}), kNoWeightDecay);
}

Tensor RMSNorm::forward(const Tensor& x) const { return rms_norm(x, weight, eps); }

BatchNorm::BatchNorm(int64_t dim, double momentum, double eps)
    : Module("BatchNorm"), momentum(momentum), eps(eps) {
  check_positive("BatchNorm", "dim", dim);
  weight = register_parameter("weight", ones({dim}), kNoWeightDecay);
  bias = register_parameter("bias", zeros({dim}), kNoWeightDecay);
  running_mean = register_buffer("running_mean", zeros({dim}));
  running_var = register_buffer("running_var", ones({dim}));
}

Tensor BatchNorm::forward(const Tensor& x) const {
  COIL_CHECK(x.dim() >= 2 && x.size(-1) == weight.size(0),
             "[BatchNorm] input must be (..., {}), got {}", weight.size(0), shape_str(x.shape()));
  // Channels last: (B, L, H) is (B*L, H) rows, which batch_norm normalises per column.
  Tensor rows = reshape(x, {-1, x.size(-1)});
  Tensor y =
      batch_norm(rows, running_mean, running_var, weight, bias, is_training(), momentum, eps);
  return reshape(y, x.shape());
}

Dropout::Dropout(double p, bool tie_sequence)
    : Module("Dropout"), p(p), tie_sequence(tie_sequence) {
  COIL_CHECK(p >= 0 && p < 1, "[Dropout] p must lie in [0, 1), got {}", p);
}

Tensor Dropout::forward(const Tensor& x) const {
  // Tying along L needs an L axis: (B, L, H). A single step (B, H) has none; it is eval anyway.
  bool tie = tie_sequence && x.dim() == 3;
  return dropout(x, p, is_training(), tie ? std::optional<int64_t>(1) : std::nullopt);
}

Tensor GLU::forward(const Tensor& x) const { return glu(x, dim); }

Conv1d::Conv1d(int64_t channels, int64_t kernel_size, bool with_bias) : Module("Conv1d") {
  check_positive("Conv1d", "channels", channels);
  check_positive("Conv1d", "kernel_size", kernel_size);
  double bound = 1.0 / std::sqrt(double(kernel_size));
  weight = register_parameter("weight", uniform({channels, kernel_size}, -bound, bound));
  if (with_bias)
    bias = register_parameter("bias", uniform({channels}, -bound, bound), kNoWeightDecay);
}

Tensor Conv1d::forward(const Tensor& x) const { return conv1d_causal(x, weight, bias); }

}  // namespace coil::nn
