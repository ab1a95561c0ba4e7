// CPU vs CUDA parity for every core kernel, on random data at awkward sizes, contiguous and
// strided; bitwise-equal random streams; bitwise-reproducible reductions.
#include <doctest/doctest.h>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/linalg.h"
#include "core/random.h"
#include "core/reduce.h"
#include "core/views.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::rel_error;

namespace {
const Device kGpu = Device::cuda(0);
Tensor gpu(const Tensor& t) { return core::to(t, kGpu); }

// Input in the op's domain: positive for log/sqrt/..., anything for the rest.
Tensor domain_input(UnaryOp op, const Shape& shape) {
  Tensor x = randn(shape);
  switch (op) {
    case UnaryOp::log: case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::pow_scalar:
    case UnaryOp::reciprocal:
      return core::unary(UnaryOp::add_scalar, core::unary(UnaryOp::abs, x), {0.5});
    case UnaryOp::log1p:
      return core::unary(UnaryOp::add_scalar, core::unary(UnaryOp::abs, x), {-0.5});
    default:
      return x;
  }
}
UnaryParams params_for(UnaryOp op) {
  if (op == UnaryOp::clamp) return {-0.5, 0.7};
  if (op == UnaryOp::softplus) return {1.0, 20.0};
  if (op == UnaryOp::pow_scalar) return {1.7, 0};
  if (op == UnaryOp::rpow_scalar) return {2.5, 0};
  return {0.3, 0};
}
}  // namespace

TEST_CASE("random streams are bitwise equal on CPU and CUDA for the same seed and offset") {
  for (int64_t n : {1, 3, 5, 1001, 1 << 16}) {
    CAPTURE(n);
    Generator g1(1234), g2(1234);
    CHECK(bitwise_equal(rand({n}, {}, &g1), rand({n}, {DType::f32, kGpu}, &g2)));
    CHECK(bitwise_equal(randn({n}, {}, &g1), randn({n}, {DType::f32, kGpu}, &g2)));
    CHECK(bitwise_equal(randn({n}, {DType::f64}, &g1), randn({n}, {DType::f64, kGpu}, &g2)));
    CHECK(bitwise_equal(randint(-7, 100, {n}, {DType::i64}, &g1),
                        randint(-7, 100, {n}, {DType::i64, kGpu}, &g2)));
    CHECK(g1.offset() == g2.offset());
  }
}

TEST_CASE("unary kernels and their backward match the CPU on contiguous and strided inputs") {
  for (int op_i = 0; op_i <= int(UnaryOp::clamp); ++op_i) {
    auto op = UnaryOp(op_i);
    CAPTURE(unary_name(op));
    UnaryParams p = params_for(op);
    for (Shape shape : {Shape{1}, Shape{7, 33}, Shape{3, 5, 129}}) {
      Tensor x = domain_input(op, shape);
      Tensor xt = core::transpose(x, 0, -1);  // strided view
      for (const Tensor& in : {x, xt}) {
        CHECK(rel_error(core::unary(op, gpu(in), p), core::unary(op, in, p)) < 1e-5);
        Tensor g = randn(in.shape());
        CHECK(rel_error(core::unary_backward(op, gpu(core::contiguous(in)), gpu(g), p),
                        core::unary_backward(op, core::contiguous(in), g, p)) < 1e-5);
      }
    }
  }
}

TEST_CASE("binary kernels match the CPU with broadcasting, promotion and strides") {
  Tensor a = randn({4, 1, 37}), b = randn({5, 37}), bt = core::transpose(randn({37, 5}), 0, 1);
  Tensor pos = core::unary(UnaryOp::add_scalar, core::unary(UnaryOp::abs, a), {0.1});
  for (int op_i = 0; op_i <= int(BinaryOp::logical_or); ++op_i) {
    auto op = BinaryOp(op_i);
    CAPTURE(binary_name(op));
    Tensor lhs = op == BinaryOp::pow ? pos : a;
    CHECK(rel_error(core::binary(op, gpu(lhs), gpu(b)), core::binary(op, lhs, b)) < 1e-5);
    CHECK(rel_error(core::binary(op, gpu(lhs), gpu(bt)), core::binary(op, lhs, bt)) < 1e-5);
  }
  Tensor i = randint(-5, 5, {4, 5, 37}, {DType::i32});
  Tensor mixed_gpu = core::binary(BinaryOp::add, gpu(i), gpu(b));
  CHECK(mixed_gpu.dtype() == DType::f32);
  CHECK(rel_error(mixed_gpu, core::binary(BinaryOp::add, i, b)) == 0);
  Tensor cond = core::binary(BinaryOp::gt, a, full({}, 0.0));
  CHECK(rel_error(core::where(gpu(cond), gpu(a), gpu(b)), core::where(cond, a, b)) == 0);
}

TEST_CASE("copies convert dtypes and cross devices, strided on both sides") {
  Tensor x = randn({6, 9, 11});
  Tensor xs = core::slice(core::permute(x, {2, 0, 1}), 0, 1, 10, 2);
  CHECK(bitwise_equal(core::to(gpu(xs), Device::cpu()), core::contiguous(xs)));
  Tensor dst = core::transpose(empty({9, 6}, {DType::f64, kGpu}), 0, 1);
  core::copy_(dst, core::select(x, 2, 3));
  CHECK(rel_error(dst, core::select(x, 2, 3)) == 0);
  for (DType dt : {DType::f64, DType::bf16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    CAPTURE(dtype_name(dt));
    Tensor scaled = core::unary(UnaryOp::mul_scalar, x, {10.0});
    CHECK(bitwise_equal(core::to(gpu(scaled), dt), core::to(scaled, dt)));
  }
  Tensor filled = full({3, 1000}, 2.5, {DType::bf16, kGpu});
  CHECK(rel_error(filled, full({3, 1000}, 2.5)) == 0);
  CHECK(rel_error(arange(-3.0, 1000.0, 0.5, {DType::f32, kGpu}), arange(-3.0, 1000.0, 0.5)) == 0);
}

TEST_CASE("reductions match the CPU and are bitwise reproducible") {
  for (Shape shape : {Shape{1}, Shape{1001}, Shape{3, 70001}, Shape{65, 129, 5}, Shape{2, 3, 4, 5}}) {
    CAPTURE(shape_str(shape));
    Tensor x = randn(shape), xg = gpu(x);
    for (int64_t d = 0; d < x.dim(); ++d) {
      CAPTURE(d);
      CHECK(rel_error(core::sum(xg, {d}), core::sum(x, {d})) < 1e-5);
      CHECK(rel_error(core::amax(xg, {d}, true), core::amax(x, {d}, true)) == 0);
      CHECK(rel_error(core::amin(xg, {d}), core::amin(x, {d})) == 0);
      CHECK(rel_error(core::argmax(xg, d), core::argmax(x, d)) == 0);
      CHECK(rel_error(core::argmin(xg, d), core::argmin(x, d)) == 0);
    }
    CHECK(rel_error(core::sum(xg), core::sum(x)) < 1e-5);
    CHECK(rel_error(core::mean(xg), core::mean(x)) < 1e-5);
    CHECK(bitwise_equal(core::sum(xg, {0}), core::sum(xg, {0})));
  }
  Tensor big = randn({1 << 22}), bigg = gpu(big);
  CHECK(rel_error(core::sum(bigg), core::sum(big)) < 1e-5);
  CHECK(bitwise_equal(core::sum(bigg), core::sum(bigg)));
  Tensor cols = randn({16384, 768}), colsg = gpu(cols);
  CHECK(rel_error(core::sum(colsg, {0}), core::sum(cols, {0})) < 1e-5);
  CHECK(bitwise_equal(core::sum(colsg, {0}), core::sum(colsg, {0})));
  Tensor neg_inf = full({2, 3}, -INFINITY);
  CHECK(rel_error(core::amax(gpu(neg_inf), {1}), core::amax(neg_inf, {1})) == 0);
  Tensor ties = from_vector<float>({1, 3, 3, 0, 3}, {1, 5});
  CHECK(core::argmax(gpu(ties), 1).item<int64_t>() == 1);
  Tensor ints = randint(-9, 9, {37, 41}, {DType::i32});
  CHECK(rel_error(core::sum(gpu(ints), {1}), core::sum(ints, {1})) == 0);
}

TEST_CASE("matmul, bmm and addmm match OpenBLAS on transposed, sliced and batched operands") {
  for (auto [m, k, n] : {std::tuple{1, 1, 1}, {7, 33, 5}, {65, 17, 129}, {128, 256, 64}}) {
    CAPTURE(m); CAPTURE(k); CAPTURE(n);
    Tensor a = randn({m, k}), b = randn({k, n});
    CHECK(rel_error(core::matmul(gpu(a), gpu(b)), core::matmul(a, b)) < 1e-5);
    Tensor at = core::transpose(randn({k, m}), 0, 1), bt = core::transpose(randn({n, k}), 0, 1);
    CHECK(rel_error(core::matmul(gpu(at), gpu(bt)), core::matmul(at, bt)) < 1e-5);
    Tensor x = randn({3, 2, m, k});
    CHECK(rel_error(core::matmul(gpu(x), gpu(b)), core::matmul(x, b)) < 1e-5);
    Tensor bb = randn({2, k, n});
    CHECK(rel_error(core::matmul(gpu(x), gpu(bb)), core::matmul(x, bb)) < 1e-5);
    Tensor c = randn({n});
    CHECK(rel_error(core::addmm(gpu(c), gpu(a), gpu(b), 0.5, 2.0), core::addmm(c, a, b, 0.5, 2.0)) < 1e-5);
  }
  Tensor a = randn({4, 9, 16}), b = randn({4, 16, 8});
  CHECK(rel_error(core::bmm(gpu(a), gpu(b)), core::bmm(a, b)) < 1e-5);
  Tensor a16 = core::to(gpu(a), DType::bf16), b16 = core::to(gpu(b), DType::bf16);
  Tensor ref = core::bmm(core::to(core::to(a16, DType::f32), Device::cpu()),
                         core::to(core::to(b16, DType::f32), Device::cpu()));
  CHECK(rel_error(core::bmm(a16, b16), ref) < 1e-2);
}

TEST_CASE("cuda errors are coil::Error naming the op, never aborts") {
  Tensor c = randn({3}), g = gpu(randn({3}));
  CHECK_THROWS_AS(core::binary(BinaryOp::add, c, g), Error);
  CHECK_THROWS_WITH_AS(core::matmul(g, gpu(randn({4, 2}))), doctest::Contains("[matmul]"), Error);
  CHECK_THROWS_WITH_AS(core::matmul(gpu(randn({2, 2}, {DType::f64})), gpu(randn({2, 2}, {DType::f64}))),
                       doctest::Contains("[matmul]"), Error);
  CHECK_THROWS_WITH_AS(empty({1}, {DType::f32, Device::cuda(999)}), doctest::Contains("[cuda]"), Error);
}
