// optim's non-finite handling: clip_grad_norm_ names the first NaN/Inf gradient, the flag of
// optim/nonfinite.h keeps the first bad step, a set flag makes step() change nothing, and
// uncount_steps() gives back the step counts of skipped updates.
#include <cmath>
#include <limits>
#include <map>

#include "autograd/autograd.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/nonfinite.h"
#include "optim/optimizer.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
using namespace coil::optim;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor param(int64_t n, double start) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(start + 0.01 * double(i % 97));
  Tensor p = from_vector<double>(v, {n});
  set_requires_grad(p);
  return p;
}

// A gradient of varied finite values with `bad` at element `at` (if at >= 0).
void set_grad_with(const Tensor& p, int64_t at, double bad) {
  std::vector<double> g;
  for (int64_t i = 0; i < p.numel(); ++i) g.push_back(0.1 * std::sin(double(i)) + 0.05);
  if (at >= 0) g[size_t(at)] = bad;
  set_grad(p, from_vector<double>(g, {p.numel()}));
}

int64_t first_bad_of(const std::vector<Tensor>& params) {
  Tensor first;
  clip_grad_norm_(params, INFINITY, &first);
  REQUIRE(first.dim() == 0);
  return first.item<int64_t>();
}

// Every state tensor of `opt`, copied, by key.
std::map<std::string, std::vector<double>> state_of(const Optimizer& opt) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [k, t] : opt.state_dict()) out[k] = read_all(t);
  return out;
}

}  // namespace

TEST_CASE("clip_grad_norm_ names the first parameter whose gradient holds a NaN or Inf") {
  Tensor a = param(3, 0.5), none = param(4, 0.1), b = param(2 * kChunk + 5, -0.2),
         c = param(10, 0.3);
  const std::vector<Tensor> params = {a, none, b, c};  // `none` has no gradient: not a span
  set_grad_with(a, -1, 0);
  set_grad_with(b, -1, 0);
  set_grad_with(c, -1, 0);
  CHECK(first_bad_of(params) == -1);

  set_grad_with(c, 7, kNaN);
  CHECK(first_bad_of(params) == 3);
  set_grad_with(b, 2 * kChunk + 1, -kInf);  // in b's third chunk: b comes first
  Tensor first;
  Tensor norm = clip_grad_norm_(params, 1.0, &first);
  CHECK(first.item<int64_t>() == 2);
  CHECK(std::isnan(norm.item<double>()));
  set_grad_with(c, -1, 0);
  set_grad_with(b, -1, 0);
  set_grad_with(a, 0, kInf);
  CHECK(first_bad_of(params) == 0);

  Tensor unset;
  clip_grad_norm_({none}, INFINITY, &unset);  // no gradient at all
  CHECK(unset.item<int64_t>() == -1);
}

TEST_CASE("the non-finite flag keeps the first bad step, what was bad and the parameter") {
  Tensor flag = nonfinite_flag(Device::cpu());
  auto value = [](double v) { return scalar_tensor(v, {DType::f32}); };
  Tensor first = scalar_tensor(5, {DType::i64});
  record_nonfinite(flag, value(1.5), value(2.0), first, 1);
  CHECK(decode_nonfinite(flag.data<int64_t>()).step == 0);
  record_nonfinite(flag, value(0.5), value(kInf), first, 2);
  NonfiniteRecord r = decode_nonfinite(flag.data<int64_t>());
  CHECK(r.step == 2);
  CHECK_FALSE(r.loss);
  CHECK(r.grad);
  CHECK(r.param == 5);
  record_nonfinite(flag, value(kNaN), value(kNaN), Tensor(), 3);  // later steps change nothing
  r = decode_nonfinite(flag.data<int64_t>());
  CHECK(r.step == 2);
  CHECK_FALSE(r.loss);

  Tensor f64 = nonfinite_flag(Device::cpu());
  record_nonfinite(f64, scalar_tensor(kNaN, {DType::f64}), scalar_tensor(1.0, {DType::f64}),
                   Tensor(), 7);
  r = decode_nonfinite(f64.data<int64_t>());
  CHECK(r.step == 7);
  CHECK(r.loss);
  CHECK_FALSE(r.grad);
  CHECK(r.param == -1);

  CHECK(contains(error_of([&] { record_nonfinite(flag, value(1), value(1), first, 0); }),
                 "step must be positive"));
  CHECK(contains(
      error_of([&] { record_nonfinite(flag, value(1), scalar_tensor(1, {DType::i64}), first, 4); }),
      "loss and grad norm must be one f32/f64 value"));
  CHECK(contains(error_of([&] { record_nonfinite(value(0), value(1), value(1), first, 4); }),
                 "the flag must be nonfinite_flag()'s i64 tensor"));
}

TEST_CASE(
    "a set flag makes step() change no parameter or state; uncount_steps gives the counts back") {
  for (Algorithm algo : {Algorithm::adamw, Algorithm::sgd}) {
    INFO(algorithm_name(algo));
    Tensor p = param(kChunk + 3, 0.4), q = param(5, -0.3);
    Optimizer opt(algo, {{.params = {p, q}, .names = {"p", "q"}}},
                  {.lr = 0.05, .weight_decay = 0.01, .momentum = 0.9});
    set_grad_with(p, -1, 0);
    set_grad_with(q, -1, 0);
    Tensor flag = nonfinite_flag(Device::cpu());
    opt.step(flag);  // a clean flag: a normal update
    CHECK(opt.step_count("p") == 1);
    const std::vector<double> p1 = read_all(p), q1 = read_all(q);
    CHECK(p1 != read_all(param(kChunk + 3, 0.4)));
    const auto state1 = state_of(opt);

    record_nonfinite(flag, scalar_tensor(kNaN), scalar_tensor(1.0), Tensor(), 2);
    opt.step(flag);
    opt.step(flag);
    CHECK(read_all(p) == p1);
    CHECK(read_all(q) == q1);
    CHECK(opt.step_count("p") == 3);  // the host cannot know
    opt.uncount_steps(2);
    CHECK(opt.step_count("p") == 1);
    CHECK(state_of(opt) == state1);
    CHECK(contains(error_of([&] { opt.uncount_steps(2); }), "only the last 1 are remembered"));
  }
  // A skipped first step leaves no state behind once uncounted (SGD's momentum buffer would
  // otherwise start from uninitialised memory).
  Tensor p = param(8, 0.2);
  Optimizer sgd(Algorithm::sgd, {{.params = {p}}}, {.lr = 0.1, .momentum = 0.9});
  Tensor flag = nonfinite_flag(Device::cpu());
  record_nonfinite(flag, scalar_tensor(1.0), scalar_tensor(kInf), Tensor(), 1);
  set_grad_with(p, -1, 0);
  const std::vector<double> p0 = read_all(p);
  sgd.step(flag);
  CHECK(read_all(p) == p0);
  sgd.uncount_steps(1);
  CHECK(sgd.state_dict().empty());
  CHECK(sgd.step_count("0") == 0);
  CHECK(contains(error_of([&] { sgd.step(scalar_tensor(1.0)); }), "skip must be an i64 flag"));
}
