// The S4D and S4 kernels and the step mode on CUDA at the benchmark's length: f32 outputs and
// gradients against the float64 CPU kernels, bitwise-reproducible gradients, and stepping a
// sequence on the GPU equals the causal convolution.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/s4_kernel/s4_kernel.h"
#include "ops/s4d_kernel/s4d_kernel.h"
#include "ops/ssm_step/ssm_step.h"
#include "tests/support/compare.h"

using namespace coil;
using namespace coil::testing;

namespace {

// log_dt, A_re (W_re), A_im (W_im), P, B, C in f64 on the CPU.
std::vector<Tensor> draw(int64_t H, int64_t N2, int64_t R, uint64_t seed) {
  Generator g(seed);
  TensorOptions o{DType::f64};
  return {uniform({H}, std::log(1e-3), std::log(1e-1), o, &g),
          uniform({H, N2}, -1.0, -0.2, o, &g),
          uniform({H, N2}, -30.0, 30.0, o, &g),
          normal({R, H, N2, 2}, 0, 0.5, o, &g),
          normal({H, N2, 2}, 0, 1, o, &g),
          normal({1, H, N2, 2}, 0, 1, o, &g)};
}

// Runs the kernel on (dtype, device) and backward of <G, K>; returns K then the 6 gradients
// (P's gradient undefined for S4D).
std::vector<Tensor> run(bool s4, const std::vector<Tensor>& p, const Tensor& G, int64_t L, DType dt,
                        Device dev) {
  std::vector<Tensor> in;
  for (const auto& t : p) {
    Tensor x = core::to(core::to(t, dt), dev);
    set_requires_grad(x);
    in.push_back(x);
  }
  Tensor K = s4 ? s4_kernel(in[0], in[1], in[2], in[3], in[4], in[5], L)
                : s4d_kernel(in[0], in[1], in[2], in[4], in[5], L, SsmDisc::zoh);
  backward(K, core::to(core::to(G, dt), dev));
  std::vector<Tensor> out = {detach(K)};
  for (size_t i = 0; i < in.size(); ++i) out.push_back(!s4 && i == 3 ? Tensor() : grad(in[i]));
  return out;
}

}  // namespace

TEST_CASE("S4D and S4 kernels on CUDA match the float64 CPU kernels at H 8, N 64, L 4096") {
  const int64_t H = 8, N2 = 32, L = 4096;
  for (bool s4 : {false, true}) {
    CAPTURE(s4);
    auto p = draw(H, N2, 1, 3);
    if (s4) p[2] = uniform({H, N2}, -3.0, 3.0, {DType::f64});  // S4 kernels from HiPPO-like W
    Generator g(9);
    Tensor G = normal({1, H, L}, 0, 1, {DType::f64}, &g);
    auto ref = run(s4, p, G, L, DType::f64, Device::cpu());
    auto gpu = run(s4, p, G, L, DType::f32, Device::cuda());
    CHECK(rel_error(gpu[0], ref[0]) < 1e-4);
    for (size_t i = 1; i < ref.size(); ++i) {
      if (!ref[i].defined()) continue;
      CAPTURE(i);
      CHECK(rel_error(gpu[i], ref[i]) < 1e-3);
    }
    auto again = run(s4, p, G, L, DType::f32, Device::cuda());
    for (size_t i = 0; i < gpu.size(); ++i)
      if (gpu[i].defined()) CHECK(bitwise_equal(gpu[i], again[i]));
  }
}

TEST_CASE("stepping S4D and S4 on CUDA equals the causal convolution in f32") {
  const int64_t Bn = 2, L = 64, H = 4, N2 = 8;
  auto p = draw(H, N2, 1, 5);
  p[0] = uniform({H}, std::log(0.05), std::log(0.3), {DType::f64});
  p[2] = uniform({H, N2}, -3.0, 3.0, {DType::f64});
  Generator g(13);
  auto u = normal({Bn, L, H}, 0, 1, {DType::f64}, &g).to_vector<double>();
  Tensor D = normal({H}, 0, 1, {DType::f64}, &g);
  auto Dv = D.to_vector<double>();
  const TensorOptions o{DType::f32, Device::cuda()};
  auto to_gpu = [&](const Tensor& t) { return core::to(core::to(t, DType::f32), Device::cuda()); };
  for (bool s4 : {false, true}) {
    CAPTURE(s4);
    Tensor K = s4 ? s4_kernel(p[0], p[1], p[2], p[3], p[4], p[5], L)
                  : s4d_kernel(p[0], p[1], p[2], p[4], p[5], L, SsmDisc::bilinear);
    auto Kv = K.to_vector<double>();
    SsmStepParams sp = s4 ? s4_step_params(to_gpu(p[0]), to_gpu(p[1]), to_gpu(p[2]), to_gpu(p[3]),
                                           to_gpu(p[4]), to_gpu(p[5]), L)
                          : s4d_step_params(to_gpu(p[0]), to_gpu(p[1]), to_gpu(p[2]), to_gpu(p[4]),
                                            to_gpu(p[5]), SsmDisc::bilinear);
    CHECK(sp.Abar.device() == Device::cuda());
    Tensor state = s4 ? zeros({Bn, H, 2 * N2}, o) : zeros({Bn, H, N2, 2}, o), Dg = to_gpu(D);
    double diff = 0, scale = 1e-30;
    for (int64_t t = 0; t < L; ++t) {
      std::vector<double> ut(size_t(Bn * H));
      for (int64_t b = 0; b < Bn; ++b)
        for (int64_t h = 0; h < H; ++h) ut[size_t(b * H + h)] = u[size_t((b * L + t) * H + h)];
      Tensor utg = to_gpu(from_vector<double>(ut, {Bn, H}));
      auto [y, next] = s4 ? ssm_step(state, utg, sp.Abar, sp.Bbar, sp.C, Dg)
                          : s4d_step(state, utg, sp.Abar, sp.Bbar, sp.C, Dg);
      state = next;
      auto yv = host_values(y);
      for (int64_t b = 0; b < Bn; ++b)
        for (int64_t h = 0; h < H; ++h) {
          double ref = Dv[size_t(h)] * u[size_t((b * L + t) * H + h)];
          for (int64_t l = 0; l <= t; ++l)
            ref += Kv[size_t(h * L + l)] * u[size_t((b * L + t - l) * H + h)];
          diff = std::max(diff, std::abs(yv[size_t(b * H + h)] - ref));
          scale = std::max(scale, std::abs(ref));
        }
    }
    CHECK(diff / scale < 1e-4);
  }
}
