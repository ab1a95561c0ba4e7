// Step forms and packed sequences on CUDA: selective_scan_step and conv1d_causal_step stepped
// token by token equal the full-sequence ops on the GPU (L = 1 and odd L; f32 and bf16 inputs for
// the scan), the CUDA step equals the CPU step, and conv1d_causal's reset makes packed sequences
// equal separate runs on the GPU, gradients included.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "core/views.h"
#include "ops/conv1d/conv1d.h"
#include "ops/elementwise/elementwise.h"
#include "ops/selective_scan/selective_scan.h"
#include "ops/shape/shape.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::rel_error;

namespace {

const Device kGpu = Device::cuda(0);

Tensor normal_t(const Shape& shape, uint64_t seed, double lo = 0, double hi = 0) {
  Generator g(seed);
  return lo < hi ? uniform(shape, lo, hi, {DType::f32}, &g) : randn(shape, {DType::f32}, &g);
}

// On the GPU; u/delta/z/B/C in `data` (f32 or bf16), the rest f32.
struct ScanInputs {
  Tensor u, delta, A, B, C, D, z, bias, s0;
  ScanInputs(int64_t Bt, int64_t L, int64_t Dch, int64_t N, int64_t G, DType data, uint64_t seed) {
    auto dev = [&](const Tensor& t, bool is_data) {
      return core::to(is_data ? core::to(t, data) : t, kGpu);
    };
    u = dev(normal_t({Bt, L, Dch}, seed), true);
    delta = dev(normal_t({Bt, L, Dch}, seed + 1), true);
    z = dev(normal_t({Bt, L, Dch}, seed + 2), true);
    B = dev(normal_t({Bt, L, G, N}, seed + 3), true);
    C = dev(normal_t({Bt, L, G, N}, seed + 4), true);
    A = dev(normal_t({Dch, N}, seed + 5, -1.5, -0.1), false);
    D = dev(normal_t({Dch}, seed + 6), false);
    bias = dev(normal_t({Dch}, seed + 7, -1.0, 0.5), false);
    s0 = dev(normal_t({Bt, Dch, N}, seed + 8), false);
  }
};

}  // namespace

TEST_CASE("CUDA selective_scan_step token by token equals the full CUDA scan (L = 1, odd L)") {
  for (DType data : {DType::f32, DType::bf16}) {
    for (int64_t L : {1, 7}) {
      CAPTURE(L);
      CAPTURE(dtype_name(data));
      const ScanInputs in(2, L, 40, 16, 2, data, 11);
      auto full =
          selective_scan(in.u, in.delta, in.A, in.B, in.C, in.D, in.z, in.bias, true, in.s0);
      Tensor state = core::clone(in.s0);
      for (int64_t t = 0; t < L; ++t) {
        auto at = [t](const Tensor& x) { return core::select(x, 1, t); };
        Tensor y = selective_scan_step(state, at(in.u), at(in.delta), in.A, at(in.B), at(in.C),
                                       in.D, at(in.z), in.bias, true);
        CHECK(y.device() == kGpu);
        // bf16 outputs round to 8 bits of mantissa: the step and the scan may round apart.
        CHECK(rel_error(y, at(full.out)) <= (data == DType::f32 ? 1e-5 : 1e-2));
      }
      CHECK(rel_error(state, full.final_state) <= 1e-5);
    }
  }
}

TEST_CASE("CUDA selective_scan_step equals the CPU step") {
  const ScanInputs in(3, 1, 33, 16, 3, DType::f32, 21);
  auto cpu = [](const Tensor& t) { return core::to(t, Device::cpu()); };
  auto at0 = [](const Tensor& x) { return core::select(x, 1, 0); };
  Tensor sg = core::clone(in.s0), sc = cpu(in.s0);
  Tensor yg = selective_scan_step(sg, at0(in.u), at0(in.delta), in.A, at0(in.B), at0(in.C), in.D,
                                  at0(in.z), in.bias, true);
  Tensor yc = selective_scan_step(sc, cpu(at0(in.u)), cpu(at0(in.delta)), cpu(in.A), cpu(at0(in.B)),
                                  cpu(at0(in.C)), cpu(in.D), cpu(at0(in.z)), cpu(in.bias), true);
  CHECK(rel_error(yg, yc) <= 1e-5);
  CHECK(rel_error(sg, sc) <= 1e-5);
}

TEST_CASE(
    "CUDA conv1d_causal_step token by token equals the full CUDA conv (L = 1, odd L, K > L)") {
  for (int64_t L : {1, 3, 7}) {
    CAPTURE(L);
    const int64_t Bt = 2, C = 37, K = 4;
    const Tensor x = core::to(normal_t({Bt, L, C}, 31), kGpu);
    const Tensor w = core::to(normal_t({C, K}, 32), kGpu), b = core::to(normal_t({C}, 33), kGpu);
    const Tensor full = conv1d_causal(x, w, b);
    Tensor state = zeros({Bt, C, K}, {DType::f32, kGpu});
    for (int64_t t = 0; t < L; ++t) {
      Tensor y = conv1d_causal_step(state, core::select(x, 1, t), w, b);
      CHECK(rel_error(y, core::select(full, 1, t)) <= 1e-6);
    }
  }
}

TEST_CASE("CUDA conv1d_causal with reset equals separate runs, and the CPU, gradients included") {
  const int64_t C = 9, K = 4, L1 = 2, L2 = 11, L = L1 + L2;
  const Tensor x0 = normal_t({1, L, C}, 41), w0 = normal_t({C, K}, 42), b0 = normal_t({C}, 43);
  const Tensor g = normal_t({1, L, C}, 44);
  std::vector<uint8_t> r(size_t(L), 0);
  r[0] = r[size_t(L1)] = 1;
  const Tensor reset = core::to(from_vector(r, {1, L}), DType::boolean);

  auto run = [&](Device d, const Tensor& xs, const Tensor& rs, const Tensor& gs) {
    Tensor x = core::clone(core::to(xs, d)), w = core::clone(core::to(w0, d));
    Tensor b = core::clone(core::to(b0, d));
    for (const Tensor* t : {&x, &w, &b}) set_requires_grad(*t);
    Tensor out = conv1d_causal(x, w, b, rs.defined() ? core::to(rs, d) : Tensor());
    backward(out, core::to(gs, d));
    return std::vector<Tensor>{out, grad(x), grad(w), grad(b)};
  };
  const auto packed = run(kGpu, x0, reset, g), on_cpu = run(Device::cpu(), x0, reset, g);
  for (size_t i = 0; i < packed.size(); ++i) CHECK(rel_error(packed[i], on_cpu[i]) <= 1e-6);

  auto part = [&](int64_t t0, int64_t len) {
    return run(kGpu, core::contiguous(core::narrow(x0, 1, t0, len)), Tensor(),
               core::contiguous(core::narrow(g, 1, t0, len)));
  };
  const auto first = part(0, L1), second = part(L1, L2);
  CHECK(rel_error(packed[0], cat({first[0], second[0]}, 1)) <= 1e-6);
  CHECK(rel_error(packed[1], cat({first[1], second[1]}, 1)) <= 1e-6);
  CHECK(rel_error(packed[2], add(first[2], second[2])) <= 1e-5);
  CHECK(rel_error(packed[3], add(first[3], second[3])) <= 1e-5);
}
