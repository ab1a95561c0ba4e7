// The basic modules (PyTorch's defaults for shapes, names and initialisation): Linear,
// Embedding, LayerNorm, RMSNorm, BatchNorm over (B, L, H), Dropout, GLU, causal depthwise Conv1d.
// Modules are built on the CPU in f32 from the default generator; Module::to moves them.
#pragma once
#include <memory>

#include "nn/module.h"

namespace coil::nn {

// y = x W^T + b; W (out, in) and b (out) ~ U(-1/sqrt(in), 1/sqrt(in)) as torch.nn.Linear.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  // Over existing tensors (a head tied to an embedding): weight (out, in), bias (out) or none.
  explicit Linear(Tensor weight, Tensor bias = {});
  Tensor forward(const Tensor& x) const;  // (..., in) -> (..., out)
  Tensor weight, bias;                    // bias undefined without bias
};

// Rows of weight (V, D) ~ N(0, std) (PyTorch: std 1; Mamba: 0.02) gathered by integer indices.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, double init_std = 1.0);
  Tensor forward(const Tensor& indices) const;  // (...) -> (..., D)
  Tensor weight;
};

// Normalisation over the last dimension (H) of (..., H). Weight ones, bias zeros; no weight
// decay on either (the S4 and Mamba recipes).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
  double eps;
};

class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;
  Tensor weight;
  double eps;
};

// Batch norm over the channels H of (B, L, H) (or (B, H) for one step): batch statistics over
// B and L in training (running statistics updated), running statistics in eval. Buffers
// running_mean, running_var as torch.nn.BatchNorm1d (num_batches_tracked is not kept).
class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t dim, double momentum = 0.1, double eps = 1e-5);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias, running_mean, running_var;
  double momentum, eps;
};

// Inverted dropout, active only in training. tie_sequence: one mask per (batch, channel),
// shared by every position of (B, L, H) (the S4 repo's "tied" dropout).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.0, bool tie_sequence = false);
  Tensor forward(const Tensor& x) const;
  double p;
  bool tie_sequence;
};

// out = a * sigmoid(b) for the halves (a, b) of x along dim. No parameters.
class GLU : public Module {
 public:
  explicit GLU(int64_t dim = -1) : Module("GLU"), dim(dim) {}
  Tensor forward(const Tensor& x) const;
  int64_t dim;
};

// Causal depthwise convolution along L of (B, L, C): weight (C, K), bias (C), initialised as
// torch.nn.Conv1d(C, C, K, groups=C) (U(+-1/sqrt(K))). mamba_ssm stores the weight as
// (C, 1, K); nn/interop reshapes it.
class Conv1d : public Module {
 public:
  Conv1d(int64_t channels, int64_t kernel_size, bool bias = true);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
};

// Creates a module and returns it as a shared_ptr (what register_module takes).
template <class M, class... Args>
std::shared_ptr<M> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace coil::nn
