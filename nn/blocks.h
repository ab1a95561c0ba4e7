// The two block shapes every sequence layer comes in: the S4 block (SSM with D -> dropout ->
// GELU -> Linear(H, 2H) -> GLU; "no gate" in the Mamba paper's Table 1) and the Mamba block
// exactly as mamba_simple (REFERENCE.md section 8), each with a selectable SSM core.
#pragma once
#include <memory>

#include "nn/ssm_core.h"

namespace coil::nn {

// core: s4, s4d or s6 over the H channels. Parameters: the core's, output_linear.{weight,bias}.
class SSMBlock : public SequenceLayer {
 public:
  SSMBlock(const ModelOptions& options, const std::string& core);
  Tensor forward(const Tensor& x, State* state = nullptr) override;
  Tensor step(const Tensor& x_t, State& state) override;
  std::unique_ptr<SSMCore> core;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<Linear> output_linear;
};

// in_proj (H -> 2 d_inner) split into x, z; x -> causal depthwise conv1d (width d_conv) -> SiLU
// -> SSM core (s6: selective scan with the gate silu(z) fused; s4d/s4: LTI convolution, then
// * silu(z)) -> out_proj (d_inner -> H, weight scaled by 1/sqrt(n_layer)).
// State: {conv window (B, d_conv - 1, d_inner)} plus the core's state as child 0.
class Mamba : public SequenceLayer {
 public:
  Mamba(const ModelOptions& options, int64_t layer_index);
  Tensor forward(const Tensor& x, State* state = nullptr) override;
  Tensor step(const Tensor& x_t, State& state) override;
  int64_t d_inner;
  std::shared_ptr<Linear> in_proj, out_proj;
  std::shared_ptr<Conv1d> conv1d;
  std::unique_ptr<SSMCore> core;
  bool fused_gate;  // the s6 core applies silu(z) inside the scan
};

}  // namespace coil::nn
