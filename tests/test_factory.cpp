// Tensor creation: constants, ranges, host data, and the Philox random draws (determinism,
// stream offsets, distributions).
#include <algorithm>
#include <set>

#include "core/philox.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

struct Moments {
  double mean = 0, var = 0, skew = 0, kurt = 0, lo = 0, hi = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  m.lo = *std::min_element(v.begin(), v.end());
  m.hi = *std::max_element(v.begin(), v.end());
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  double m2 = 0, m3 = 0, m4 = 0;
  for (double x : v) {
    double d = x - m.mean;
    m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
  }
  m2 /= double(v.size()), m3 /= double(v.size()), m4 /= double(v.size());
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.kurt = m4 / (m2 * m2);
  return m;
}

}  // namespace

TEST_CASE("zeros, ones and full fill every dtype with the value") {
  for (DType dt :
       {DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    CAPTURE(dtype_name(dt));
    TensorOptions o{dt, Device::cpu()};
    Tensor z = zeros({2, 3}, o), one = ones({3, 2}, o), f = full({4}, 5.0, o);
    CHECK(z.dtype() == dt);
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.is_contiguous());
    check_equal(z, std::vector<double>(6, 0.0));
    check_equal(one, std::vector<double>(6, 1.0));
    check_equal(f, std::vector<double>(4, dt == DType::boolean ? 1.0 : 5.0));
  }
  check_equal(full({3}, -2.5, {DType::f64, Device::cpu()}), {-2.5, -2.5, -2.5});
  check_equal(full({2}, -2.7, {DType::i32, Device::cpu()}), {-2, -2});
}

TEST_CASE("*_like factories copy shape, dtype and device but not values") {
  Tensor t = core::transpose(randn_t({3, 5}, DType::f64), 0, 1);
  Tensor z = zeros_like(t), o = ones_like(t), f = full_like(t, 0.25);
  for (const Tensor* x : {&z, &o, &f}) {
    CHECK(x->shape() == Shape{5, 3});
    CHECK(x->dtype() == DType::f64);
    CHECK(x->is_contiguous());
    CHECK(x->storage() != t.storage());
  }
  check_equal(f, std::vector<double>(15, 0.25));
}

TEST_CASE("arange counts from start by step while below end, or above it for negative steps") {
  Tensor a = arange(0.0, 5.0);
  CHECK(a.dtype() == DType::f32);
  check_equal(a, {0, 1, 2, 3, 4});
  check_equal(arange(1.0, 2.0, 0.25), {1, 1.25, 1.5, 1.75});
  check_equal(arange(1.0, 2.1, 0.25), {1, 1.25, 1.5, 1.75, 2.0});
  check_equal(arange(5.0, 0.0, -1.5), {5, 3.5, 2, 0.5});
  CHECK(arange(3.0, 3.0).numel() == 0);
  CHECK(arange(3.0, 1.0).numel() == 0);
  Tensor i = arange(int64_t(6));
  CHECK(i.dtype() == DType::i64);
  check_equal(i, {0, 1, 2, 3, 4, 5});
  Tensor d = arange(-2.0, 2.0, 1.0, {DType::f64, Device::cpu()});
  CHECK(d.dtype() == DType::f64);
  check_equal(d, {-2, -1, 0, 1});
  check_equal(arange(0.0, 3.0, 1.0, {DType::i32, Device::cpu()}), {0, 1, 2});
  Tensor big = arange(int64_t(100000));  // exercises the parallel path
  std::vector<int64_t> want(100000);
  for (size_t k = 0; k < want.size(); ++k) want[k] = int64_t(k);
  CHECK(big.to_vector<int64_t>() == want);
}

TEST_CASE("from_vector copies host values into the requested shape and dtype") {
  Tensor f = from_vector<float>({1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(f.dtype() == DType::f32);
  CHECK(f.shape() == Shape{2, 3});
  check_equal(f, {1.5, -2, 3.25, 4, 5, 6});
  Tensor d = from_vector<double>({0.1, 0.2, 0.3});
  CHECK(d.shape() == Shape{3});
  CHECK(d.dtype() == DType::f64);
  check_equal(d, {0.1, 0.2, 0.3});
  CHECK(from_vector<int32_t>({7, -8}).dtype() == DType::i32);
  CHECK(from_vector<int64_t>({int64_t(1) << 40}).item<int64_t>() == int64_t(1) << 40);
  CHECK(from_vector<uint8_t>({255, 0}).to_vector<int64_t>() == std::vector<int64_t>{255, 0});
  Tensor one = from_vector<float>({9.f}, {1});
  CHECK(one.shape() == Shape{1});
  CHECK(from_vector<float>({}).numel() == 0);
}

TEST_CASE("scalar_tensor has rank 0 and holds the value in the requested dtype") {
  Tensor s = scalar_tensor(-3.5, {DType::f64, Device::cpu()});
  CHECK(s.dim() == 0);
  CHECK(s.shape().empty());
  CHECK(s.dtype() == DType::f64);
  CHECK(s.item<double>() == -3.5);
  CHECK(scalar_tensor(4.0, {DType::i64, Device::cpu()}).item<int64_t>() == 4);
}

TEST_CASE("Philox 4x32-10 matches the Random123 known-answer vector") {
  philox::U4 r = philox::block(0, 0);
  CHECK(r.v[0] == 0x6627e8d5u);
  CHECK(r.v[1] == 0xe169c58du);
  CHECK(r.v[2] == 0xbc57ac4cu);
  CHECK(r.v[3] == 0x9b00dbd8u);
}

TEST_CASE("element i of a draw is the transform of Philox words offset+i, at any size") {
  Generator g(0x1234abcd);
  g.set_state(0x1234abcd, 8);                                         // a non-zero starting offset
  auto u = read_all(rand({50000}, {DType::f64, Device::cpu()}, &g));  // parallel fill
  auto n = read_all(randn({30000}, {DType::f64, Device::cpu()}, &g));
  auto k = read_all(randint(-7, 1000, {30000}, {DType::i64, Device::cpu()}, &g));
  size_t bad_u = 0, bad_n = 0, bad_k = 0;
  for (uint64_t i = 0; i < u.size(); ++i)
    bad_u += u[i] != double(philox::word(0x1234abcd, 8, i) >> 8) / 16777216.0;
  const uint64_t n_off = 8 + 50000, k_off = n_off + 60000;
  for (uint64_t i = 0; i < n.size(); ++i) {
    // Box-Muller with libm: the hand-written log/cos agree to near double precision.
    uint32_t w0 = philox::word(0x1234abcd, n_off, 2 * i),
             w1 = philox::word(0x1234abcd, n_off, 2 * i + 1);
    double u1 = (double(w0 >> 8) + 1.0) / 16777216.0, u2 = double(w1 >> 8) / 16777216.0;
    bad_n += std::abs(n[i] - std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)) > 1e-12;
  }
  for (uint64_t i = 0; i < k.size(); ++i) {
    uint64_t bits = (uint64_t(philox::word(0x1234abcd, k_off, 2 * i)) << 32) |
                    philox::word(0x1234abcd, k_off, 2 * i + 1);
    bad_k += k[i] != double(-7 + int64_t(bits % 1007));
  }
  CHECK(bad_u == 0);
  CHECK(bad_n == 0);
  CHECK(bad_k == 0);
}

TEST_CASE("random draws are reproducible: same seed, same values for every distribution") {
  for (DType dt : {DType::f32, DType::f64}) {
    TensorOptions o{dt, Device::cpu()};
    Generator g1(42), g2(42);
    check_equal(rand({1000}, o, &g1), read_all(rand({1000}, o, &g2)), "rand");
    check_equal(randn({10000}, o, &g1), read_all(randn({10000}, o, &g2)), "randn");
    check_equal(uniform({33}, -1, 2, o, &g1), read_all(uniform({33}, -1, 2, o, &g2)), "uniform");
    check_equal(normal({33}, 3, 2, o, &g1), read_all(normal({33}, 3, 2, o, &g2)), "normal");
  }
  Generator g1(7), g2(7);
  check_equal(randint(0, 100, {500}, {DType::i64, Device::cpu()}, &g1),
              read_all(randint(0, 100, {500}, {DType::i64, Device::cpu()}, &g2)), "randint");
  manual_seed(123);
  Tensor a = randn({64});
  manual_seed(123);
  check_equal(randn({64}), read_all(a), "manual_seed resets the default generator");
  CHECK(default_generator().seed() == 123);
  CHECK(default_generator().offset() == 128);
}

TEST_CASE("each draw advances the generator offset by its words, rounded to a Philox block") {
  Generator g(5);
  CHECK(g.offset() == 0);
  rand({10}, {}, &g);  // one word per value: 10 -> 12
  CHECK(g.offset() == 12);
  randn({3}, {}, &g);  // two words per value: 6 -> 8
  CHECK(g.offset() == 20);
  randint(0, 4, {5}, {DType::i64, Device::cpu()}, &g);  // two words: 10 -> 12
  CHECK(g.offset() == 32);
  rand({0}, {}, &g);
  CHECK(g.offset() == 32);
  CHECK(g.seed() == 5);
}

TEST_CASE("successive draws continue one stream, and a saved (seed, offset) resumes it") {
  Generator g(99);
  Tensor a = rand({8}, {}, &g), b = rand({8}, {}, &g);
  CHECK(read_all(a) != read_all(b));
  Generator whole(99);
  auto all = read_all(rand({16}, {}, &whole));
  check_equal(a, std::vector<double>(all.begin(), all.begin() + 8), "first half");
  check_equal(b, std::vector<double>(all.begin() + 8, all.end()), "second half");
  Generator big1(4), big2(4);
  Tensor p = rand({8192}, {}, &big1), q = rand({8192}, {}, &big1);
  auto pq = read_all(rand({16384}, {}, &big2));
  check_equal(p, std::vector<double>(pq.begin(), pq.begin() + 8192), "large first half");
  check_equal(q, std::vector<double>(pq.begin() + 8192, pq.end()), "large second half");
  Generator h(99);
  randn({50}, {}, &h);
  uint64_t seed = h.seed(), off = h.offset();
  Tensor next = randn({50}, {}, &h);
  Generator resumed;
  resumed.set_state(seed, off);
  check_equal(randn({50}, {}, &resumed), read_all(next), "resumed stream");
}

TEST_CASE("different seeds give different values") {
  Generator g1(1), g2(2);
  auto a = read_all(randn({256}, {}, &g1)), b = read_all(randn({256}, {}, &g2));
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  CHECK(same == 0);
}

TEST_CASE("f32 draws are the f64 draws rounded: the dtype does not change the stream") {
  Generator g1(11), g2(11);
  auto d = read_all(randn({1000}, {DType::f64, Device::cpu()}, &g1));
  auto f = read_all(randn({1000}, {DType::f32, Device::cpu()}, &g2));
  for (size_t i = 0; i < d.size(); ++i) REQUIRE(f[i] == double(float(d[i])));
}

TEST_CASE("randn on 1e5 samples has mean 0, variance 1, no skew and Gaussian kurtosis") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Generator g(2024);
    Moments m = moments(read_all(randn({100000}, {dt, Device::cpu()}, &g)));
    CHECK(std::abs(m.mean) < 0.015);
    CHECK(std::abs(m.var - 1.0) < 0.02);
    CHECK(std::abs(m.skew) < 0.05);
    CHECK(std::abs(m.kurt - 3.0) < 0.12);
    CHECK(m.lo < -3.5);
    CHECK(m.hi > 3.5);
  }
  Generator g(3);
  Moments m = moments(read_all(normal({100000}, 3.0, 0.5, {}, &g)));
  CHECK(std::abs(m.mean - 3.0) < 0.01);
  CHECK(std::abs(m.var - 0.25) < 0.01);
}

TEST_CASE("rand and uniform stay in [lo, hi) and are flat") {
  Generator g(77);
  Moments r = moments(read_all(rand({100000}, {}, &g)));
  CHECK(r.lo >= 0.0);
  CHECK(r.hi < 1.0);
  CHECK(std::abs(r.mean - 0.5) < 0.005);
  CHECK(std::abs(r.var - 1.0 / 12) < 0.002);
  Moments u = moments(read_all(uniform({100000}, -2.0, 3.0, {DType::f64, Device::cpu()}, &g)));
  CHECK(u.lo >= -2.0);
  CHECK(u.hi < 3.0);
  CHECK(u.lo < -1.99);
  CHECK(u.hi > 2.99);
  CHECK(std::abs(u.mean - 0.5) < 0.03);
  CHECK(std::abs(u.var - 25.0 / 12) < 0.04);
}

TEST_CASE("randint covers [low, high) uniformly and nothing outside it") {
  Generator g(8);
  Tensor t = randint(-3, 5, {40000}, {DType::i64, Device::cpu()}, &g);
  CHECK(t.dtype() == DType::i64);
  auto v = t.to_vector<int64_t>();
  std::vector<int> count(8, 0);
  int outside = 0;
  for (int64_t x : v) {
    if (x < -3 || x >= 5) ++outside;
    else ++count[size_t(x + 3)];
  }
  CHECK(outside == 0);
  for (int c : count) CHECK(std::abs(c - 5000) < 300);  // ~4 sigma
  Tensor i32 = randint(0, 3, {1000}, {DType::i32, Device::cpu()}, &g);
  CHECK(i32.dtype() == DType::i32);
  std::set<int32_t> seen;
  for (int32_t x : i32.to_vector<int32_t>()) seen.insert(x);
  CHECK(seen == std::set<int32_t>{0, 1, 2});
  Tensor big =
      randint(int64_t(1) << 40, (int64_t(1) << 40) + 2, {100}, {DType::i64, Device::cpu()}, &g);
  for (int64_t x : big.to_vector<int64_t>()) CHECK((x >> 1) == (int64_t(1) << 39));
  Tensor fl = randint(-10, 10, {100}, {}, &g);  // float dtype holds integer values
  for (float x : fl.to_vector<float>()) CHECK(x == std::floor(x));
}
