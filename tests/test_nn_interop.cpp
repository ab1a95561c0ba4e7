// mamba_ssm interop: checkpoints written under MambaLMHeadModel's names and shapes load into
// coil's Mamba LM (options read off the shapes), and reproduce the logits of the PyTorch
// reference tools/mamba_reference.py when python3 has torch and safetensors (skipped otherwise).
#include <doctest/doctest.h>

#include <filesystem>

#include "core/random.h"
#include "nn/interop.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"
#include "tests/test_nn_support.h"

using namespace coil;
using namespace coil::testing;
namespace fs = std::filesystem;

namespace {

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("coil_nn_{}_{}", name, ::getpid());
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("a Mamba LM written under mamba_ssm's names loads back with its options and logits") {
  manual_seed(21);
  nn::ModelOptions o;
  o.d_model = 16;
  o.n_layer = 3;
  o.vocab_size = 23;
  o.s6.d_state = 8;
  o.s6.dt_rank = 3;
  o.mamba.expand = 3;
  o.mamba.d_conv = 3;
  auto model = nn::make_model(o);
  model->eval();
  TensorDict mamba = nn::to_mamba_state_dict(*model);
  CHECK(mamba.at("backbone.layers.2.mixer.conv1d.weight").shape() == Shape{48, 1, 3});
  CHECK(mamba.count("lm_head.weight"));
  fs::path dir = scratch_dir("interop");
  write_safetensors((dir / "model.safetensors").string(), mamba);

  auto loaded = nn::load_mamba_lm((dir / "model.safetensors").string());
  const nn::ModelOptions& g = loaded->options;
  CHECK(g.d_model == 16);
  CHECK(g.n_layer == 3);
  CHECK(g.vocab_size == 23);
  CHECK(g.s6.d_state == 8);
  CHECK(g.s6.dt_rank == 3);
  CHECK(g.mamba.expand == 3);
  CHECK(g.mamba.d_conv == 3);
  CHECK(g.norm == "rms");
  CHECK(g.tie_embeddings);
  Tensor ids = randint(0, 23, {2, 9});
  CHECK(rel_error(loaded->forward(ids), model->forward(ids)) == 0);

  // A missing key is named.
  mamba.erase("backbone.layers.1.mixer.dt_proj.bias");
  write_safetensors((dir / "broken.safetensors").string(), mamba);
  std::string e = error_of([&] { nn::load_mamba_lm((dir / "broken.safetensors").string()); });
  CHECK(contains(e, "missing key 'backbone.layers.1.mixer.dt_proj.bias'"));
  fs::remove_all(dir);
}

TEST_CASE("an untied lm_head is kept as its own parameter") {
  manual_seed(22);
  nn::ModelOptions o;
  o.d_model = 8;
  o.n_layer = 1;
  o.vocab_size = 5;
  o.tie_embeddings = false;
  auto model = nn::make_model(o);
  TensorDict mamba = nn::to_mamba_state_dict(*model);
  CHECK(nn::mamba_lm_options(mamba).tie_embeddings == false);
  auto copy = std::make_shared<nn::Model>(nn::mamba_lm_options(mamba));
  copy->load_state_dict(nn::from_mamba_state_dict(mamba, *copy));
  CHECK(rel_error(copy->lm_head->weight, model->lm_head->weight) == 0);
}

TEST_CASE("logits equal the PyTorch reference of MambaLMHeadModel (needs python3 with torch)") {
  fs::path dir = scratch_dir("reference");
  if (!run_mamba_reference(dir.string())) {
    MESSAGE("skipped: python3 cannot import torch and safetensors");
    return;
  }
  auto model = nn::load_mamba_lm((dir / "model.safetensors").string());
  SafetensorsContents io = read_safetensors((dir / "io.safetensors").string());
  Tensor ids = io.tensors.at("input_ids");
  Tensor want = io.tensors.at("logits");
  Tensor got = model->forward(ids);
  double err = rel_error(got, want);
  MESSAGE("coil vs PyTorch reference logits, max abs diff / max |logit| = " << err);
  CHECK(err <= 1e-4);
  // Token by token through step() gives the same logits.
  nn::State state;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < ids.size(1); ++t) steps.push_back(model->step(select(ids, 1, t), state));
  CHECK(rel_error(stack(steps, 1), want) <= 1e-4);
  fs::remove_all(dir);
}
