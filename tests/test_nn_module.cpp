// nn::Module and the basic modules: hierarchical names, hints, strict state-dict loading,
// train/eval, dtype moves, and each basic module against a direct computation.
#include <doctest/doctest.h>

#include <fmt/ranges.h>

#include "core/factory.h"
#include "core/random.h"
#include "nn/layers.h"
#include "ops/elementwise/elementwise.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"
#include "tests/test_nn_support.h"

using namespace coil;
using namespace coil::testing;

namespace {

// Two levels of nesting, a buffer, a hinted parameter and a tied tensor.
struct Inner : nn::Module {
  Inner() : Module("Inner") {
    proj = register_module("proj", nn::make<nn::Linear>(3, 4));
    A_log = register_parameter("A_log", randn_t({4, 2}), {.lr = 1e-3, .weight_decay = false});
    steps = register_buffer("steps", zeros({1}, {DType::i64}));
  }
  std::shared_ptr<nn::Linear> proj;
  Tensor A_log, steps;
};
struct Outer : nn::Module {
  Outer() : Module("Outer") {
    emb = register_module("embedding", nn::make<nn::Embedding>(5, 3));
    register_module("layers0", std::make_shared<Inner>());
    head = register_parameter("head", emb->weight);  // tied
  }
  std::shared_ptr<nn::Embedding> emb;
  Tensor head;
};

}  // namespace

TEST_CASE("named_parameters gives hierarchical names, hints, and tied tensors once") {
  Outer m;
  auto ps = m.named_parameters();
  std::vector<std::string> names;
  for (auto& p : ps) names.push_back(p.name);
  // Own parameters come before children's (as PyTorch); a tied tensor keeps its first name.
  INFO(fmt::format("{}", fmt::join(names, " ")));
  CHECK(names == std::vector<std::string>{"head", "layers0.A_log", "layers0.proj.weight",
                                          "layers0.proj.bias"});
  CHECK(ps[1].hints.lr == 1e-3);
  CHECK_FALSE(ps[1].hints.weight_decay);
  CHECK(ps[2].hints.weight_decay);
  CHECK_FALSE(ps[3].hints.weight_decay);  // biases
  CHECK(m.num_parameters() == 5 * 3 + 4 * 3 + 4 + 8);
  auto sd = m.state_dict();
  CHECK(sd.size() == 6);  // the tied head appears under its own name too, and the buffer
  CHECK(sd.count("head"));
  CHECK(sd.count("layers0.steps"));
  CHECK(m.named_buffers().at(0).first == "layers0.steps");
}

TEST_CASE("load_state_dict copies values into the same tensors and round-trips outputs") {
  manual_seed(1);
  Outer a;
  manual_seed(2);
  Outer b;
  Tensor before = b.emb->weight;
  CHECK(rel_error(a.emb->weight, b.emb->weight) > 0.1);
  b.load_state_dict(a.state_dict());
  CHECK(b.emb->weight.is_same(before));  // identity kept
  CHECK(rel_error(b.head, a.emb->weight) == 0);
  Tensor x = randn_t({2, 3});
  auto* ia = static_cast<Inner*>(a.named_children()[1].second.get());
  auto* ib = static_cast<Inner*>(b.named_children()[1].second.get());
  CHECK(rel_error(ib->proj->forward(x), ia->proj->forward(x)) == 0);
}

TEST_CASE("strict load_state_dict names a missing, unexpected, mis-shaped or mis-typed key") {
  Outer m;
  auto sd = m.state_dict();
  auto missing = sd;
  missing.erase("layers0.A_log");
  std::string e = error_of([&] { m.load_state_dict(missing); });
  CHECK(contains(e, "missing key 'layers0.A_log'"));
  CHECK(contains(e, "(4, 2)"));

  auto extra = sd;
  extra["layers0.B"] = zeros({7});
  e = error_of([&] { m.load_state_dict(extra); });
  CHECK(contains(e, "unexpected key 'layers0.B'"));
  CHECK(contains(e, shape_str({7})));

  auto shaped = sd;
  shaped["layers0.proj.weight"] = zeros({3, 4});
  e = error_of([&] { m.load_state_dict(shaped); });
  CHECK(contains(e, "'layers0.proj.weight'"));
  CHECK(contains(e, "shape (3, 4) in the state dict but (4, 3) in the module"));

  auto typed = sd;
  typed["layers0.A_log"] = zeros({4, 2}, {DType::f64});
  e = error_of([&] { m.load_state_dict(typed); });
  CHECK(contains(e, "'layers0.A_log'"));
  CHECK(contains(e, "f64"));
  CHECK(contains(e, "f32"));
  CHECK(contains(e, "(4, 2)"));

  // Nothing was written by the failed loads.
  CHECK(rel_error(m.state_dict().at("layers0.A_log"), sd.at("layers0.A_log")) == 0);
}

TEST_CASE("to(dtype) converts in place; integer buffers stay; parameters keep requiring grad") {
  Outer m;
  Tensor w = m.emb->weight;
  auto want = host_values(w);
  m.to(DType::f64);
  CHECK(w.dtype() == DType::f64);
  CHECK(m.head.dtype() == DType::f64);  // tied: the same handle
  CHECK(requires_grad(w));
  CHECK(host_values(w) == want);
  CHECK(m.state_dict().at("layers0.steps").dtype() == DType::i64);
  CHECK(contains(error_of([&] { m.to(DType::i32); }), "floating"));
}

TEST_CASE("registration rejects dotted and duplicate names") {
  struct Bad : nn::Module {
    explicit Bad(int which) : Module("Bad") {
      if (which == 0) register_parameter("a.b", zeros({1}));
      if (which == 1) {
        register_parameter("a", zeros({1}));
        register_buffer("a", zeros({1}));
      }
    }
  };
  CHECK(contains(error_of([] { Bad b(0); }), "'a.b'"));
  CHECK(contains(error_of([] { Bad b(1); }), "already registered"));
}

TEST_CASE("Linear, LayerNorm, RMSNorm and GLU match direct computations") {
  manual_seed(3);
  nn::Linear lin(3, 2);
  Tensor x = randn_t({4, 3});
  auto xv = read_all(x), wv = read_all(lin.weight), bv = read_all(lin.bias);
  std::vector<double> want;
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 2; ++o) {
      double s = bv[o];
      for (int k = 0; k < 3; ++k) s += xv[i * 3 + k] * wv[o * 3 + k];
      want.push_back(s);
    }
  check_close(lin.forward(x), want, 1e-5, 1e-6, "linear");

  nn::RMSNorm rms(3);
  std::vector<double> rwant;
  for (int i = 0; i < 4; ++i) {
    double ms = 0;
    for (int k = 0; k < 3; ++k) ms += xv[i * 3 + k] * xv[i * 3 + k] / 3;
    for (int k = 0; k < 3; ++k) rwant.push_back(xv[i * 3 + k] / std::sqrt(ms + 1e-5));
  }
  check_close(rms.forward(x), rwant, 1e-5, 1e-6, "rms");

  nn::LayerNorm ln(3);
  Tensor y = ln.forward(x);
  auto yv = read_all(y);
  for (int i = 0; i < 4; ++i) CHECK(std::abs(yv[i * 3] + yv[i * 3 + 1] + yv[i * 3 + 2]) < 1e-5);

  nn::GLU glu;
  Tensor g = glu.forward(randn_t({2, 4}));
  CHECK(g.shape() == Shape{2, 2});
}

TEST_CASE("BatchNorm over (B, L, H) uses batch statistics in training and running ones in eval") {
  nn::BatchNorm bn(3, 0.5);
  Tensor x = add(mul(randn_t({2, 5, 3}), 2.0), 1.0);
  Tensor y = bn.forward(x);
  auto xv = read_all(x), yv = read_all(y);
  for (int h = 0; h < 3; ++h) {
    double mean = 0, var = 0;
    for (int i = 0; i < 10; ++i) mean += xv[i * 3 + h] / 10;
    for (int i = 0; i < 10; ++i) var += (xv[i * 3 + h] - mean) * (xv[i * 3 + h] - mean) / 10;
    for (int i = 0; i < 10; ++i)
      CHECK(yv[i * 3 + h] ==
            doctest::Approx((xv[i * 3 + h] - mean) / std::sqrt(var + 1e-5)).epsilon(1e-4));
    CHECK(read_all(bn.running_mean)[h] == doctest::Approx(0.5 * mean).epsilon(1e-5));
  }
  bn.eval();
  auto rm = read_all(bn.running_mean), rv = read_all(bn.running_var);
  auto ev = read_all(bn.forward(x));
  for (int i = 0; i < 10; ++i)
    for (int h = 0; h < 3; ++h)
      CHECK(ev[i * 3 + h] ==
            doctest::Approx((xv[i * 3 + h] - rm[h]) / std::sqrt(rv[h] + 1e-5)).epsilon(1e-4));
  CHECK(bn.forward(randn_t({4, 3})).shape() == Shape{4, 3});  // one step: (B, H)
}

TEST_CASE("Dropout is off in eval and, tied, drops the same channels at every position") {
  nn::Dropout d(0.5, true);
  Tensor x = ones({2, 6, 8});
  Tensor y = d.forward(x);
  auto yv = read_all(y);
  int zeros_seen = 0;
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 8; ++h)
      for (int t = 0; t < 6; ++t) {
        CHECK(yv[(b * 6 + t) * 8 + h] == yv[b * 6 * 8 + h]);
        zeros_seen += yv[(b * 6 + t) * 8 + h] == 0;
      }
  CHECK(zeros_seen > 0);
  CHECK(zeros_seen < 2 * 6 * 8);
  d.eval();
  CHECK(d.forward(x).is_same(x));
  CHECK(contains(error_of([] { nn::Dropout bad(1.5); }), "p must lie in [0, 1)"));
}

TEST_CASE("Conv1d is causal: changing a later input leaves earlier outputs unchanged") {
  nn::Conv1d conv(3, 4);
  Tensor x = randn_t({1, 7, 3});
  auto y0 = read_all(conv.forward(x));
  Tensor x2 = core::clone(x);
  x2.data<float>()[5 * 3 + 1] += 1.0f;
  auto y1 = read_all(conv.forward(x2));
  for (int t = 0; t < 5; ++t)
    for (int c = 0; c < 3; ++c) CHECK(y0[t * 3 + c] == y1[t * 3 + c]);
  CHECK(y0[5 * 3 + 1] != y1[5 * 3 + 1]);
}

TEST_CASE("gradcheck of a small Linear -> Conv1d -> LayerNorm stack in f64") {
  struct Stack : nn::Module {
    Stack() : Module("Stack") {
      lin = register_module("lin", nn::make<nn::Linear>(3, 4));
      conv = register_module("conv", nn::make<nn::Conv1d>(4, 3));
      norm = register_module("norm", nn::make<nn::LayerNorm>(4));
    }
    std::shared_ptr<nn::Linear> lin;
    std::shared_ptr<nn::Conv1d> conv;
    std::shared_ptr<nn::LayerNorm> norm;
  };
  Stack s;
  s.to(DType::f64);
  Tensor x = randn_t({2, 5, 3}, DType::f64);
  gradcheck_module(
      s, [&] { return weighted_sum(s.norm->forward(s.conv->forward(s.lin->forward(x)))); });
}
