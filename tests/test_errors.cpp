// Every rejected input throws coil::Error whose message starts with "[op]" and names the shapes
// (or the values) involved.
#include "core/elementwise.h"
#include "core/linalg.h"
#include "core/reduce.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

// Runs f and checks that it throws coil::Error starting with "[op]" and containing every part.
template <class F>
void expect_error(const char* expr, F&& f, const std::string& op,
                  std::initializer_list<std::string> parts) {
  INFO(std::string(expr));
  std::string msg = error_of(f);
  INFO("message: " << msg);
  REQUIRE_MESSAGE(!msg.empty(), "no coil::Error was thrown");
  CHECK(msg.starts_with("[" + op + "] "));
  for (const std::string& p : parts) CHECK_MESSAGE(contains(msg, p), "missing '" << p << "'");
}
#define EXPECT_ERROR(expr, op, ...) expect_error(#expr, [&] { (void)(expr); }, op, {__VA_ARGS__})

TensorOptions opt(DType dt) { return {dt, Device::cpu()}; }

}  // namespace

TEST_CASE("mismatched broadcasts name the op and both shapes") {
  Tensor a = randn_t({8, 256, 64}), b = randn_t({8, 128, 64});
  EXPECT_ERROR(core::binary(BinaryOp::add, a, b), "add", "(8, 256, 64)", "(8, 128, 64)");
  EXPECT_ERROR(core::binary(BinaryOp::lt, randn_t({2, 3}), randn_t({4})), "lt", "(2, 3)", "(4,)");
  EXPECT_ERROR(core::where(core::binary(BinaryOp::gt, randn_t({3}), randn_t({3})), randn_t({4}),
                           randn_t({1})),
               "where", "(3,)", "(4,)");
  EXPECT_ERROR(core::binary_into(BinaryOp::mul, empty({2, 3}), randn_t({4}), randn_t({1})), "mul",
               "(4,)", "(2, 3)");
  EXPECT_ERROR(core::copy_(empty({2, 4}), randn_t({3})), "copy_", "(3,)", "(2, 4)");
  EXPECT_ERROR(core::expand(randn_t({3}), {2, 4}), "expand", "(3,)", "(2, 4)");
  EXPECT_ERROR(core::expand(randn_t({2, 3}), {3}), "expand", "(2, 3)", "(3,)");
  EXPECT_ERROR(core::expand(randn_t({3}), {-1, 3}), "expand", "(-1, 3)");
}

TEST_CASE("unsupported dtypes name the op, the dtype and the shapes") {
  Tensor i = randint(0, 5, {2, 3}, opt(DType::i32)), j = randint(0, 5, {3, 2}, opt(DType::i32));
  EXPECT_ERROR(core::matmul(i, j), "matmul", "i32", "(2, 3)", "(3, 2)");
  Tensor h = core::to(randn_t({2, 3}), DType::bf16), k = core::to(randn_t({3, 4}), DType::bf16);
  EXPECT_ERROR(core::matmul(h, k), "matmul", "bf16", "cpu", "(2, 3)", "(3, 4)");
  EXPECT_ERROR(
      core::bmm(core::to(randn_t({1, 2, 3}), DType::i64), core::to(randn_t({1, 3, 2}), DType::i64)),
      "bmm", "i64", "(1, 2, 3)", "(1, 3, 2)");
  EXPECT_ERROR(core::matmul(randn_t({2, 3}), randn_t({3, 2}, DType::f64)), "matmul", "f32", "f64",
               "(2, 3)", "(3, 2)");
  EXPECT_ERROR(core::addmm(randn_t({2}), randn_t({2, 3}, DType::f64), randn_t({3, 2})), "addmm",
               "(2, 3)", "(3, 2)");
  Tensor b = core::binary(BinaryOp::gt, randn_t({5}), scalar_tensor(0.0));
  EXPECT_ERROR(core::unary(UnaryOp::neg, b), "neg", "bool", "(5,)");
  EXPECT_ERROR(core::unary_backward(UnaryOp::exp, i, i), "exp", "i32", "(2, 3)");
  EXPECT_ERROR(core::mean(i), "mean", "i32", "(2, 3)");
  EXPECT_ERROR(core::amax(b), "amax", "bool", "(5,)");
  EXPECT_ERROR(core::argmin(b, 0), "argmin", "bool", "(5,)");
  EXPECT_ERROR(core::where(randn_t({3}), randn_t({3}), randn_t({3})), "where", "f32", "(3,)");
  EXPECT_ERROR(randint(0, 2, {3}, opt(DType::boolean)), "randint", "bool");
  EXPECT_ERROR(rand({3}, opt(DType::i32)), "uniform", "i32");
  EXPECT_ERROR(randn({3}, opt(DType::i64)), "normal", "i64");
  EXPECT_ERROR(randn_t({3}).data<double>(), "data", "f32", "f64");
}

TEST_CASE("impossible reshapes and views name the source and requested shapes") {
  Tensor t = randn_t({2, 3});
  EXPECT_ERROR(core::reshape(t, {4}), "reshape", "(2, 3)", "(4,)");
  EXPECT_ERROR(core::reshape(t, {-1, 4}), "reshape", "(2, 3)", "(-1, 4)");
  EXPECT_ERROR(core::reshape(t, {-1, -1}), "reshape", "(2, 3)", "(-1, -1)");
  EXPECT_ERROR(core::reshape(t, {-2, -3}), "reshape", "(2, 3)", "(-2, -3)");
  EXPECT_ERROR(core::view(t, {5}), "view", "(2, 3)", "(5,)");
  EXPECT_ERROR(core::view(core::transpose(t, 0, 1), {6}), "view", "(3, 2)", "(6,)");
  EXPECT_ERROR(core::view(core::narrow(randn_t({4, 6}), 1, 0, 4), {16}), "view", "(4, 4)", "(16,)");
  EXPECT_ERROR(empty({2, -1}), "empty", "(2, -1)");
  // Sizes whose element or byte count wraps around int64 must not allocate a short buffer.
  EXPECT_ERROR(empty({int64_t(1) << 62}), "empty", "(4611686018427387904,)", "f32");
  EXPECT_ERROR(empty({int64_t(1) << 32, int64_t(1) << 32}), "empty", "(4294967296, 4294967296)");
  EXPECT_ERROR(arange(0.0, double(int64_t(1) << 62)), "empty", "(4611686018427387904,)");
  CHECK(empty({int64_t(1) << 62, 0}, opt(DType::f64)).numel() == 0);
  EXPECT_ERROR(from_vector<float>({1, 2, 3}, {2, 2}), "from_vector", "(2, 2)");
}

TEST_CASE("out-of-range slice, narrow, select and dims name the shape") {
  Tensor t = randn_t({4, 6});
  EXPECT_ERROR(core::slice(t, 1, 2, 9), "slice", "(4, 6)");
  EXPECT_ERROR(core::slice(t, 0, 3, 1), "slice", "(4, 6)");
  EXPECT_ERROR(core::slice(t, 0, -7, 2), "slice", "(4, 6)");
  EXPECT_ERROR(core::slice(t, 0, 0, 4, 0), "slice", "(4, 6)");
  EXPECT_ERROR(core::narrow(t, 1, 4, 3), "narrow", "(4, 6)");
  EXPECT_ERROR(core::narrow(t, 1, 0, -1), "narrow", "(4, 6)");
  EXPECT_ERROR(core::select(t, 0, 4), "select", "(4, 6)");
  EXPECT_ERROR(core::select(t, 1, -7), "select", "(4, 6)");
  EXPECT_ERROR(core::select(t, 2, 0), "select", "(4, 6)");
  EXPECT_ERROR(core::transpose(t, 0, 2), "transpose", "(4, 6)");
  EXPECT_ERROR(core::permute(t, {0}), "permute", "(4, 6)");
  EXPECT_ERROR(core::permute(t, {1, 1}), "permute", "(4, 6)");
  EXPECT_ERROR(core::permute(t, {0, 5}), "permute", "(4, 6)");
  EXPECT_ERROR(core::unsqueeze(t, 3), "unsqueeze", "(4, 6)");
  EXPECT_ERROR(core::unsqueeze(t, -4), "unsqueeze", "(4, 6)");
  EXPECT_ERROR(core::squeeze(t, 2), "squeeze", "(4, 6)");
  EXPECT_ERROR(core::flatten(t, 1, 0), "flatten", "(4, 6)");
  EXPECT_ERROR(core::flatten(t, 0, 2), "flatten", "(4, 6)");
  EXPECT_ERROR(core::sum(t, {2}), "sum", "(4, 6)");
  EXPECT_ERROR(core::sum(t, {1, -1}), "sum", "(4, 6)");
  EXPECT_ERROR(core::argmax(t, -3), "argmax", "(4, 6)");
  EXPECT_ERROR(core::amax(empty({3, 0}), {1}), "amax", "(3, 0)");
  EXPECT_ERROR(t.size(2), "size", "(4, 6)");
  // A scalar has no dimension to index, slice or swap (reductions alone accept 0 and -1).
  Tensor s = scalar_tensor(1.0);
  EXPECT_ERROR(s.size(0), "size", "()");
  EXPECT_ERROR(s.stride(-1), "stride", "()");
  EXPECT_ERROR(core::select(s, 0, 0), "select", "()");
  EXPECT_ERROR(core::narrow(s, 0, 0, 1), "narrow", "()");
  EXPECT_ERROR(core::slice(s, -1, 0, 1), "slice", "()");
  EXPECT_ERROR(core::transpose(s, 0, 0), "transpose", "()");
  EXPECT_ERROR(core::sum(s, {1}), "sum", "()");
  EXPECT_ERROR(t.stride(-3), "stride", "(4, 6)");
  EXPECT_ERROR(core::as_strided(t, {5, 6}, {6, 1}, 0), "as_strided", "(5, 6)");
  EXPECT_ERROR(core::as_strided(t, {2}, {1}, -1), "as_strided", "(2,)");
  EXPECT_ERROR(core::as_strided(t, {2, 2}, {1}, 0), "as_strided", "(2, 2)", "(1,)");
}

TEST_CASE("matmul, bmm and addmm shape mismatches name both operands") {
  EXPECT_ERROR(core::matmul(randn_t({2, 3}), randn_t({4, 5})), "matmul", "(2, 3)", "(4, 5)");
  EXPECT_ERROR(core::matmul(randn_t({3}), randn_t({4})), "matmul", "(3,)", "(4,)");
  EXPECT_ERROR(core::matmul(scalar_tensor(1.0), randn_t({4})), "matmul", "()", "(4,)");
  EXPECT_ERROR(core::matmul(randn_t({2, 3, 4}), randn_t({5, 4, 6})), "matmul", "(2,)", "(5,)");
  EXPECT_ERROR(core::bmm(randn_t({2, 3, 4}), randn_t({3, 4, 5})), "bmm", "(2, 3, 4)", "(3, 4, 5)");
  EXPECT_ERROR(core::bmm(randn_t({3, 4}), randn_t({4, 5})), "bmm", "(3, 4)", "(4, 5)");
  EXPECT_ERROR(core::addmm(randn_t({2, 5}), randn_t({2, 3}), randn_t({4, 5})), "addmm", "(2, 3)",
               "(4, 5)");
  EXPECT_ERROR(core::addmm(randn_t({3}), randn_t({2, 4}), randn_t({4, 5})), "addmm", "(3,)",
               "(2, 5)");
  EXPECT_ERROR(core::unary_backward(UnaryOp::exp, randn_t({2, 3}), randn_t({3, 2})), "exp",
               "(2, 3)", "(3, 2)");
}

TEST_CASE("bad ranges and random parameters name the values") {
  EXPECT_ERROR(arange(0.0, 1.0, 0.0), "arange", "step=0");
  EXPECT_ERROR(arange(0.0, NAN), "arange", "nan");
  EXPECT_ERROR(arange(0.0, INFINITY), "arange", "inf");
  EXPECT_ERROR(arange(0.0, 1e30, 1e-3), "arange", "1e+30");
  EXPECT_ERROR(randint(5, 5, {3}), "randint", "[5, 5)");
  EXPECT_ERROR(uniform({3}, 2.0, 1.0), "uniform", "[2, 1)");
  EXPECT_ERROR(normal({3}, 0.0, -1.0), "normal", "-1");
  EXPECT_ERROR(Device::parse("gpu"), "device", "gpu");
  EXPECT_ERROR(Device::parse("cuda:x"), "device", "cuda:x");
}

TEST_CASE("item() on a tensor with more than one element names its shape") {
  EXPECT_ERROR(randn_t({2, 3}).item<float>(), "item", "(2, 3)");
  EXPECT_ERROR(empty({0}).item<float>(), "item", "(0,)");
}

TEST_CASE("using an undefined tensor is an error, not a crash") {
  Tensor u, x = randn_t({2});
  EXPECT_ERROR(u.shape(), "tensor");
  EXPECT_ERROR(u.numel(), "tensor");
  EXPECT_ERROR(u.data_ptr(), "tensor");
  EXPECT_ERROR(u.item<float>(), "tensor");
  EXPECT_ERROR(core::reshape(u, {1}), "tensor");
  EXPECT_ERROR(core::clone(u), "tensor");
  EXPECT_ERROR(core::fill_(u, 1.0), "tensor");
  EXPECT_ERROR(core::copy_(u, x), "copy_", "undefined");
  EXPECT_ERROR(core::copy_(x, u), "copy_", "undefined");
  EXPECT_ERROR(core::unary(UnaryOp::exp, u), "exp", "undefined");
  EXPECT_ERROR(core::binary(BinaryOp::add, x, u), "add", "undefined");
  EXPECT_ERROR(core::where(u, x, x), "where", "undefined");
  EXPECT_ERROR(core::sum(u), "tensor", "undefined");
  EXPECT_ERROR(core::matmul(u, x), "matmul", "undefined");
}

TEST_CASE("more than eight dimensions that cannot merge are rejected by the loop builder") {
  Tensor t = randn_t(Shape(9, 2));
  Tensor p = core::permute(t, {8, 7, 6, 5, 4, 3, 2, 1, 0});
  EXPECT_ERROR(core::contiguous(p), "copy_", "(2, 2, 2, 2, 2, 2, 2, 2, 2)");
  EXPECT_ERROR(core::binary(BinaryOp::add, p, p), "add", "(2, 2, 2, 2, 2, 2, 2, 2, 2)");
  // Nine dims that merge into one loop are fine.
  CHECK(core::binary(BinaryOp::add, t, t).numel() == 512);
}
