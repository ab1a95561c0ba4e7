// optim on CUDA: the multi-tensor update equals the CPU update (1e-6) for every algorithm over
// several steps and many tensors of mixed sizes; clipping gives the CPU's norm and gradients and
// is bitwise reproducible; state dicts move between devices, also through a safetensors file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/optimizer.h"
#include "tests/support/compare.h"

using namespace coil;
using namespace coil::optim;

namespace {

// Sizes crossing chunk boundaries, an empty tensor, and many small ones (like biases): more
// tensors than one launch's descriptors hold (optim/cuda.cu's Batch: ~230 updates, ~990 spans).
std::vector<Shape> shapes() {
  std::vector<Shape> s = {{3 * kChunk + 17}, {64, 65}, {0}, {1}, {kChunk}, {7, 3, 5}};
  for (int i = 0; i < 1100; ++i) s.push_back({int64_t(1 + (i % 40) * 13)});
  return s;
}

std::vector<Tensor> make_params(Device device, uint64_t seed) {
  Generator g(seed);
  std::vector<Tensor> out;
  for (const Shape& s : shapes()) {
    Tensor p = core::to(randn(s, {DType::f32, Device::cpu()}, &g), device);
    set_requires_grad(p);
    out.push_back(p);
  }
  return out;
}

// The same gradients on either device: drawn on the host, scaled, then copied.
void set_grads(const std::vector<Tensor>& params, uint64_t seed, double scale) {
  Generator g(seed);
  for (const Tensor& p : params) {
    std::vector<float> v = randn(p.shape(), {DType::f32, Device::cpu()}, &g).to_vector<float>();
    for (float& x : v) x = float(x * scale);
    set_grad(p, core::to(from_vector<float>(v, p.shape()), p.device()));
  }
}

std::vector<ParamGroup> groups_of(const std::vector<Tensor>& p) {
  // Two groups: own lr and weight decay on the second.
  ParamGroup a, b;
  for (size_t i = 0; i < p.size(); ++i) (i % 3 == 0 ? b : a).params.push_back(p[i]);
  b.lr = 3e-3;
  b.weight_decay = 0.0;
  return {a, b};
}

}  // namespace

TEST_CASE("CUDA multi-tensor update equals the CPU update to 1e-6 for SGD, Adam and AdamW") {
  struct Case {
    Algorithm algo;
    Hyper h;
  };
  const Case cases[] = {
      {Algorithm::adamw, {.lr = 1e-2, .weight_decay = 0.1}},
      {Algorithm::adam, {.lr = 1e-2, .weight_decay = 0.05, .beta1 = 0.8, .beta2 = 0.95}},
      {Algorithm::sgd, {.lr = 0.05, .weight_decay = 0.01, .momentum = 0.9, .nesterov = true}},
      {Algorithm::sgd, {.lr = 0.05, .momentum = 0.5, .dampening = 0.2}},
      {Algorithm::sgd, {.lr = 0.05}},
  };
  for (const Case& c : cases) {
    INFO(algorithm_name(c.algo) << " momentum " << c.h.momentum);
    auto cpu = make_params(Device::cpu(), 5), gpu = make_params(Device::cuda(), 5);
    Optimizer oc(c.algo, groups_of(cpu), c.h), og(c.algo, groups_of(gpu), c.h);
    for (int t = 1; t <= 6; ++t) {
      set_grads(cpu, 100 + t, 0.1 * t);
      set_grads(gpu, 100 + t, 0.1 * t);
      if (t == 3) {  // a parameter without a gradient is skipped on both
        zero_grad(cpu[1]);
        zero_grad(gpu[1]);
      }
      oc.step();
      og.step();
    }
    double worst = 0;
    for (size_t i = 0; i < cpu.size(); ++i) {
      CHECK(gpu[i].device().is_cuda());
      worst = std::max(worst, testing::rel_error(gpu[i], cpu[i]));
    }
    INFO("max relative difference " << worst);
    CHECK(worst <= 1e-6);
    auto sc = oc.state_dict(), sg = og.state_dict();
    REQUIRE(sc.size() == sg.size());
    for (const auto& [k, v] : sc) CHECK(testing::rel_error(sg.at(k), v) <= 1e-6);
  }
}

TEST_CASE("CUDA clip_grad_norm_ matches the CPU and is bitwise reproducible") {
  auto cpu = make_params(Device::cpu(), 7), gpu = make_params(Device::cuda(), 7);
  set_grads(cpu, 9, 1.0);
  set_grads(gpu, 9, 1.0);
  Tensor measured = clip_grad_norm_(gpu, INFINITY);
  CHECK(measured.device().is_cuda());
  CHECK(measured.dim() == 0);
  Tensor again = clip_grad_norm_(gpu, INFINITY);
  CHECK(testing::bitwise_equal(measured, again));

  const double norm = clip_grad_norm_(cpu, INFINITY).item<double>();
  CHECK(measured.item<double>() == doctest::Approx(norm).epsilon(1e-6));
  Tensor nc = clip_grad_norm_(cpu, 0.5), ng = clip_grad_norm_(gpu, 0.5);
  CHECK(ng.item<double>() == doctest::Approx(nc.item<double>()).epsilon(1e-6));
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    worst = std::max(worst, testing::rel_error(grad(gpu[i]), grad(cpu[i])));
  CHECK(worst <= 1e-6);
  CHECK(clip_grad_norm_(gpu, INFINITY).item<double>() == doctest::Approx(0.5).epsilon(1e-5));
}

TEST_CASE("optimizer state saved on CUDA loads on the CPU and continues identically") {
  auto gpu = make_params(Device::cuda(), 11), cpu = make_params(Device::cpu(), 11);
  Hyper h{.lr = 1e-2, .weight_decay = 0.1};
  Optimizer og(Algorithm::adamw, groups_of(gpu), h), oc(Algorithm::adamw, groups_of(cpu), h);
  for (int t = 1; t <= 2; ++t) {
    set_grads(gpu, 50 + t, 1.0);
    og.step();
  }
  for (size_t i = 0; i < cpu.size(); ++i) core::copy_(cpu[i], gpu[i]);
  oc.load_state_dict(og.state_dict());
  set_grads(gpu, 60, 1.0);
  set_grads(cpu, 60, 1.0);
  og.step();
  oc.step();
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i)
    worst = std::max(worst, testing::rel_error(gpu[i], cpu[i]));
  CHECK(worst <= 1e-6);
}

TEST_CASE("safetensors writes CUDA tensors and reads them back onto CUDA") {
  auto gpu = make_params(Device::cuda(), 13);
  Optimizer og(Algorithm::adamw, groups_of(gpu), {.lr = 1e-2});
  set_grads(gpu, 70, 1.0);
  og.step();
  TensorDict sd = og.state_dict();
  for (size_t i = 0; i < gpu.size(); ++i) sd[fmt::format("param.{}", i)] = gpu[i];
  const std::string path = (std::filesystem::temp_directory_path() /
                            fmt::format("coil_gpu_optim_{}.safetensors", ::getpid()))
                               .string();
  write_safetensors(path, sd, {{"step", "1"}});
  SafetensorsContents back = read_safetensors(path, Device::cuda());
  std::filesystem::remove(path);
  REQUIRE(back.tensors.size() == sd.size());
  for (const auto& [k, v] : sd) {
    INFO(k);
    const Tensor& t = back.tensors.at(k);
    CHECK(t.device().is_cuda());
    CHECK(testing::bitwise_equal(t, v));
  }
  Optimizer again(Algorithm::adamw, groups_of(gpu), {.lr = 1e-2});
  TensorDict state;
  for (const auto& [k, v] : back.tensors)
    if (k.rfind("state.", 0) == 0) state[k] = v;
  again.load_state_dict(state);
  CHECK(again.step_count("0") == 1);
}
