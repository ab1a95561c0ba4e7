// fmt::format("{}", tensor): header (dtype, shape, device), nested values in logical order, and
// elision of large tensors.
#include <algorithm>
#include <chrono>

#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {
std::string str(const Tensor& t) { return fmt::format("{}", t); }
}  // namespace

TEST_CASE("printing shows dtype, shape, device and every value of a small tensor") {
  Tensor t = from_vector<float>({1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f}, {2, 3});
  std::string s = str(t);
  CHECK(s.starts_with("tensor(f32 (2, 3) on cpu, [[1.5, -2, 3.25],"));
  CHECK(s.ends_with("[4, 5, 6]])"));
  CHECK(str(arange(int64_t(5))) == "tensor(i64 (5,) on cpu, [0, 1, 2, 3, 4])");
  CHECK(str(scalar_tensor(2.5)) == "tensor(f32 () on cpu, 2.5)");
  CHECK(str(Tensor()) == "tensor(undefined)");
}

TEST_CASE("printed random values use six significant digits") {
  Tensor r = randn_t({3, 4}, DType::f64, 5);
  std::string s = str(r);
  CHECK(contains(s, "f64 (3, 4)"));
  for (double v : read_all(r)) CHECK_MESSAGE(contains(s, fmt::format("{:.6g}", v)), v);
  CHECK(contains(str(scalar_tensor(3.14159265, {DType::f64, Device::cpu()})), "3.14159)"));
}

TEST_CASE("printing a view shows its logical order, not storage order") {
  Tensor t = from_vector<int32_t>({1, 2, 3, 4}, {2, 2});
  std::string s = str(core::transpose(t, 0, 1));
  CHECK(contains(s, "i32 (2, 2)"));
  CHECK(contains(s, "[[1, 3],"));
  CHECK(contains(s, "[2, 4]]"));
  CHECK(contains(str(core::slice(arange(int64_t(10)), 0, 1, 10, 4)), "[1, 5, 9]"));
}

TEST_CASE("printing bool, integer and bf16 tensors shows their values") {
  Tensor b = from_vector<uint8_t>({0, 1, 7});
  CHECK(contains(str(b), "u8 (3,) on cpu, [0, 1, 7]"));
  CHECK(contains(str(core::to(b, DType::boolean)), "bool (3,) on cpu, [0, 1, 1]"));
  CHECK(contains(str(from_vector<int64_t>({int64_t(1) << 60})), "1152921504606846976"));
  std::string h = str(core::to(from_vector<float>({1.5f, -0.25f}), DType::bf16));
  CHECK(contains(h, "bf16 (2,)"));
  CHECK(contains(h, "[1.5, -0.25]"));
  CHECK(contains(str(from_vector<float>({NAN, -INFINITY})), "[nan, -inf]"));
  CHECK(contains(str(empty({0, 3})), "f32 (0, 3) on cpu, []"));
}

TEST_CASE("tensors over 1000 elements are elided to three items at each end of each dim") {
  std::string s = str(arange(int64_t(5000)));
  CHECK(contains(s, "[0, 1, 2, ..., 4997, 4998, 4999]"));
  CHECK_FALSE(contains(s, "2500"));
  CHECK(s.size() < 100);
  std::string m = str(core::reshape(arange(int64_t(10000)), {100, 100}));
  CHECK(std::count(m.begin(), m.end(), '\n') == 6);  // 3 rows, "...", 3 rows
  CHECK(contains(m, "[0, 1, 2, ..., 97, 98, 99],"));
  CHECK(contains(m, "...,\n"));
  CHECK(contains(m, "[9900, 9901, 9902, ..., 9997, 9998, 9999]]"));
  CHECK_FALSE(contains(m, "5050"));
  std::string edge = str(arange(int64_t(1000)));  // at the limit: printed in full
  CHECK(contains(edge, "499, 500, 501"));
  CHECK_FALSE(contains(edge, "..."));
  CHECK(contains(str(arange(int64_t(1001))), "..."));
  std::string big = str(randn_t({40, 50}));
  CHECK(contains(big, "f32 (40, 50)"));
  CHECK(contains(big, "..."));
  CHECK(big.size() < 1000);
}

TEST_CASE("printing a huge tensor formats only the elements it shows") {
  Tensor big = arange(0.0, double(int64_t(1) << 24));  // 16M elements, 64 MB
  auto t0 = std::chrono::steady_clock::now();
  std::string s = str(big);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(contains(s, "[0, 1, 2, ..., 1.67772e+07, 1.67772e+07, 1.67772e+07]"));
  CHECK(seconds < 1.0);  // formatting every element took ~10 s
}
