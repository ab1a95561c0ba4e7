// Loading mamba_ssm's MambaLMHeadModel checkpoints by their own parameter names, so a user's
// pretrained Mamba runs in coil. coil's Mamba LM uses the same names (nn/model.h); only the
// depthwise conv weight differs in shape ((d_inner, 1, K) there, (d_inner, K) here).
#pragma once
#include <memory>
#include <string>

#include "core/safetensors.h"
#include "nn/model.h"

namespace coil::nn {

// The options of the MambaLMHeadModel a state dict came from, read off its shapes:
// vocab_size and d_model (backbone.embedding.weight), n_layer (backbone.layers.{i}.*),
// expand, d_conv, d_state, dt_rank, conv and projection biases, RMSNorm vs LayerNorm (a
// norm.bias means LayerNorm), tied head (lm_head.weight absent or equal to the embedding).
// Throws naming the first expected key that is missing.
ModelOptions mamba_lm_options(const TensorDict& state);

// mamba_ssm names and shapes -> coil's state dict for `model`: floating tensors converted to
// the model's dtype, conv1d.weight (C, 1, K) -> (C, K), lm_head.weight dropped when tied. The
// result is then loaded strictly (a mismatch names the key and both shapes).
StateDict from_mamba_state_dict(const TensorDict& state, const Model& model);
// The inverse (what mamba_ssm's load_state_dict takes), for writing coil models in its format.
TensorDict to_mamba_state_dict(const Model& model);

// Reads a safetensors checkpoint of a MambaLMHeadModel and builds the coil model on `device`.
std::shared_ptr<Model> load_mamba_lm(const std::string& path, Device device = Device::cpu());

}  // namespace coil::nn
