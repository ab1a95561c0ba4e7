// The SSM at the heart of the S4-style block and the Mamba block: (B, L, C) -> (B, L, C) with
// the D skip, an optional gate, whole-sequence and one-step forms. A core registers its
// parameters on the block that owns it (mamba_simple's names: x_proj, dt_proj, A_log, D).
#pragma once
#include <memory>
#include <string>

#include "nn/layers.h"
#include "nn/options.h"
#include "nn/sequence.h"

namespace coil::nn {

class SSMCore {
 public:
  virtual ~SSMCore() = default;
  // x (B, L, C) -> y (B, L, C); with z (B, L, C) defined, y * silu(z) (fused where the op can).
  // state as SequenceLayer::forward (the core owns state->tensors).
  virtual Tensor forward(const Tensor& x, const Tensor& z, State* state) const = 0;
  // x_t, z_t (B, C) -> (B, C); inference only.
  virtual Tensor step(const Tensor& x_t, const Tensor& z_t, State& state) const = 0;
};

// The selective SSM (S6): delta, B, C projected from x by x_proj (C -> dt_rank + 2N) and
// dt_proj (dt_rank -> C, its bias is the scan's delta_bias, softplus inside), A = -exp(A_log),
// A_log = log(1..N) per channel, D = 1. Init as mamba_simple (REFERENCE.md section 8); no
// weight decay on A_log and D. State: {ssm_state (B, C, N)}.
class SelectiveSSM : public SSMCore {
 public:
  SelectiveSSM(Module& owner, int64_t channels, const S6Options& options);
  Tensor forward(const Tensor& x, const Tensor& z, State* state) const override;
  Tensor step(const Tensor& x_t, const Tensor& z_t, State& state) const override;
  std::shared_ptr<Linear> x_proj, dt_proj;
  Tensor A_log, D;
  int64_t dt_rank, d_state;
};

// The core named by `kind` (s6, s4d, s4) on `owner`'s parameters, over `channels` channels.
std::unique_ptr<SSMCore> make_ssm_core(Module& owner, const std::string& kind, int64_t channels,
                                       const ModelOptions& options);
// The core kinds make_ssm_core knows, for error messages.
const std::vector<std::string>& ssm_core_kinds();
// Checks the S6 / S4 options (sizes, init and discretisation names); throws naming the option.
void validate_ssm_options(const ModelOptions& options);

}  // namespace coil::nn
