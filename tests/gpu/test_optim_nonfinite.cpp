// optim's non-finite handling on CUDA: clip_grad_norm_ names the same first NaN/Inf gradient
// as on the CPU, the flag records the same step, and a set flag, read by the update kernel,
// leaves every parameter and buffer bitwise unchanged.
#include <doctest/doctest.h>

#include <limits>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/nonfinite.h"
#include "optim/optimizer.h"

using namespace coil;
using namespace coil::optim;

namespace {

// Three parameters (one spanning several chunks), with a NaN planted in `bad` at element `at`.
std::vector<Tensor> params_on(Device d, int bad, int64_t at) {
  Generator g(3);
  std::vector<Tensor> out;
  for (int64_t n : {int64_t(100), 3 * kChunk + 9, int64_t(40)}) {
    Tensor p = core::to(randn({n}, {DType::f32, Device::cpu()}, &g), d);
    set_requires_grad(p);
    std::vector<float> gv = randn({n}, {DType::f32, Device::cpu()}, &g).to_vector<float>();
    if (int(out.size()) == bad) gv[size_t(at)] = std::numeric_limits<float>::quiet_NaN();
    set_grad(p, core::to(from_vector<float>(gv, {n}), d));
    out.push_back(p);
  }
  return out;
}

int64_t first_bad(const std::vector<Tensor>& params) {
  Tensor first;
  clip_grad_norm_(params, 1.0, &first);
  return first.item<int64_t>();
}

}  // namespace

TEST_CASE("CUDA clip_grad_norm_ names the same first non-finite gradient as the CPU") {
  for (auto [bad, at] : {std::pair{-1, int64_t(0)}, {2, int64_t(5)}, {1, 2 * kChunk + 3}}) {
    INFO("NaN in parameter " << bad << " at " << at);
    int64_t cpu = first_bad(params_on(Device::cpu(), bad, at));
    CHECK(cpu == bad);
    CHECK(first_bad(params_on(Device::cuda(), bad, at)) == cpu);
  }
}

TEST_CASE("CUDA clip_grad_norm_ names the first non-finite gradient past one launch's batch") {
  // 1200 small gradients: more than one launch's descriptors (optim/cuda.cu's Batch).
  for (int bad : {-1, 5, 1100}) {
    INFO("NaN in parameter " << bad);
    std::vector<Tensor> params;
    for (int i = 0; i < 1200; ++i) {
      Tensor p = full({3}, 1.0, {DType::f32, Device::cuda()});
      set_requires_grad(p);
      std::vector<float> gv = {0.5f, float(i % 7), -1.0f};
      if (i == bad) gv[1] = std::numeric_limits<float>::infinity();
      set_grad(p, core::to(from_vector<float>(gv, {3}), Device::cuda()));
      params.push_back(p);
    }
    CHECK(first_bad(params) == bad);
  }
}

TEST_CASE("on CUDA a set flag leaves parameters and Adam state unchanged; a clean one updates") {
  std::vector<Tensor> p = params_on(Device::cuda(), 1, 7);
  Optimizer opt(Algorithm::adamw, {{.params = p}}, {.lr = 0.01, .weight_decay = 0.1});
  Tensor flag = nonfinite_flag(Device::cuda());
  Tensor first;
  Tensor norm = clip_grad_norm_(p, INFINITY, &first);
  record_nonfinite(flag, scalar_tensor(0.5, {DType::f32, Device::cuda()}), norm, first, 4);
  std::vector<std::vector<float>> before;
  for (const Tensor& t : p) before.push_back(core::to(t, Device::cpu()).to_vector<float>());
  opt.step(flag);
  for (size_t i = 0; i < p.size(); ++i)
    CHECK(core::to(p[i], Device::cpu()).to_vector<float>() == before[i]);
  for (const auto& [key, t] : opt.state_dict())
    if (key.find(".exp_avg") != std::string::npos)
      for (float x : core::to(t, Device::cpu()).to_vector<float>()) REQUIRE(x == 0.0f);
  NonfiniteRecord r = decode_nonfinite(core::to(flag, Device::cpu()).data<int64_t>());
  CHECK(r.step == 4);
  CHECK(r.grad);
  CHECK_FALSE(r.loss);
  CHECK(r.param == 1);
  opt.uncount_steps(1);

  std::vector<Tensor> q = params_on(Device::cuda(), -1, 0);
  Optimizer clean(Algorithm::adamw, {{.params = q}}, {.lr = 0.01});
  Tensor zero = nonfinite_flag(Device::cuda());
  std::vector<float> q0 = core::to(q[0], Device::cpu()).to_vector<float>();
  clean.step(zero);
  CHECK(core::to(q[0], Device::cpu()).to_vector<float>() != q0);
}
