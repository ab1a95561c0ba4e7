// mamba_ssm MambaLMHeadModel checkpoints <-> coil's Mamba LM: options from shapes, name and
// shape conversion, loading from safetensors.
#include "nn/interop.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/views.h"
#include "ops/elementwise/elementwise.h"

namespace coil::nn {

namespace {

const Tensor& need(const TensorDict& state, const std::string& key) {
  auto it = state.find(key);
  COIL_CHECK(it != state.end() && it->second.defined(),
             "[mamba interop] the checkpoint has no '{}' (is it a MambaLMHeadModel state dict?)",
             key);
  return it->second;
}

std::string layer_key(int64_t i, const std::string& rest) {
  return fmt::format("backbone.layers.{}.{}", i, rest);
}

bool is_conv_weight(const std::string& key) {
  const std::string suffix = ".mixer.conv1d.weight";
  return key.size() > suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ModelOptions mamba_lm_options(const TensorDict& state) {
  ModelOptions o;
  o.layer = "mamba";
  o.encoder = "embedding";
  o.head = "lm";
  o.prenorm = true;
  const Tensor& emb = need(state, "backbone.embedding.weight");
  COIL_CHECK(emb.dim() == 2, "[mamba interop] backbone.embedding.weight must be (V, D), got {}",
             shape_str(emb.shape()));
  o.vocab_size = emb.size(0);
  o.d_model = emb.size(1);
  o.n_layer = 0;
  while (state.count(layer_key(o.n_layer, "mixer.in_proj.weight"))) ++o.n_layer;
  COIL_CHECK(o.n_layer > 0, "[mamba interop] the checkpoint has no '{}'",
             layer_key(0, "mixer.in_proj.weight"));
  const Tensor& in_proj = need(state, layer_key(0, "mixer.in_proj.weight"));
  const Tensor& conv = need(state, layer_key(0, "mixer.conv1d.weight"));
  const Tensor& x_proj = need(state, layer_key(0, "mixer.x_proj.weight"));
  const Tensor& dt_proj = need(state, layer_key(0, "mixer.dt_proj.weight"));
  const int64_t d_inner = in_proj.size(0) / 2;
  COIL_CHECK(
      d_inner % o.d_model == 0 && in_proj.size(0) == 2 * d_inner,
      "[mamba interop] in_proj.weight {} is not (2 * expand * d_model, d_model) for d_model {}",
      shape_str(in_proj.shape()), o.d_model);
  COIL_CHECK(conv.dim() == 3 && conv.size(1) == 1,
             "[mamba interop] conv1d.weight must be (d_inner, 1, d_conv), got {}",
             shape_str(conv.shape()));
  o.mamba.expand = d_inner / o.d_model;
  o.mamba.d_conv = conv.size(2);
  o.mamba.conv_bias = state.count(layer_key(0, "mixer.conv1d.bias")) > 0;
  o.mamba.bias = state.count(layer_key(0, "mixer.in_proj.bias")) > 0;
  o.s6.dt_rank = dt_proj.size(1);
  o.s6.d_state = (x_proj.size(0) - o.s6.dt_rank) / 2;
  o.norm = state.count(layer_key(0, "norm.bias")) ? "layer" : "rms";
  auto head = state.find("lm_head.weight");
  o.tie_embeddings = true;
  if (head != state.end()) {
    NoGradGuard no_grad;
    Tensor a = core::to(core::to(head->second, DType::f64), Device::cpu());
    Tensor b = core::to(core::to(emb, DType::f64), Device::cpu());
    o.tie_embeddings = a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
  }
  return o;
}

StateDict from_mamba_state_dict(const TensorDict& state, const Model& model) {
  StateDict mine = model.state_dict();
  StateDict out;
  for (const auto& [key, t] : state) {
    // A tied head is the embedding itself; mamba_ssm may or may not save it under both names.
    if (key == "lm_head.weight" && model.options.tie_embeddings) continue;
    Tensor v = t;
    if (is_conv_weight(key) && v.dim() == 3 && v.size(1) == 1)
      v = core::reshape(v, {v.size(0), v.size(2)});
    auto it = mine.find(key);
    if (it != mine.end() && is_floating(v.dtype())) v = core::to(v, it->second.dtype());
    out[key] = v;
  }
  if (model.options.tie_embeddings && mine.count("lm_head.weight") &&
      out.count("backbone.embedding.weight"))
    out["lm_head.weight"] = out["backbone.embedding.weight"];
  return out;
}

TensorDict to_mamba_state_dict(const Model& model) {
  TensorDict out;
  for (const auto& [key, t] : model.state_dict())
    out[key] = is_conv_weight(key) ? core::reshape(t, {t.size(0), 1, t.size(1)}) : t;
  return out;
}

std::shared_ptr<Model> load_mamba_lm(const std::string& path, Device device) {
  SafetensorsContents file = read_safetensors(path);
  auto model = std::make_shared<Model>(mamba_lm_options(file.tensors));
  model->load_state_dict(from_mamba_state_dict(file.tensors, *model));
  model->to(device);
  model->eval();
  return model;
}

}  // namespace coil::nn
