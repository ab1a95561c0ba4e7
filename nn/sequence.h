// The one interface every sequence layer (S4, S4D, S6, Mamba) and whole backbone implements:
// whole-sequence forward with an optional recurrent state in and out, and one-token step.
#pragma once
#include <vector>

#include "nn/module.h"

namespace coil::nn {

// Recurrent state, opaque to callers: a layer keeps its tensors (conv window, SSM state) in
// `tensors`; a stack keeps one child State per layer. An empty State means "start from zero":
// the layer allocates it on first use, shaped from the input's batch, dtype and device.
struct State {
  std::vector<Tensor> tensors;
  std::vector<State> children;
  bool empty() const { return tensors.empty() && children.empty(); }
};

class SequenceLayer : public Module {
 public:
  using Module::Module;
  // x (B, L, H) -> (B, L, H). With state != nullptr the sequence continues from *state (empty:
  // from zero) and *state becomes the state after the last position, so splitting a sequence
  // into chunks and carrying the state gives the one-shot result. Gradients flow through the
  // state only where the layer says so.
  virtual Tensor forward(const Tensor& x, State* state = nullptr) = 0;
  // x_t (B, H) -> (B, H): one position, advancing state (empty: from zero). Inference only (no
  // autograd); stepping a sequence token by token equals forward() in eval mode.
  virtual Tensor step(const Tensor& x_t, State& state) = 0;
};

}  // namespace coil::nn
