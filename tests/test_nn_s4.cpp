// The S4-family layers: S4D and S4 blocks and Mamba with an LTI inner SSM. The S4D recurrence
// equals the convolution; f64 gradchecks of whole blocks; hints; option errors.
#include <doctest/doctest.h>

#include "core/random.h"
#include "nn/blocks.h"
#include "nn/model.h"
#include "nn/s4_core.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"
#include "tests/test_nn_support.h"

using namespace coil;
using namespace coil::testing;

namespace {

nn::ModelOptions s4_options(const std::string& init, const std::string& disc = "zoh") {
  nn::ModelOptions o;
  o.d_model = 6;
  o.s4.d_state = 8;
  o.s4.init = init;
  o.s4.disc = disc;
  o.s4.dt_min = 0.05;  // long memory relative to L: the state matters across the sequence
  o.s4.dt_max = 0.5;
  return o;
}

}  // namespace

TEST_CASE("S4D block: stepping the recurrence equals the FFT convolution (zoh, bilinear)") {
  for (const char* disc : {"zoh", "bilinear"})
    for (const char* init : {"lin", "inv", "real", "legs"}) {
      manual_seed(31);
      nn::SSMBlock b(s4_options(init, disc), "s4d");
      b.eval();
      Tensor x = randn_t({2, 9, 6});
      Tensor full = b.forward(x);
      INFO(disc << " " << init);
      CHECK(rel_error(step_through(b, x), full) <= 1e-5);
      nn::State state;  // chunked with the state carried
      Tensor a = b.forward(narrow(x, 1, 0, 4), &state);
      Tensor c = b.forward(narrow(x, 1, 4, 5), &state);
      CHECK(rel_error(cat({a, c}, 1), full) <= 1e-5);
    }
}

TEST_CASE("gradcheck of whole S4D (also bidirectional) and S4 blocks in f64") {
  for (const char* kind : {"s4d", "s4d-bi", "s4"}) {
    manual_seed(32);
    std::string k = kind;
    auto o = s4_options(k == "s4" ? "legs" : "inv");
    o.s4.bidirectional = k == "s4d-bi";
    o.d_model = 3;
    o.s4.d_state = 4;
    nn::SSMBlock b(o, k == "s4" ? "s4" : "s4d");
    b.to(DType::f64);
    Tensor x = randn_t({2, 7, 3}, DType::f64);
    INFO(kind);
    gradcheck_module(b, [&] { return weighted_sum(b.forward(x)); });
  }
}

TEST_CASE("S4 block: every HiPPO measure builds, runs, and gives SSM parameters their hints") {
  for (const char* m : {"legs", "legt", "fout"}) {
    manual_seed(33);
    nn::SSMBlock b(s4_options(m), "s4");
    Tensor y = b.forward(randn_t({2, 16, 6}));
    CHECK(y.shape() == Shape{2, 16, 6});
    for (double v : read_all(y)) REQUIRE(std::isfinite(v));
    for (auto& p : b.named_parameters()) {
      bool ssm = p.name == "log_dt" || p.name == "log_W_real" || p.name == "W_imag" ||
                 p.name == "P" || p.name == "B";
      INFO(m << " " << p.name);
      CHECK(p.hints.lr.has_value() == ssm);
      if (ssm) CHECK_FALSE(p.hints.weight_decay);
    }
    CHECK(b.state_dict().at("P").size(0) == (std::string(m) == "legt" ? 2 : 1));
  }
}

TEST_CASE("S4 block: stepping with C recovered at l_max equals the convolution over l_max") {
  for (const char* m : {"legs", "legt", "fout"}) {
    manual_seed(36);
    auto o = s4_options(m);
    o.s4.l_max = 9;
    nn::SSMBlock b(o, "s4");
    b.eval();
    Tensor x = randn_t({2, 9, 6});
    double err = rel_error(step_through(b, x), b.forward(x));
    INFO(m << ": step vs forward " << err);
    CHECK(err <= 1e-5);
  }
  nn::SSMBlock b(s4_options("legs"), "s4");  // l_max unset
  nn::State s;
  CHECK(contains(error_of([&] { b.step(randn_t({1, 6}), s); }), "s4.l_max"));
}

TEST_CASE("Mamba with an S4D inner SSM: step equals forward, and a gradcheck in f64") {
  manual_seed(34);
  auto o = s4_options("lin");
  o.d_model = 4;
  o.s4.d_state = 4;
  o.mamba.ssm = "s4d";
  nn::Mamba m(o, 0);
  CHECK(m.state_dict().count("log_A_real"));
  m.eval();
  Tensor x = randn_t({2, 6, 4});
  CHECK(rel_error(step_through(m, x), m.forward(x)) <= 1e-5);
  m.to(DType::f64);
  Tensor x64 = randn_t({1, 5, 4}, DType::f64);
  gradcheck_module(m, [&] { return weighted_sum(m.forward(x64)); });
}

TEST_CASE("S4D LM (as bench_models row 2): step equals forward through the whole model") {
  manual_seed(35);
  auto o = s4_options("legs");
  o.layer = "s4d";
  o.norm = "layer";
  o.vocab_size = 9;
  auto model = nn::make_model(o);
  model->eval();
  Tensor ids = randint(0, 9, {2, 7});
  Tensor logits = model->forward(ids);
  nn::State state;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < 7; ++t) steps.push_back(model->step(select(ids, 1, t), state));
  CHECK(rel_error(stack(steps, 1), logits) <= 1e-5);
}

TEST_CASE("bad S4 options name the option and the allowed values") {
  auto err = [](const std::string& layer, auto change) {
    auto o = s4_options("legs");
    o.layer = layer;
    change(o);
    return error_of([&] { nn::make_model(o); });
  };
  std::string e = err("s4d", [](nn::ModelOptions& o) { o.s4.d_state = 5; });
  CHECK(contains(e, "s4.d_state must be even"));
  e = err("s4d", [](nn::ModelOptions& o) { o.s4.init = "legt"; });
  CHECK(contains(e, "unknown s4.init 'legt' for s4d"));
  CHECK(contains(e, "lin, inv, real, legs"));
  e = err("s4", [](nn::ModelOptions& o) { o.s4.init = "lin"; });
  CHECK(contains(e, "legs, legt, fout"));
  e = err("s4d", [](nn::ModelOptions& o) { o.s4.disc = "euler"; });
  CHECK(contains(e, "zoh, bilinear"));
  e = err("mamba", [](nn::ModelOptions& o) {
    o.mamba.ssm = "s4d";
    o.s4.d_state = 3;
  });
  CHECK(contains(e, "s4.d_state"));
}
