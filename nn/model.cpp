// Residual blocks, backbones, heads, option checks and the layer table.
#include "nn/model.h"

#include <fmt/ranges.h>

#include <algorithm>

#include "core/factory.h"
#include "nn/blocks.h"
#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"

namespace coil::nn {

namespace {

void check_choice(const char* option, const std::string& value,
                  const std::vector<std::string>& allowed) {
  COIL_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(),
             "[model] unknown {} '{}'; allowed: {}", option, value, fmt::join(allowed, ", "));
}

void check_positive(const char* option, int64_t value) {
  COIL_CHECK(value > 0, "[model] {} must be positive, got {}", option, value);
}

}  // namespace

const std::vector<LayerEntry>& layer_table() {
  static const std::vector<LayerEntry> table = {
      {"mamba",
       [](const ModelOptions& o, int64_t i) -> std::shared_ptr<SequenceLayer> {
         return std::make_shared<Mamba>(o, i);
       }},
      {"s6",
       [](const ModelOptions& o, int64_t) -> std::shared_ptr<SequenceLayer> {
         return std::make_shared<SSMBlock>(o, "s6");
       }},
      {"s4",
       [](const ModelOptions& o, int64_t) -> std::shared_ptr<SequenceLayer> {
         return std::make_shared<SSMBlock>(o, "s4");
       }},
      {"s4d",
       [](const ModelOptions& o, int64_t) -> std::shared_ptr<SequenceLayer> {
         return std::make_shared<SSMBlock>(o, "s4d");
       }},
  };
  return table;
}

void validate(const ModelOptions& o) {
  std::vector<std::string> layers;
  for (const auto& e : layer_table()) layers.push_back(e.name);
  check_choice("layer", o.layer, layers);
  check_choice("encoder", o.encoder, {"embedding", "linear"});
  check_choice("norm", o.norm, {"layer", "rms", "batch"});
  check_choice("head", o.head, {"lm", "last", "classify"});
  check_choice("pool", o.pool, {"mean", "last"});
  check_positive("d_model", o.d_model);
  check_positive("n_layer", o.n_layer);
  check_positive("vocab_size", o.vocab_size);
  if (o.encoder == "linear") check_positive("d_input", o.d_input);
  if (o.head == "last") check_positive("last_m", o.last_m);
  if (o.head == "classify") check_positive("n_classes", o.n_classes);
  COIL_CHECK(o.dropout >= 0 && o.dropout < 1, "[model] dropout must lie in [0, 1), got {}",
             o.dropout);
  validate_ssm_options(o);
}

std::shared_ptr<Module> make_norm(const std::string& kind, int64_t dim, double eps) {
  check_choice("norm", kind, {"layer", "rms", "batch"});
  if (kind == "layer") return make<LayerNorm>(dim, eps);
  if (kind == "rms") return make<RMSNorm>(dim, eps);
  return make<BatchNorm>(dim, 0.1, eps);
}

Tensor apply_norm(const Module& norm, const Tensor& x) {
  if (auto* n = dynamic_cast<const RMSNorm*>(&norm)) return n->forward(x);
  if (auto* n = dynamic_cast<const LayerNorm*>(&norm)) return n->forward(x);
  return static_cast<const BatchNorm&>(norm).forward(x);
}

ResidualBlock::ResidualBlock(const ModelOptions& o, std::shared_ptr<SequenceLayer> m)
    : SequenceLayer("ResidualBlock"), prenorm(o.prenorm) {
  mixer = register_module("mixer", std::move(m));
  norm = register_module("norm", make_norm(o.norm, o.d_model, o.norm_eps));
  drop = register_module("dropout", make<Dropout>(o.dropout, o.tie_dropout));
}

Tensor ResidualBlock::forward(const Tensor& x, State* state) {
  if (prenorm) return add(x, drop->forward(mixer->forward(apply_norm(*norm, x), state)));
  return apply_norm(*norm, add(x, drop->forward(mixer->forward(x, state))));
}

Tensor ResidualBlock::step(const Tensor& x_t, State& state) {
  if (prenorm) return add(x_t, mixer->step(apply_norm(*norm, x_t), state));
  return apply_norm(*norm, add(x_t, mixer->step(x_t, state)));
}

Backbone::Backbone(const ModelOptions& o, const LayerFactory& make_layer)
    : SequenceLayer("Backbone") {
  if (o.encoder == "embedding")
    embedding = register_module("embedding", make<Embedding>(o.vocab_size, o.d_model, 0.02));
  else encoder = register_module("encoder", make<Linear>(o.d_input, o.d_model));
  struct Layers : Module {
    Layers() : Module("Layers") {}
    void add(int64_t i, std::shared_ptr<Module> m) { register_module(std::to_string(i), m); }
  };
  auto list = register_module("layers", std::make_shared<Layers>());
  for (int64_t i = 0; i < o.n_layer; ++i) {
    layers.push_back(std::make_shared<ResidualBlock>(o, make_layer(o, i)));
    list->add(i, layers.back());
  }
  if (o.prenorm) norm_f = register_module("norm_f", make_norm(o.norm, o.d_model, o.norm_eps));
}

Tensor Backbone::encode(const Tensor& input) const {
  if (embedding) {
    COIL_CHECK(is_integral(input.dtype()),
               "[Backbone] the embedding encoder takes token ids, got {}", describe(input));
    return embedding->forward(input);
  }
  return encoder->forward(input);
}

Tensor Backbone::forward(const Tensor& input, State* state) {
  Tensor h = encode(input);
  COIL_CHECK(h.dim() == 3, "[Backbone] input must be (B, L) ids or (B, L, d_input), got {}",
             shape_str(input.shape()));
  if (state && state->children.empty()) state->children.resize(layers.size());
  for (size_t i = 0; i < layers.size(); ++i)
    h = layers[i]->forward(h, state ? &state->children[i] : nullptr);
  return norm_f ? apply_norm(*norm_f, h) : h;
}

Tensor Backbone::step(const Tensor& input_t, State& state) {
  Tensor h = encode(input_t);
  if (state.children.empty()) state.children.resize(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) h = layers[i]->step(h, state.children[i]);
  return norm_f ? apply_norm(*norm_f, h) : h;
}

Model::Model(const ModelOptions& o, LayerFactory make_layer) : Module("Model"), options(o) {
  validate(o);
  if (!make_layer)
    for (const auto& e : layer_table())
      if (o.layer == e.name) make_layer = e.make;
  backbone = register_module("backbone", std::make_shared<Backbone>(o, make_layer));
  if (o.head == "classify") {
    decoder = register_module("decoder", make<Linear>(o.d_model, o.n_classes));
    return;
  }
  // Tied as in mamba_ssm: the head's weight IS the embedding's (named_parameters lists it once,
  // as backbone.embedding.weight; the state dict has it under both names).
  if (o.tie_embeddings && backbone->embedding)
    lm_head = register_module("lm_head", make<Linear>(backbone->embedding->weight));
  else lm_head = register_module("lm_head", make<Linear>(o.d_model, o.vocab_size, false));
}

Tensor Model::forward(const Tensor& input, const Tensor& mask, State* state) {
  Tensor h = backbone->forward(input, state);  // (B, L, H)
  const int64_t L = h.size(1);
  if (options.head == "lm") return lm_head->forward(h);
  if (options.head == "last") {
    COIL_CHECK(options.last_m <= L, "[Model] head 'last' predicts {} positions but L = {}",
               options.last_m, L);
    return lm_head->forward(narrow(h, 1, L - options.last_m, options.last_m));
  }
  Tensor pooled;
  if (!mask.defined()) {
    pooled = options.pool == "mean" ? mean(h, {1}) : select(h, 1, L - 1);
  } else {
    COIL_CHECK(mask.dim() == 2 && mask.size(0) == h.size(0) && mask.size(1) == L,
               "[Model] mask must be (B, L) = ({}, {}), got {}", h.size(0), L,
               shape_str(mask.shape()));
    Tensor m = coil::to(coil::to(mask, h.device()), h.dtype());
    if (options.pool == "last") {
      // One-hot of the last valid position: valid here and not at the next position.
      Tensor next = pad(slice(m, 1, 1, L), {0, 1});
      m = sub(m, mul(m, next));
    }
    Tensor weighted = sum(mul(h, unsqueeze(m, 2)), {1});
    pooled = options.pool == "mean" ? div(weighted, clamp(sum(m, {1}, true), 1, 1e30)) : weighted;
  }
  return decoder->forward(pooled);
}

Tensor Model::step(const Tensor& input_t, State& state) {
  if (state.empty()) state.children.resize(1);
  Tensor h = backbone->step(input_t, state.children[0]);  // (B, H)
  if (lm_head) return lm_head->forward(h);
  if (options.pool == "last") return decoder->forward(h);
  // Running mean of the features: state.tensors = {sum, count}.
  if (state.tensors.empty()) state.tensors = {zeros_like(h), zeros({}, h.options())};
  state.tensors[0] = add(state.tensors[0], h);
  state.tensors[1] = add(state.tensors[1], 1.0);
  return decoder->forward(div(state.tensors[0], state.tensors[1]));
}

std::shared_ptr<Model> make_model(const ModelOptions& options) {
  return std::make_shared<Model>(options);
}

}  // namespace coil::nn
