// optim: SGD / Adam / AdamW replayed against PyTorch's documented algorithms in f64 over several
// steps, parameter groups, schedules, global-norm clipping, state_dict round trips (through a
// safetensors file) and strict loading, and the bad-input errors.
#include <omp.h>

#include <cmath>
#include <filesystem>

#include "autograd/autograd.h"
#include "core/safetensors.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
using namespace coil::optim;

namespace {

// Gradient of element i at step t (1-based): fixed numbers of both signs and varied sizes.
double grad_value(int64_t i, int64_t t, int64_t which) {
  return 0.3 * std::sin(1.7 * double(i) + 0.9 * double(t) + double(which)) + 0.05 * double(i % 3) -
         0.02 * double(t);
}

std::vector<double> initial_values(int64_t n, int64_t which) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(0.7 * std::cos(0.37 * double(i) + double(which)) + 0.1);
  return v;
}

Tensor make_param(int64_t n, int64_t which, DType dt) {
  Tensor p = core::to(from_vector<double>(initial_values(n, which), {n}), dt);
  set_requires_grad(p);
  return p;
}

void set_step_grad(const Tensor& p, int64_t t, int64_t which) {
  std::vector<double> g;
  for (int64_t i = 0; i < p.numel(); ++i) g.push_back(grad_value(i, t, which));
  set_grad(p, core::to(from_vector<double>(g, p.shape()), p.dtype()));
}

// ---- the documented algorithms (pytorch.org/docs/stable/generated/torch.optim.*.html) --------

struct RefState {
  std::vector<double> p, m, v, b;
  int64_t t = 0;
};

// Adam: g += wd * p (L2). AdamW: p -= lr * wd * p (decoupled). Then
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; m^ = m / (1 - b1^t); v^ = v / (1 - b2^t);
// p -= lr m^ / (sqrt(v^) + eps).
void ref_adam(RefState& s, const std::vector<double>& grad, const Hyper& h, bool decoupled) {
  const double lr = h.lr, wd = h.weight_decay;
  if (s.m.empty()) s.m = s.v = std::vector<double>(s.p.size(), 0.0);
  ++s.t;
  for (size_t i = 0; i < s.p.size(); ++i) {
    double g = grad[i];
    if (decoupled) s.p[i] -= lr * wd * s.p[i];
    else g += wd * s.p[i];
    s.m[i] = h.beta1 * s.m[i] + (1 - h.beta1) * g;
    s.v[i] = h.beta2 * s.v[i] + (1 - h.beta2) * g * g;
    double m_hat = s.m[i] / (1 - std::pow(h.beta1, double(s.t)));
    double v_hat = s.v[i] / (1 - std::pow(h.beta2, double(s.t)));
    s.p[i] -= lr * m_hat / (std::sqrt(v_hat) + h.eps);
  }
}

// SGD: g += wd p; with momentum mu: b = g at t = 1, else b = mu b + (1 - dampening) g;
// nesterov: g = g + mu b, else g = b; p -= lr g.
void ref_sgd(RefState& s, const std::vector<double>& grad, const Hyper& h) {
  const double lr = h.lr, wd = h.weight_decay;
  if (s.b.empty()) s.b = std::vector<double>(s.p.size(), 0.0);
  ++s.t;
  for (size_t i = 0; i < s.p.size(); ++i) {
    double g = grad[i] + wd * s.p[i];
    if (h.momentum != 0) {
      s.b[i] = s.t == 1 ? g : h.momentum * s.b[i] + (1 - h.dampening) * g;
      g = h.nesterov ? g + h.momentum * s.b[i] : s.b[i];
    }
    s.p[i] -= lr * g;
  }
}

// Two groups (the second with its own hyperparameters), params of sizes 5 and 3 plus one spanning
// several chunks; steps 1..steps, and the middle parameter gets no gradient at step 2 (it must keep
// its own step count, as in PyTorch). Compares every parameter after every step.
void replay(Algorithm algo, const Hyper& h, DType dt, double rtol, int steps = 5) {
  const int64_t sizes[3] = {5, 3, 2 * kChunk + 77};
  std::vector<Tensor> p;
  std::vector<RefState> ref(3);
  for (int64_t k = 0; k < 3; ++k) {
    p.push_back(make_param(sizes[k], k, dt));
    ref[size_t(k)].p = initial_values(sizes[k], k);
  }
  // The second group overrides every hyperparameter but nesterov.
  Hyper h1 = h;
  h1.lr = 0.5 * h.lr;
  h1.weight_decay = 0.25;
  h1.beta1 = 0.7;
  h1.beta2 = 0.9;
  h1.eps = 1e-7;
  h1.momentum = h.momentum > 0 ? 0.6 : 0.0;
  h1.dampening = h.nesterov ? 0.0 : 0.1;
  ParamGroup g0{{p[0], p[1]}, {"a", "b"}};
  ParamGroup g1{.params = {p[2]},
                .names = {"c"},
                .lr = h1.lr,
                .weight_decay = h1.weight_decay,
                .beta1 = h1.beta1,
                .beta2 = h1.beta2,
                .eps = h1.eps,
                .momentum = h1.momentum,
                .dampening = h1.dampening};
  Optimizer opt(algo, {g0, g1}, h);
  const Hyper hs[3] = {h, h, h1};
  for (int64_t t = 1; t <= steps; ++t) {
    opt.zero_grad();
    for (int64_t k = 0; k < 3; ++k) {
      if (k == 1 && t == 2) continue;
      set_step_grad(p[size_t(k)], t, k);
      std::vector<double> g;
      for (int64_t i = 0; i < sizes[k]; ++i) g.push_back(grad_value(i, t, k));
      if (algo == Algorithm::sgd) ref_sgd(ref[size_t(k)], g, hs[k]);
      else ref_adam(ref[size_t(k)], g, hs[k], algo == Algorithm::adamw);
    }
    opt.step();
    for (int64_t k = 0; k < 3; ++k)
      check_close(p[size_t(k)], ref[size_t(k)].p, rtol, rtol * 1e-2,
                  fmt::format("{} param {} after step {}", algorithm_name(algo), k, t));
  }
  CHECK(opt.step_count("a") == steps);
  CHECK(opt.step_count("b") == steps - 1);
}

}  // namespace

TEST_CASE("Adam's first step moves each parameter by lr * g / (|g| + eps) (bias correction)") {
  Tensor p = from_vector<double>({1.0, -2.0, 0.25});
  set_requires_grad(p);
  set_grad(p, from_vector<double>({0.5, -4.0, 1e-3}));
  Optimizer opt(Algorithm::adam, {{{p}, {}, std::nullopt, std::nullopt}}, {.lr = 0.1});
  opt.step();
  // m^ = g, v^ = g^2 after one step, so the update is lr * g / (|g| + eps).
  check_close(p,
              {1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8),
               0.25 - 0.1 * 1e-3 / (1e-3 + 1e-8)},
              1e-15, 0, "first Adam step");
  CHECK(is_leaf(p));
  CHECK(grad_fn(p) == nullptr);
}

TEST_CASE("Adam replays PyTorch's documented update in f64 (L2 weight decay on the gradient)") {
  replay(Algorithm::adam,
         {.lr = 0.01, .weight_decay = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6}, DType::f64,
         1e-12);
}

TEST_CASE("AdamW replays PyTorch's documented update in f64 (decoupled weight decay)") {
  replay(Algorithm::adamw, {.lr = 0.02, .weight_decay = 0.05}, DType::f64, 1e-12);
}

TEST_CASE("SGD replays PyTorch's documented update in f64: plain, momentum, dampening, Nesterov") {
  replay(Algorithm::sgd, {.lr = 0.1}, DType::f64, 1e-12);
  replay(Algorithm::sgd, {.lr = 0.1, .weight_decay = 0.01}, DType::f64, 1e-12);
  replay(Algorithm::sgd, {.lr = 0.05, .momentum = 0.9, .dampening = 0.3}, DType::f64, 1e-12);
  replay(Algorithm::sgd, {.lr = 0.05, .weight_decay = 0.02, .momentum = 0.9, .nesterov = true},
         DType::f64, 1e-12);
}

TEST_CASE("f32 optimizers follow the f64 algorithms to f32 rounding") {
  replay(Algorithm::adamw, {.lr = 0.02, .weight_decay = 0.05}, DType::f32, 2e-5);
  replay(Algorithm::adam, {.lr = 0.01, .weight_decay = 0.1}, DType::f32, 2e-5);
  replay(Algorithm::sgd, {.lr = 0.05, .momentum = 0.9, .nesterov = true}, DType::f32, 2e-5);
}

TEST_CASE("the lr factor scales every group's lr from the next step on") {
  Tensor a = make_param(4, 0, DType::f64), b = make_param(4, 1, DType::f64);
  std::vector<double> a0 = initial_values(4, 0), b0 = initial_values(4, 1);
  Optimizer opt(Algorithm::sgd, {{{a}, {}, 0.1, std::nullopt}, {{b}, {}, 0.3, std::nullopt}});
  opt.set_lr_factor(0.5);
  CHECK(opt.lr(0) == doctest::Approx(0.05));
  CHECK(opt.lr(1) == doctest::Approx(0.15));
  set_step_grad(a, 1, 0);
  set_step_grad(b, 1, 1);
  opt.step();
  std::vector<double> wa, wb;
  for (int64_t i = 0; i < 4; ++i) {
    wa.push_back(a0[size_t(i)] - 0.05 * grad_value(i, 1, 0));
    wb.push_back(b0[size_t(i)] - 0.15 * grad_value(i, 1, 1));
  }
  check_close(a, wa, 1e-15, 0, "group 0");
  check_close(b, wb, 1e-15, 0, "group 1");
}

TEST_CASE("schedules are pure functions of the step: warmup, then constant, cosine or linear") {
  Schedule cos{ScheduleKind::cosine, 4, 14, 0.1};
  CHECK(lr_factor(cos, 0) == doctest::Approx(0.25));
  CHECK(lr_factor(cos, 2) == doctest::Approx(0.75));
  CHECK(lr_factor(cos, 3) == doctest::Approx(1.0));
  CHECK(lr_factor(cos, 4) == doctest::Approx(1.0));
  CHECK(lr_factor(cos, 6) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.2))));
  CHECK(lr_factor(cos, 9) == doctest::Approx(0.55));
  CHECK(lr_factor(cos, 14) == doctest::Approx(0.1));
  CHECK(lr_factor(cos, 1000) == doctest::Approx(0.1));
  Schedule lin{ScheduleKind::linear, 0, 10, 0.0};
  CHECK(lr_factor(lin, 0) == doctest::Approx(1.0));
  CHECK(lr_factor(lin, 3) == doctest::Approx(0.7));
  CHECK(lr_factor(lin, 12) == doctest::Approx(0.0));
  Schedule cst{ScheduleKind::constant, 2, 0, 0};
  CHECK(lr_factor(cst, 0) == doctest::Approx(0.5));
  CHECK(lr_factor(cst, 500) == doctest::Approx(1.0));
  CHECK(parse_schedule_kind("cosine") == ScheduleKind::cosine);

  CHECK(contains(error_of([] {
                   lr_factor({ScheduleKind::cosine, 10, 10, 0}, 0);
                 }),
                 "total_steps > warmup_steps"));
  CHECK(contains(error_of([] {
                   lr_factor({ScheduleKind::linear, 0, 10, 1.5}, 0);
                 }),
                 "min_factor must be in [0, 1]"));
  CHECK(
      contains(error_of([] { parse_schedule_kind("step"); }), "allowed: constant, cosine, linear"));
}

TEST_CASE("clip_grad_norm_ returns the global norm as a 0-dim tensor and scales the gradients") {
  Tensor a = make_param(3, 0, DType::f64), b = make_param(2 * kChunk + 5, 1, DType::f64);
  Tensor none = make_param(2, 2, DType::f64);  // no gradient: skipped
  set_step_grad(a, 1, 0);
  set_step_grad(b, 1, 1);
  double sq = 0;
  std::vector<double> ga = read_all(grad(a)), gb = read_all(grad(b));
  for (double x : ga) sq += x * x;
  for (double x : gb) sq += x * x;
  const double norm = std::sqrt(sq);

  Tensor measured = clip_grad_norm_({a, b, none}, INFINITY);
  CHECK(measured.dim() == 0);
  CHECK(measured.item<double>() == doctest::Approx(norm).epsilon(1e-14));
  check_equal(grad(a), ga, "infinite max_norm only measures");

  Tensor big = clip_grad_norm_({a, b, none}, 10 * norm);  // below the limit: unchanged
  CHECK(big.item<double>() == doctest::Approx(norm).epsilon(1e-14));
  check_equal(grad(b), gb, "norm below max_norm");

  const double max_norm = 0.25 * norm, coef = max_norm / (norm + 1e-6);
  Tensor n = clip_grad_norm_({a, b, none}, max_norm);
  CHECK(n.item<double>() == doctest::Approx(norm).epsilon(1e-14));
  for (double& x : ga) x *= coef;
  for (double& x : gb) x *= coef;
  check_close(grad(a), ga, 1e-15, 0, "clipped a");
  check_close(grad(b), gb, 1e-15, 0, "clipped b");
  CHECK(!grad(none).defined());
  CHECK(clip_grad_norm_({a, b}, INFINITY).item<double>() ==
        doctest::Approx(coef * norm).epsilon(1e-12));
}

TEST_CASE("clip_grad_norm_ gives the same bits with 1 and 2 threads, and clips strided gradients") {
  Tensor p = make_param(3 * kChunk + 11, 0, DType::f32);
  set_step_grad(p, 3, 0);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  float one = clip_grad_norm_({p}, INFINITY).item<float>();
  omp_set_num_threads(2);
  float two = clip_grad_norm_({p}, INFINITY).item<float>();
  omp_set_num_threads(threads);
  CHECK(one == two);

  Tensor q = make_param(6, 1, DType::f64);
  Tensor strided =
      core::slice(from_vector<double>({3, 9, 0, 9, 0, 9, 4, 9, 0, 9, 0, 9}), 0, 0, 12, 2);
  set_grad(q, strided);
  Tensor n = clip_grad_norm_({q}, 1.0);
  CHECK(n.item<double>() == doctest::Approx(5.0));
  check_close(grad(q), {3 / (5 + 1e-6), 0, 0, 4 / (5 + 1e-6), 0, 0}, 1e-15, 0, "strided grad");
}

TEST_CASE("optimizer state_dict round-trips through safetensors and resumes bitwise") {
  namespace fs = std::filesystem;
  const fs::path file =
      fs::temp_directory_path() / fmt::format("coil_optim_{}.safetensors", getpid());
  for (Algorithm algo : {Algorithm::adamw, Algorithm::sgd}) {
    INFO(algorithm_name(algo));
    Hyper h{.lr = 0.01, .weight_decay = 0.01, .momentum = 0.9};
    Tensor a = make_param(7, 0, DType::f32), b = make_param(3, 1, DType::f32);
    Optimizer opt(algo, {{{a, b}, {"layers.0.w", "layers.0.b"}, std::nullopt, std::nullopt}}, h);
    for (int64_t t = 1; t <= 3; ++t) {
      set_step_grad(a, t, 0);
      if (t != 2) set_step_grad(b, t, 1);
      else zero_grad(b);
      opt.step();
    }
    TensorDict sd = opt.state_dict();
    CHECK(sd.at("state.layers.0.w.step").item<int64_t>() == 3);
    CHECK(sd.at("state.layers.0.b.step").item<int64_t>() == 2);
    CHECK(sd.count(algo == Algorithm::sgd ? "state.layers.0.w.momentum_buffer"
                                          : "state.layers.0.w.exp_avg_sq") == 1);
    CHECK(sd.size() == (algo == Algorithm::sgd ? 4u : 6u));
    write_safetensors(file.string(), sd);

    Tensor a2 = core::clone(a), b2 = core::clone(b);
    set_requires_grad(a2);
    set_requires_grad(b2);
    Optimizer resumed(algo, {{{a2, b2}, {"layers.0.w", "layers.0.b"}, std::nullopt, std::nullopt}},
                      h);
    resumed.load_state_dict(read_safetensors(file.string()).tensors);
    CHECK(resumed.step_count("layers.0.b") == 2);
    for (int64_t t = 4; t <= 6; ++t) {
      set_step_grad(a, t, 0);
      set_step_grad(b, t, 1);
      set_step_grad(a2, t, 0);
      set_step_grad(b2, t, 1);
      opt.step();
      resumed.step();
    }
    CHECK(read_all(a2) == read_all(a));
    CHECK(read_all(b2) == read_all(b));
  }
  fs::remove(file);
}

TEST_CASE("SGD keeps a momentum buffer only for the groups with momentum") {
  Tensor a = make_param(3, 0, DType::f64), b = make_param(3, 1, DType::f64);
  Optimizer opt(Algorithm::sgd,
                {{.params = {a}, .names = {"a"}}, {.params = {b}, .names = {"b"}, .momentum = 0.9}},
                {.lr = 0.1});
  set_step_grad(a, 1, 0);
  set_step_grad(b, 1, 1);
  opt.step();
  TensorDict sd = opt.state_dict();
  CHECK(sd.size() == 3);
  CHECK(sd.count("state.b.momentum_buffer") == 1);
  check_close(sd.at("state.b.momentum_buffer"),
              {grad_value(0, 1, 1), grad_value(1, 1, 1), grad_value(2, 1, 1)}, 0, 0,
              "the buffer starts as the first gradient");
  sd["state.a.momentum_buffer"] = zeros({3}, {DType::f64, Device::cpu()});
  CHECK(contains(error_of([&] { opt.load_state_dict(sd); }),
                 "unexpected key 'state.a.momentum_buffer': sgd (momentum 0) keeps only step"));
}

TEST_CASE("load_state_dict refuses missing, unexpected, mis-shaped and mis-typed keys by name") {
  Tensor a = make_param(4, 0, DType::f32);
  Optimizer opt(Algorithm::adam, {{{a}, {"w"}, std::nullopt, std::nullopt}});
  set_step_grad(a, 1, 0);
  opt.step();
  const TensorDict good = opt.state_dict();
  const std::vector<double> m_before = read_all(good.at("state.w.exp_avg"));
  auto load_error = [&](TensorDict sd) { return error_of([&] { opt.load_state_dict(sd); }); };

  TensorDict sd = good;
  sd.erase("state.w.exp_avg_sq");
  CHECK(contains(load_error(sd), "missing key 'state.w.exp_avg_sq'"));
  sd = good;
  sd.erase("state.w.step");
  CHECK(contains(load_error(sd), "missing key 'state.w.step'"));
  sd = good;
  sd["state.v.exp_avg"] = zeros({4});
  CHECK(contains(load_error(sd), "unexpected key 'state.v.exp_avg': no parameter named 'v'"));
  sd = good;
  sd["state.w.momentum_buffer"] = zeros({4});
  CHECK(contains(load_error(sd), "unexpected key 'state.w.momentum_buffer'"));
  sd = good;
  sd["lr"] = zeros({});
  CHECK(contains(load_error(sd), "unexpected key 'lr'"));
  sd = good;
  sd["state.w.exp_avg"] = zeros({2, 2});
  CHECK(contains(load_error(sd),
                 "key 'state.w.exp_avg' has shape (2, 2) but parameter 'w' has shape (4,)"));
  sd = good;
  sd["state.w.exp_avg"] = zeros({4}, {DType::f64, Device::cpu()});
  CHECK(contains(load_error(sd),
                 "key 'state.w.exp_avg' has dtype f64 but parameter 'w' has dtype f32"));
  sd = good;
  sd["state.w.step"] = from_vector<int64_t>({0});
  CHECK(contains(load_error(sd), "positive whole step count"));
  // Refused loads changed nothing.
  CHECK(read_all(opt.state_dict().at("state.w.exp_avg")) == m_before);
  CHECK(opt.step_count("w") == 1);
  // An empty dict is valid: it resets the optimizer.
  opt.load_state_dict({});
  CHECK(opt.step_count("w") == 0);
  CHECK(opt.state_dict().empty());
}

TEST_CASE("optimizer construction rejects bad hyperparameters and parameters, naming them") {
  Tensor a = make_param(4, 0, DType::f32);
  auto ctor_error = [&](Algorithm algo, std::vector<ParamGroup> groups, Hyper h) {
    return error_of([&] { Optimizer(algo, std::move(groups), h); });
  };
  ParamGroup one{{a}, {}, std::nullopt, std::nullopt};
  CHECK(
      contains(ctor_error(Algorithm::adam, {one}, {.lr = -1}), "lr must be a finite number >= 0"));
  CHECK(contains(ctor_error(Algorithm::adam, {one}, {.beta2 = 1.0}), "beta2 must be in [0, 1)"));
  CHECK(contains(
      ctor_error(Algorithm::sgd, {one}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
      "nesterov needs momentum > 0 and dampening 0"));
  CHECK(contains(ctor_error(Algorithm::sgd, {{{a}, {}, std::nullopt, -0.5}}, {}),
                 "weight_decay must be a finite number >= 0"));
  CHECK(contains(ctor_error(Algorithm::sgd, {one, one}, {}), "same tensor as an earlier"));
  Tensor b = make_param(4, 1, DType::f32);
  CHECK(contains(ctor_error(Algorithm::adam, {one, {.params = {b}, .beta1 = 1.5}}, {}),
                 "beta1 must be in [0, 1), got 1.5 in parameter group 1"));
  CHECK(contains(ctor_error(Algorithm::sgd, {{{a, b}, {"x", "x"}, std::nullopt, std::nullopt}}, {}),
                 "parameter name 'x' appears twice"));
  CHECK(contains(ctor_error(Algorithm::sgd, {{{a, b}, {"x"}, std::nullopt, std::nullopt}}, {}),
                 "group 0 has 2 parameters but 1 names"));
  Tensor ints = zeros({3}, {DType::i32, Device::cpu()});
  CHECK(contains(ctor_error(Algorithm::sgd, {{{ints}, {}, std::nullopt, std::nullopt}}, {}),
                 "must be f32 or f64"));
  Tensor strided = core::slice(zeros({8}), 0, 0, 8, 2);
  CHECK(contains(ctor_error(Algorithm::sgd, {{{strided}, {}, std::nullopt, std::nullopt}}, {}),
                 "must be contiguous"));
  CHECK(contains(error_of([] { parse_algorithm("lamb"); }), "allowed: sgd, adam, adamw"));

  Optimizer opt(Algorithm::sgd, {one}, {});
  set_grad(a, zeros({4}, {DType::f64, Device::cpu()}));
  CHECK(contains(error_of([&] { opt.step(); }), "gradient of '0' is f64 (4,) on cpu"));
  CHECK(contains(error_of([] { clip_grad_norm_({}, 0.0); }), "max_norm must be > 0"));
}
