// Sequence layers and whole models: stepping token by token equals forward, chunked forward with
// a carried state equals one shot, f64 gradchecks of whole blocks, initialisation, option errors.
#include <doctest/doctest.h>

#include <cmath>

#include "core/factory.h"
#include "core/random.h"
#include "nn/blocks.h"
#include "nn/model.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"
#include "tests/test_nn_support.h"

using namespace coil;
using namespace coil::testing;

namespace {

nn::ModelOptions small_options(const std::string& layer) {
  nn::ModelOptions o;
  o.layer = layer;
  o.d_model = 8;
  o.n_layer = 2;
  o.vocab_size = 11;
  o.s6.d_state = 4;
  o.s4.d_state = 4;
  return o;
}

// Forward over [0, cut) and [cut, L) with the state carried, concatenated.
Tensor chunked(nn::SequenceLayer& layer, const Tensor& x, int64_t cut) {
  nn::State state;
  Tensor a = layer.forward(narrow(x, 1, 0, cut), &state);
  Tensor b = layer.forward(narrow(x, 1, cut, x.size(1) - cut), &state);
  return cat({a, b}, 1);
}

void check_recurrent_forms(nn::SequenceLayer& layer, const Tensor& x) {
  layer.eval();
  Tensor full = layer.forward(x);
  CHECK(rel_error(full, x) > 1e-3);  // the layer does something
  double step_err = rel_error(step_through(layer, x), full);
  double chunk_err = rel_error(chunked(layer, x, 3), full);
  INFO(layer.type_name() << ": step error " << step_err << ", chunk error " << chunk_err);
  CHECK(step_err <= 1e-5);
  CHECK(chunk_err <= 1e-5);
}

}  // namespace

TEST_CASE("Mamba block: step-by-step and chunked forward equal the full forward (f32)") {
  manual_seed(11);
  nn::Mamba m(small_options("mamba"), 0);
  check_recurrent_forms(m, randn_t({2, 7, 8}));
}

TEST_CASE("S6 block (no gate): step-by-step and chunked forward equal the full forward (f32)") {
  manual_seed(12);
  nn::SSMBlock b(small_options("s6"), "s6");
  check_recurrent_forms(b, randn_t({2, 7, 8}));
}

TEST_CASE("Mamba initialisation follows mamba_simple") {
  manual_seed(13);
  auto o = small_options("mamba");
  o.n_layer = 4;
  nn::Mamba m(o, 0);
  CHECK(m.d_inner == 16);
  auto a_log = read_all(m.state_dict().at("A_log"));
  REQUIRE(a_log.size() == 16 * 4);
  for (int d = 0; d < 16; ++d)
    for (int n = 0; n < 4; ++n) CHECK(a_log[d * 4 + n] == doctest::Approx(std::log(n + 1.0)));
  for (double v : read_all(m.state_dict().at("D"))) CHECK(v == 1.0);
  // softplus(dt bias) lies in [dt_min, dt_max]
  for (double b : read_all(m.state_dict().at("dt_proj.bias"))) {
    double dt = std::log1p(std::exp(b));
    CHECK(dt >= 1e-3 * 0.999);
    CHECK(dt <= 1e-1 * 1.001);
  }
  // dt_proj weight bound dt_rank^-1/2 (dt_rank = ceil(8 / 16) = 1); out_proj scaled by 1/2.
  for (double w : read_all(m.state_dict().at("dt_proj.weight"))) CHECK(std::abs(w) <= 1.0);
  double bound = 1 / std::sqrt(16.0) / 2;
  double biggest = 0;
  for (double w : read_all(m.out_proj->weight)) biggest = std::max(biggest, std::abs(w));
  CHECK(biggest <= bound);
  CHECK(biggest > 0.8 * bound);
  for (auto& p : m.named_parameters()) {
    bool decays = p.name != "A_log" && p.name != "D" && p.name.find("bias") == std::string::npos;
    CHECK_MESSAGE(p.hints.weight_decay == decays, p.name);
  }
  auto names = m.state_dict();
  for (const char* k : {"in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                        "dt_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight"})
    CHECK_MESSAGE(names.count(k), k);
  CHECK(names.size() == 9);
}

TEST_CASE("gradcheck of a whole Mamba block in f64") {
  manual_seed(14);
  auto o = small_options("mamba");
  o.d_model = 4;
  nn::Mamba m(o, 0);
  m.to(DType::f64);
  Tensor x = randn_t({2, 5, 4}, DType::f64);
  gradcheck_module(m, [&] { return weighted_sum(m.forward(x)); });
}

TEST_CASE("gradcheck of a whole S6 block in f64") {
  manual_seed(15);
  auto o = small_options("s6");
  o.d_model = 4;
  nn::SSMBlock b(o, "s6");
  b.to(DType::f64);
  Tensor x = randn_t({2, 5, 4}, DType::f64);
  gradcheck_module(b, [&] { return weighted_sum(b.forward(x)); });
}

TEST_CASE("gradcheck of a whole two-layer Mamba LM (embedding, blocks, norms, tied head) in f64") {
  manual_seed(20);
  auto o = small_options("mamba");
  o.d_model = 4;
  o.vocab_size = 5;
  auto model = nn::make_model(o);
  model->to(DType::f64);
  Tensor ids = randint(0, 5, {2, 4});
  gradcheck_module(
      *model, [&] { return weighted_sum(model->forward(ids)); }, 2);
}

TEST_CASE("Mamba LM: names as MambaLMHeadModel, tied head, and step equals forward") {
  manual_seed(16);
  auto model = nn::make_model(small_options("mamba"));
  auto sd = model->state_dict();
  for (const char* k : {"backbone.embedding.weight", "backbone.layers.0.mixer.in_proj.weight",
                        "backbone.layers.1.mixer.A_log", "backbone.layers.1.norm.weight",
                        "backbone.norm_f.weight", "lm_head.weight"})
    CHECK_MESSAGE(sd.count(k), k);
  CHECK(sd.at("lm_head.weight").is_same(sd.at("backbone.embedding.weight")));
  int64_t tokens = 0;
  for (auto& p : model->named_parameters()) tokens += p.name == "lm_head.weight";
  CHECK(tokens == 0);  // listed once, under the embedding's name

  model->eval();
  Tensor ids = randint(0, 11, {2, 6});
  Tensor logits = model->forward(ids);
  CHECK(logits.shape() == Shape{2, 6, 11});
  nn::State state;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 6; ++t) steps.push_back(model->step(select(ids, 1, t), state));
  CHECK(rel_error(stack(steps, 1), logits) <= 1e-5);
}

TEST_CASE("S6 classifier, postnorm with BatchNorm: step equals forward in eval (last, mean)") {
  manual_seed(17);
  auto o = small_options("s6");
  o.prenorm = false;
  o.norm = "batch";
  o.encoder = "linear";
  o.d_input = 3;
  o.head = "classify";
  o.pool = "last";
  o.n_classes = 5;
  auto model = nn::make_model(o);
  Tensor x = randn_t({4, 6, 3});
  model->forward(x);  // training: moves the running statistics off their initial values
  model->eval();
  Tensor logits = model->forward(x);
  CHECK(logits.shape() == Shape{4, 5});
  nn::State state;
  Tensor last;
  for (int64_t t = 0; t < 6; ++t) last = model->step(select(x, 1, t), state);
  CHECK(rel_error(last, logits) <= 1e-5);
  // Mean pooling: step keeps a running mean of the features.
  o.pool = "mean";
  auto mean_model = nn::make_model(o);
  mean_model->load_state_dict(model->state_dict());
  mean_model->eval();
  nn::State mean_state;
  for (int64_t t = 0; t < 6; ++t) last = mean_model->step(select(x, 1, t), mean_state);
  CHECK(rel_error(last, mean_model->forward(x)) <= 1e-5);
}

TEST_CASE("classifier heads pool over the valid positions of the mask only") {
  manual_seed(18);
  for (const char* pool : {"mean", "last"}) {
    auto o = small_options("mamba");
    o.head = "classify";
    o.pool = pool;
    o.n_classes = 3;
    auto model = nn::make_model(o);
    model->eval();
    Tensor ids = randint(0, 11, {1, 7});
    Tensor mask = from_vector(std::vector<uint8_t>{1, 1, 1, 1, 0, 0, 0}, {1, 7});
    Tensor masked = model->forward(ids, to(mask, DType::boolean));
    // Causal layers: the first 4 positions alone give the same pooled features.
    Tensor prefix = model->forward(narrow(ids, 1, 0, 4));
    INFO(pool);
    CHECK(rel_error(masked, prefix) <= 1e-5);
    CHECK(rel_error(model->forward(ids), prefix) > 1e-4);
  }
}

TEST_CASE("the last-M head predicts the last M positions") {
  manual_seed(19);
  auto o = small_options("mamba");
  o.head = "last";
  o.last_m = 3;
  auto model = nn::make_model(o);
  Tensor ids = randint(0, 11, {2, 8});
  Tensor out = model->forward(ids);
  CHECK(out.shape() == Shape{2, 3, 11});
  o.head = "lm";
  auto lm = nn::make_model(o);
  lm->load_state_dict(model->state_dict());
  CHECK(rel_error(out, narrow(lm->forward(ids), 1, 5, 3)) <= 1e-6);
}

TEST_CASE("bad model options name the option and the allowed values") {
  auto err = [](auto change) {
    auto o = small_options("mamba");
    change(o);
    return error_of([&] { nn::make_model(o); });
  };
  std::string e = err([](nn::ModelOptions& o) { o.layer = "lstm"; });
  CHECK(contains(e, "layer 'lstm'"));
  CHECK(contains(e, "mamba"));
  CHECK(contains(e, "s6"));
  e = err([](nn::ModelOptions& o) { o.norm = "group"; });
  CHECK(contains(e, "norm 'group'"));
  CHECK(contains(e, "layer, rms, batch"));
  e = err([](nn::ModelOptions& o) { o.mamba.ssm = "s5"; });
  CHECK(contains(e, "mamba.ssm 's5'"));
  e = err([](nn::ModelOptions& o) { o.head = "seq2seq"; });
  CHECK(contains(e, "lm, last, classify"));
  e = err([](nn::ModelOptions& o) { o.s6.d_state = 0; });
  CHECK(contains(e, "s6.d_state"));
  e = err([](nn::ModelOptions& o) { o.mamba.d_conv = 1; });
  CHECK(contains(e, "mamba.d_conv"));
}
