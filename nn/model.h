// Backbones and models: residual stacks of sequence layers between an encoder and a head, built
// from ModelOptions through one explicit table (layer name -> constructor), never by static
// registration. Parameter names follow mamba_ssm's MambaLMHeadModel (backbone.embedding.weight,
// backbone.layers.0.mixer.*, backbone.layers.0.norm.weight, backbone.norm_f.weight,
// lm_head.weight), so its checkpoints load by name (nn/interop.h).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/options.h"
#include "nn/sequence.h"

namespace coil::nn {

// Builds the sequence layer at depth `index` of a model.
using LayerFactory =
    std::function<std::shared_ptr<SequenceLayer>(const ModelOptions&, int64_t index)>;

struct LayerEntry {
  const char* name;
  LayerFactory make;
};
// The table of sequence layers: mamba, s6, s4, s4d.
const std::vector<LayerEntry>& layer_table();
// Checks every choice and size of the options; throws naming the option and the allowed values.
void validate(const ModelOptions& options);

// One of LayerNorm, RMSNorm, BatchNorm by name (the options' `norm`).
std::shared_ptr<Module> make_norm(const std::string& kind, int64_t dim, double eps);
Tensor apply_norm(const Module& norm, const Tensor& x);

// x + dropout(mixer(norm(x))) (prenorm) or norm(x + dropout(mixer(x))) (postnorm). The residual
// stream keeps its own dtype (f32): the add promotes a lower-precision mixer output to it.
class ResidualBlock : public SequenceLayer {
 public:
  ResidualBlock(const ModelOptions& options, std::shared_ptr<SequenceLayer> mixer);
  Tensor forward(const Tensor& x, State* state = nullptr) override;
  Tensor step(const Tensor& x_t, State& state) override;
  std::shared_ptr<SequenceLayer> mixer;
  std::shared_ptr<Module> norm;
  std::shared_ptr<Dropout> drop;
  bool prenorm;
};

// Encoder -> residual stack -> final norm (prenorm). Input: token ids (B, L) (i32/i64) for the
// embedding encoder, reals (B, L, d_input) for the linear one. Output (B, L, H).
class Backbone : public SequenceLayer {
 public:
  Backbone(const ModelOptions& options, const LayerFactory& make_layer);
  Tensor forward(const Tensor& input, State* state = nullptr) override;
  Tensor step(const Tensor& input_t, State& state) override;  // (B) ids or (B, d_input)
  std::shared_ptr<Embedding> embedding;                       // token encoder, or
  std::shared_ptr<Linear> encoder;                            // linear encoder
  std::vector<std::shared_ptr<ResidualBlock>> layers;
  std::shared_ptr<Module> norm_f;  // prenorm only

 private:
  Tensor encode(const Tensor& input) const;
};

class Model : public Module {
 public:
  // make_layer overrides the table (tests plug in their own layers).
  explicit Model(const ModelOptions& options, LayerFactory make_layer = {});
  // input as Backbone; mask (B, L) (bool or floating, 1 = valid) is used by the classify head
  // only (mean over valid positions, or the last valid one); undefined = all valid.
  // Returns (B, L, V) for "lm", (B, M, V) for "last", (B, n_classes) for "classify".
  Tensor forward(const Tensor& input, const Tensor& mask = {}, State* state = nullptr);
  // One position: (B, V) logits for lm/last, and for classify the logits of the prefix so far
  // (a running mean for pool = mean). Inference only.
  Tensor step(const Tensor& input_t, State& state);

  ModelOptions options;
  std::shared_ptr<Backbone> backbone;
  std::shared_ptr<Linear> lm_head;  // lm / last
  std::shared_ptr<Linear> decoder;  // classify
};

// The model named by options.layer, from the table; validates the options first.
std::shared_ptr<Model> make_model(const ModelOptions& options);

}  // namespace coil::nn
