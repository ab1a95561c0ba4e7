// FFT convolution on CUDA: outputs and gradients equal the CPU's (f64 to 1e-12, f32 to 1e-5) at
// sizes the harness samples do not reach (long sequences, odd H, short kernels), in every layout
// (the fused kernel's sizes n 2 to 8192 with 4, 2 and 1 pairs a block, and L 4097, past it, where
// it falls back to rows; fused2 with even H, its pair accesses, and odd H, its radix-32 passes at
// n 8192 in f32, n 4096 and 8192 in f64, and in the kernel spectra at n 32, 128, 256, 1024, and
// its backward kernel, whose chunks of batch rows the last shape makes longer than one row);
// bitwise-reproducible gradients at a training-sized shape; fused2 with radix-16 passes gives
// fused's y and du bitwise (the same arithmetic; its dk and dD come from other sums, in its one
// backward kernel).
// Calls the cuda:: kernels directly, so it exists only in CUDA builds.
#if defined(COIL_WITH_CUDA)
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/random.h"
#include "ops/fft_conv/fft_conv.h"
#include "ops/fft_conv/kernels.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::rel_error;

namespace {

struct Shape5 {
  int64_t B, L, H, C, Lk;
};

// y and the gradients of <dy, y> for u, k, D on `dev` in `dt`.
std::vector<Tensor> run(const std::vector<Tensor>& in, DType dt, Device dev, bool bidirectional) {
  std::vector<Tensor> x;
  for (size_t i = 0; i < 3; ++i) x.push_back(set_requires_grad(core::to(core::to(in[i], dt), dev)));
  Tensor y = fft_conv(x[0], x[1], x[2], bidirectional);
  backward(y, core::to(core::to(in[3], dt), dev));
  return {detach(y), grad(x[0]), grad(x[1]), grad(x[2])};
}

std::vector<Tensor> inputs(const Shape5& s, uint64_t seed) {
  Generator g(seed);
  const TensorOptions f64{DType::f64};
  return {normal({s.B, s.L, s.H}, 0, 1, f64, &g), normal({s.C, s.H, s.Lk}, 0, 0.05, f64, &g),
          normal({s.H}, 0, 1, f64, &g), normal({s.B, s.L, s.H}, 0, 1, f64, &g)};
}

}  // namespace

TEST_CASE("fft_conv on CUDA equals the CPU in f64 and f32, every layout, outputs and gradients") {
  const std::vector<Shape5> shapes = {
      {2, 1000, 5, 1, 600},  {3, 1024, 64, 1, 1024}, {2, 777, 3, 2, 777},   {1, 1, 1, 1, 1},
      {2, 4097, 17, 2, 100}, {1, 3, 2, 2, 3},        {1, 4096, 3, 1, 4096}, {2, 2048, 7, 2, 2048},
      {1, 4097, 5, 1, 4097}, {3, 33, 9, 1, 33},      {1, 4096, 2, 2, 4096}, {3, 1025, 4, 1, 1025},
      {1, 1, 2, 2, 1},       {2, 100, 6, 2, 100},    {1, 16, 2, 2, 16},     {2, 500, 3, 1, 500},
      {16, 200, 300, 2, 200}};  // (the last: several batch rows a chunk of the dk sums)
  const cuda::FftConvLayout saved = cuda::fft_conv_layout();
  const cuda::Fused2Parts saved_parts = cuda::fft_conv_fused2();
  using L = cuda::FftConvLayout;
  const cuda::Fused2Parts all, separate{true, false};  // fused2's backward kernel or fused's two
  for (auto [layout, parts] : {std::pair{L::columns, all},
                               {L::rows, all},
                               {L::fused, all},
                               {L::fused2, all},
                               {L::fused2, separate},
                               {L::automatic, all}}) {
    cuda::fft_conv_layout() = layout;
    cuda::fft_conv_fused2() = parts;
    for (const Shape5& s : shapes) {
      CAPTURE(int(layout));
      CAPTURE(parts.backward);
      CAPTURE(s.B);
      CAPTURE(s.L);
      CAPTURE(s.H);
      CAPTURE(s.C);
      CAPTURE(s.Lk);
      const auto in = inputs(s, 7);
      const auto ref = run(in, DType::f64, Device::cpu(), s.C == 2);
      const auto g64 = run(in, DType::f64, Device::cuda(), s.C == 2);
      const auto g32 = run(in, DType::f32, Device::cuda(), s.C == 2);
      for (size_t i = 0; i < ref.size(); ++i) {
        CAPTURE(i);
        CHECK(rel_error(g64[i], ref[i]) <= 1e-12);
        CHECK(rel_error(g32[i], ref[i]) <= 1e-5);
      }
    }
  }
  cuda::fft_conv_layout() = saved;
  cuda::fft_conv_fused2() = saved_parts;
}

TEST_CASE("fft_conv on CUDA is bitwise reproducible, outputs and gradients") {
  const auto in = inputs({8, 2048, 96, 2, 2048}, 3);
  const cuda::FftConvLayout saved = cuda::fft_conv_layout();
  for (auto layout : {cuda::FftConvLayout::rows, cuda::FftConvLayout::fused,
                      cuda::FftConvLayout::fused2, cuda::FftConvLayout::automatic}) {
    cuda::fft_conv_layout() = layout;
    CAPTURE(int(layout));
    const auto a = run(in, DType::f32, Device::cuda(), true);
    const auto b = run(in, DType::f32, Device::cuda(), true);
    for (size_t i = 0; i < a.size(); ++i) {
      CAPTURE(i);
      CHECK(bitwise_equal(a[i], b[i]));
    }
  }
  cuda::fft_conv_layout() = saved;
}

// fused2's one backward kernel computes du along another path (its own transforms of the
// gradient), so only fused's separate du kernel can equal fused's du bit for bit.
TEST_CASE(
    "fft_conv on CUDA: fused2 with radix-16 passes and fused's separate backward gives "
    "fused's y and du bitwise") {
  const cuda::FftConvLayout saved = cuda::fft_conv_layout();
  const cuda::Fused2Parts saved_parts = cuda::fft_conv_fused2();
  cuda::fft_conv_fused2() = {false, false};
  for (const Shape5& s : std::vector<Shape5>{
           {2, 4096, 6, 1, 4096}, {3, 1000, 8, 2, 1000}, {2, 333, 7, 2, 200}, {5, 17, 2, 1, 17}}) {
    CAPTURE(s.B);
    CAPTURE(s.L);
    CAPTURE(s.H);
    const auto in = inputs(s, 11);
    for (DType dt : {DType::f32, DType::f64}) {
      cuda::fft_conv_layout() = cuda::FftConvLayout::fused;
      const auto a = run(in, dt, Device::cuda(), s.C == 2);
      cuda::fft_conv_layout() = cuda::FftConvLayout::fused2;
      const auto b = run(in, dt, Device::cuda(), s.C == 2);
      for (size_t i = 0; i < 2; ++i) {  // y, du
        CAPTURE(i);
        CHECK(bitwise_equal(a[i], b[i]));
      }
    }
  }
  cuda::fft_conv_layout() = saved;
  cuda::fft_conv_fused2() = saved_parts;
}

#endif  // COIL_WITH_CUDA
