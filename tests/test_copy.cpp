// copy_ (broadcast, strides, dtype conversion incl. bf16 rounding), fill_, clone and to(dtype).
#include <cfloat>
#include <cstring>

#include "core/elementwise.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

TensorOptions opt(DType dt) { return {dt, Device::cpu()}; }

// Round-to-nearest-even onto bf16, written independently of coil::bf16: choose the nearer of
// the two neighbouring bf16 values in double, ties to an even last bit.
float bf16_reference(float f) {
  if (std::isnan(f) || std::isinf(f)) return f;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
  float lo, hi;
  std::memcpy(&lo, &lo_bits, 4);
  std::memcpy(&hi, &hi_bits, 4);
  double dl = std::abs(double(f) - double(lo)), dh = std::abs(double(hi) - double(f));
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo_bits & 0x10000u) ? hi : lo;
}

}  // namespace

TEST_CASE("copy_ copies between any layouts of the same shape") {
  Tensor src = randn_t({6, 9});
  Tensor dst = empty({6, 9});
  core::copy_(dst, src);
  check_equal(dst, read_all(src), "contiguous");
  Tensor base = zeros({9, 6});
  Tensor dst_t = core::transpose(base, 0, 1);
  core::copy_(dst_t, src);
  check_equal(dst_t, read_all(src), "into a transposed view");
  for_each_index({9, 6}, [&](const Shape& i) { CHECK(at(base, i) == at(src, {i[1], i[0]})); });
  Tensor src_s = core::slice(randn_t({6, 20}, DType::f32, 2), 1, 2, 20, 2);
  Tensor dst_s = core::slice(zeros({12, 9}), 0, 0, 12, 2);
  core::copy_(dst_s, src_s);
  check_equal(dst_s, read_all(src_s), "sliced to sliced");
}

TEST_CASE("copy_ broadcasts the source to the destination's shape") {
  Tensor row = randn_t({9});
  Tensor dst = empty({4, 9});
  core::copy_(dst, row);
  for_each_index(dst.shape(), [&](const Shape& i) { CHECK(at(dst, i) == at(row, {i[1]})); });
  Tensor col = randn_t({4, 1}, DType::f32, 3);
  Tensor dst_t = core::transpose(empty({9, 4}), 0, 1);
  core::copy_(dst_t, col);
  for_each_index(dst_t.shape(), [&](const Shape& i) { CHECK(at(dst_t, i) == at(col, {i[0], 0})); });
  Tensor all = empty({2, 3, 4});
  core::copy_(all, scalar_tensor(1.25));
  check_equal(all, std::vector<double>(24, 1.25));
  core::copy_(empty({0, 3}), randn_t({3}));  // nothing to do, nothing to complain about
}

TEST_CASE("copy_ converts dtypes: rounding to float, truncation to integers, nonzero to bool") {
  Tensor d = from_vector<double>({0.1, -2.7, 2.7, 1e10, -0.0, 3.0, 255.0, 0.5});
  auto dv = read_all(d);
  Tensor f = core::to(d, DType::f32);
  CHECK(f.dtype() == DType::f32);
  for (size_t i = 0; i < dv.size(); ++i) CHECK(at(f, {int64_t(i)}) == double(float(dv[i])));
  Tensor small = core::narrow(d, 0, 0, 3);
  check_equal(core::to(small, DType::i32), {0, -2, 2});
  check_equal(core::to(small, DType::i64), {0, -2, 2});
  check_equal(core::to(d, DType::boolean), {1, 1, 1, 1, 0, 1, 1, 1});
  check_equal(core::to(core::narrow(d, 0, 5, 3), DType::u8), {3, 255, 0});
  // Out-of-range floats truncate through int64 and then wrap, identically on every backend.
  check_equal(core::to(from_vector<double>({-1.5, 300.7}), DType::u8), {255, 44});
  Tensor b = core::to(from_vector<int32_t>({0, 5, -1}), DType::boolean);
  CHECK(b.dtype() == DType::boolean);
  check_equal(core::to(b, DType::f32), {0, 1, 1});
  Tensor big = from_vector<int64_t>({(int64_t(1) << 50) + 1, -3});
  check_equal(core::to(big, DType::f64), {double((int64_t(1) << 50) + 1), -3});
  Tensor r = randn_t({5, 7});
  check_equal(core::to(core::to(r, DType::f64), DType::f32), read_all(r), "f32 -> f64 -> f32");
}

TEST_CASE("copy_ converts, broadcasts and scatters into strides at once") {
  Tensor src = randn_t({1, 5}, DType::f64, 4);
  Tensor base = zeros({5, 8}, opt(DType::f32));
  Tensor dst = core::transpose(core::narrow(base, 1, 2, 3), 0, 1);  // (3, 5) strided f32
  core::copy_(dst, src);
  for_each_index(dst.shape(), [&](const Shape& i) {
    CHECK(at(dst, i) == double(float(at(src, {0, i[1]}))));
  });
  CHECK(at(base, {0, 0}) == 0.0);
  CHECK(at(base, {4, 7}) == 0.0);
}

TEST_CASE("bf16 conversion rounds to nearest even and round-trips representable values") {
  // Exactly representable values survive f32 -> bf16 -> f32 bit for bit.
  std::vector<float> exact = {1.5f, -3.f, 0.15625f, 0.f, 256.f, -1.f / 1024, 3.0e38f};
  exact[6] = float(bf16(exact[6]));
  Tensor e = from_vector<float>(exact);
  check_equal(core::to(core::to(e, DType::bf16), DType::f32),
              std::vector<double>(exact.begin(), exact.end()), "exact values");
  // Ties go to the even neighbour; anything past the tie rounds away.
  float tie_down = 1.f + 1.f / 256, tie_up = 1.f + 3.f / 256, past = 1.f + 1.f / 256 + 1.f / 65536;
  Tensor t = core::to(from_vector<float>({tie_down, tie_up, past, -tie_down}), DType::bf16);
  check_equal(core::to(t, DType::f32), {1.0, 1.0 + 1.0 / 64, 1.0 + 1.0 / 128, -1.0});
  // Random values: the reference rounding, within half a bf16 ulp.
  Tensor r = core::unary(UnaryOp::mul_scalar, randn_t({40, 25}), {100.0});
  auto rv = read_all(r);
  Tensor rt = core::to(core::to(r, DType::bf16), DType::f32);
  std::vector<double> want;
  for (double v : rv) want.push_back(bf16_reference(float(v)));
  check_equal(rt, want, "random values");
  auto got = read_all(rt);
  for (size_t i = 0; i < rv.size(); ++i) CHECK(std::abs(got[i] - rv[i]) <= std::abs(rv[i]) / 256);
  // bf16 converts to other dtypes through float.
  check_equal(core::to(t, DType::f64), {1.0, 1.0 + 1.0 / 64, 1.0 + 1.0 / 128, -1.0});
  check_equal(core::to(core::to(from_vector<int32_t>({-7, 300}), DType::bf16), DType::i64),
              {-7, 300});
}

TEST_CASE("bf16 keeps infinities and NaN, and overflows to infinity") {
  Tensor s = from_vector<float>({INFINITY, -INFINITY, NAN, FLT_MAX});
  auto v = read_all(core::to(core::to(s, DType::bf16), DType::f32));
  CHECK(v[0] == INFINITY);
  CHECK(v[1] == -INFINITY);
  CHECK(std::isnan(v[2]));
  CHECK(v[3] == INFINITY);
}

TEST_CASE("fill_ sets exactly the viewed elements, converting the value to the dtype") {
  Tensor t = randn_t({4, 6});
  auto before = read_all(t);
  Tensor v = core::slice(t, 1, 1, 6, 2);
  core::fill_(v, -0.5);
  for_each_index(t.shape(), [&](const Shape& i) {
    bool hit = i[1] % 2 == 1;
    CHECK(at(t, i) == (hit ? -0.5 : before[size_t(i[0] * 6 + i[1])]));
  });
  Tensor i32 = empty({3}, opt(DType::i32));
  core::fill_(i32, 3.9);
  check_equal(i32, {3, 3, 3});
  Tensor b = empty({2}, opt(DType::boolean));
  core::fill_(b, 0.5);
  check_equal(b, {1, 1});
  core::fill_(b, 0.0);
  check_equal(b, {0, 0});
  Tensor h = empty({2}, opt(DType::bf16));
  core::fill_(h, 0.1);
  check_equal(h, {double(float(bf16(0.1f))), double(float(bf16(0.1f)))});
  Tensor big = core::transpose(empty({300, 250}), 0, 1);  // parallel path over strides
  core::fill_(big, 2.0);
  check_equal(big, std::vector<double>(75000, 2.0));
  core::fill_(empty({0}), 1.0);
}

TEST_CASE("clone always makes a fresh contiguous copy that does not alias the source") {
  for (const Tensor& src :
       {randn_t({3, 4}), core::transpose(randn_t({4, 3}), 0, 1),
        core::expand(randn_t({1, 4}), {3, 4}), core::to(randn_t({3, 4}), DType::f64)}) {
    Tensor c = core::clone(src);
    CHECK(c.is_contiguous());
    CHECK(c.storage() != src.storage());
    CHECK(c.dtype() == src.dtype());
    CHECK(c.shape() == src.shape());
    check_equal(c, read_all(src), "clone");
    auto orig = read_all(src);
    core::fill_(c, 9.0);
    CHECK(read_all(src) == orig);
  }
}

TEST_CASE("large strided copies take the parallel path and stay exact") {
  Tensor src = core::transpose(randn_t({300, 250}), 0, 1);
  Tensor c = core::contiguous(src);
  check_equal(c, read_all(src), "transpose copy");
  Tensor dst = core::slice(empty({250, 600}, opt(DType::f64)), 1, 0, 600, 2);
  core::copy_(dst, src);
  check_equal(dst, read_all(src), "to strided f64");
}

TEST_CASE("to(dtype) and to(device) return the same tensor when nothing changes") {
  Tensor t = randn_t({2, 3});
  CHECK(core::to(t, DType::f32).is_same(t));
  CHECK(core::to(t, Device::cpu()).is_same(t));
  Tensor d = core::to(t, DType::f64);
  CHECK_FALSE(d.is_same(t));
  CHECK(d.dtype() == DType::f64);
  CHECK(d.storage() != t.storage());
  Tensor tt = core::transpose(t, 0, 1);
  Tensor td = core::to(tt, DType::f64);
  CHECK(td.shape() == Shape{3, 2});
  check_equal(td, read_all(tt), "to keeps logical order");
}
