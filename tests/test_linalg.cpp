// matmul / bmm / addmm against a naive double triple loop: 1-D, 2-D, batched and broadcast
// batches, transposed, sliced and expanded operands, f32 and f64, at awkward sizes (1, 7, 33).
#include "core/linalg.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

struct Product {
  Shape shape;
  std::vector<double> value, magnitude;  // magnitude: sum |a||b|, the scale of rounding error
};

// NumPy matmul semantics written out directly: 1-D operands become a row / a column that is
// dropped from the result; batch dims broadcast.
Product reference(const Tensor& a, const Tensor& b) {
  bool a1 = a.dim() == 1, b1 = b.dim() == 1;
  Shape as = a1 ? Shape{1, a.size(0)} : a.shape(), bs = b1 ? Shape{b.size(0), 1} : b.shape();
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch = broadcast_shapes(ab, bb, "reference");
  Product r;
  r.shape = batch;
  if (!a1) r.shape.push_back(m);
  if (!b1) r.shape.push_back(n);
  auto batch_index = [](const Shape& own, const Shape& bi) {
    Shape idx;
    size_t lead = bi.size() - own.size();
    for (size_t d = 0; d < own.size(); ++d) idx.push_back(own[d] == 1 ? 0 : bi[lead + d]);
    return idx;
  };
  Shape full = batch;
  full.insert(full.end(), {m, n});
  for_each_index(full, [&](const Shape& o) {
    Shape bi(o.begin(), o.end() - 2);
    int64_t i = o[o.size() - 2], j = o.back();
    Shape ia = batch_index(ab, bi), ib = batch_index(bb, bi);
    double s = 0, mag = 0;
    for (int64_t p = 0; p < k; ++p) {
      Shape xa = ia, xb = ib;
      if (a1) xa = {p};
      else xa.insert(xa.end(), {i, p});
      if (b1) xb = {p};
      else xb.insert(xb.end(), {p, j});
      double u = at(a, xa), v = at(b, xb);
      s += u * v;
      mag += std::abs(u * v);
    }
    r.value.push_back(s);
    r.magnitude.push_back(mag);
  });
  return r;
}

double eps(DType dt) { return dt == DType::f32 ? 1e-5 : 1e-13; }

void check_product(const Tensor& got, const Product& want, DType dt, const std::string& what) {
  CHECK_MESSAGE(got.shape() == want.shape, what << ": shape " << shape_str(got.shape()));
  CHECK(got.dtype() == dt);
  auto g = read_all(got);
  REQUIRE(g.size() == want.value.size());
  size_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::abs(g[i] - want.value[i]) <= eps(dt) * want.magnitude[i] + 1e-30)) {
      if (bad++ < 3)
        FAIL_CHECK(what << ": element " << i << " " << g[i] << " vs " << want.value[i]);
    }
  CHECK_MESSAGE(bad == 0, what);
}

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  check_product(core::matmul(a, b), reference(a, b), a.dtype(), what);
}

}  // namespace

TEST_CASE("2-D matmul matches the triple loop at awkward sizes, for every operand layout") {
  for (DType dt : {DType::f32, DType::f64}) {
    uint64_t seed = 1;
    for (int64_t m : {1, 7, 33})
      for (int64_t k : {1, 7, 33})
        for (int64_t n : {1, 7, 33}) {
          std::string sz = fmt::format("{} m={} k={} n={}", dtype_name(dt), m, k, n);
          Tensor a = randn_t({m, k}, dt, seed++), b = randn_t({k, n}, dt, seed++);
          Tensor at_ = core::transpose(randn_t({k, m}, dt, seed++), 0, 1);
          Tensor bt = core::transpose(randn_t({n, k}, dt, seed++), 0, 1);
          Tensor a_step = core::slice(randn_t({m, 2 * k}, dt, seed++), 1, 0, 2 * k, 2);
          Tensor a_ld = core::narrow(randn_t({m, k + 5}, dt, seed++), 1, 3, k);
          Tensor b_rows = core::slice(randn_t({2 * k, n}, dt, seed++), 0, 1, 2 * k, 2);
          check_matmul(a, b, sz + " contiguous");
          check_matmul(at_, b, sz + " a transposed");
          check_matmul(a, bt, sz + " b transposed");
          check_matmul(at_, bt, sz + " both transposed");
          check_matmul(a_step, b_rows, sz + " a column step, b row step");
          check_matmul(a_ld, bt, sz + " a narrowed (ld > cols)");
          Tensor a_exp = core::expand(randn_t({m, 1}, dt, seed++), {m, k});  // stride 0
          Tensor b_exp = core::expand(randn_t({1, n}, dt, seed++), {k, n});
          check_matmul(a_exp, b_exp, sz + " expanded (stride 0) operands");
        }
  }
}

TEST_CASE("1-D operands act as a row or a column and their dim is dropped") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor v = randn_t({7}, dt, 1), w = randn_t({7}, dt, 2);
    Tensor A = randn_t({33, 7}, dt, 3), B = randn_t({7, 5}, dt, 4), C = randn_t({3, 7, 5}, dt, 5);
    check_matmul(v, B, "vector @ matrix");
    check_matmul(A, v, "matrix @ vector");
    check_matmul(core::transpose(B, 0, 1), v, "transposed matrix @ vector");
    check_matmul(v, C, "vector @ batch");
    check_matmul(core::transpose(C, 1, 2), v, "batch @ vector");
    check_matmul(core::slice(randn_t({14}, dt, 6), 0, 0, 14, 2), w, "strided vector dot");
    Tensor dot = core::matmul(v, w);
    CHECK(dot.dim() == 0);
  }
}

TEST_CASE("batched matmul broadcasts batch dims like NumPy") {
  for (DType dt : {DType::f32, DType::f64}) {
    check_matmul(randn_t({3, 7, 33}, dt, 1), randn_t({3, 33, 5}, dt, 2), "same batch");
    check_matmul(randn_t({2, 1, 7, 4}, dt, 3), randn_t({3, 4, 6}, dt, 4), "(2,1) x (3,)");
    check_matmul(randn_t({7, 4}, dt, 5), randn_t({4, 4, 6}, dt, 6), "matrix @ batch");
    check_matmul(randn_t({4, 7, 33}, dt, 7), randn_t({33, 6}, dt, 8), "batch @ matrix");
    check_matmul(randn_t({2, 4, 7, 3}, dt, 9), randn_t({1, 3, 6}, dt, 10), "batch @ (1, K, N)");
    check_matmul(randn_t({1, 1, 1}, dt, 11), randn_t({5, 1, 1}, dt, 12), "all ones");
  }
}

TEST_CASE("batched matmul handles permuted, expanded and non-uniform operands") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = core::permute(randn_t({3, 33, 7}, dt, 1), {0, 2, 1});  // (3, 7, 33), rows stride 1
    Tensor b = core::permute(randn_t({33, 3, 5}, dt, 2), {1, 0, 2});  // (3, 33, 5), batch stride 5
    check_matmul(a, b, "permuted batch operands");
    Tensor e = core::expand(randn_t({1, 7, 33}, dt, 3), {3, 7, 33});  // batch stride 0
    check_matmul(e, b, "expanded batch operand");
    Tensor mixed = core::permute(randn_t({7, 4, 33}, dt, 4), {1, 0, 2});  // (4, 7, 33)
    check_matmul(mixed, randn_t({33, 5}, dt, 5), "batch rows that do not fold");
    Tensor sl = core::slice(randn_t({6, 7, 33}, dt, 6), 0, 0, 6, 2);  // batch step 2
    check_matmul(sl, core::transpose(randn_t({3, 5, 33}, dt, 7), 1, 2), "sliced batch");
  }
}

TEST_CASE("matmul with an empty inner dimension gives zeros; empty outputs are fine") {
  Tensor z = core::matmul(empty({3, 0}), empty({0, 4}));
  CHECK(z.shape() == Shape{3, 4});
  check_equal(z, std::vector<double>(12, 0.0));
  CHECK(core::matmul(empty({0, 5}), randn_t({5, 2})).shape() == Shape{0, 2});
  CHECK(core::matmul(randn_t({2, 0, 5}), randn_t({5, 2})).shape() == Shape{2, 0, 2});
}

TEST_CASE("matmul returns a fresh contiguous result and leaves operands untouched") {
  Tensor a = randn_t({7, 33}), b = randn_t({33, 7});
  auto a0 = read_all(a), b0 = read_all(b);
  Tensor c = core::matmul(a, b);
  CHECK(c.is_contiguous());
  CHECK(c.storage() != a.storage());
  CHECK(read_all(a) == a0);
  CHECK(read_all(b) == b0);
}

TEST_CASE("bmm multiplies matching batches, including transposed operands") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = randn_t({4, 7, 33}, dt, 1), b = randn_t({4, 33, 1}, dt, 2);
    check_product(core::bmm(a, b), reference(a, b), dt, "bmm");
    Tensor at_ = core::transpose(randn_t({4, 33, 7}, dt, 3), 1, 2);
    Tensor bt = core::transpose(randn_t({4, 6, 33}, dt, 4), 1, 2);
    check_product(core::bmm(at_, bt), reference(at_, bt), dt, "bmm transposed");
    Tensor one = randn_t({1, 1, 1}, dt, 5);
    check_product(core::bmm(one, one), reference(one, one), dt, "bmm 1x1x1");
  }
}

TEST_CASE("addmm computes beta * c + alpha * a @ b with c broadcast") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = randn_t({7, 33}, dt, 1), b = randn_t({33, 5}, dt, 2);
    Product ab = reference(a, b);
    for (const Tensor& c : {randn_t({5}, dt, 3), randn_t({7, 5}, dt, 4), randn_t({7, 1}, dt, 5),
                            core::transpose(randn_t({5, 7}, dt, 6), 0, 1)}) {
      Tensor out = core::addmm(c, a, b, 0.5, 2.0);
      CHECK(out.shape() == Shape{7, 5});
      CHECK(out.dtype() == dt);
      Product want = ab;
      for_each_index({7, 5}, [&](const Shape& i) {
        size_t o = size_t(i[0] * 5 + i[1]);
        double cv = c.dim() == 1 ? at(c, {i[1]})
                                 : at(c, {c.size(0) == 1 ? 0 : i[0], c.size(1) == 1 ? 0 : i[1]});
        want.value[o] = 0.5 * cv + 2.0 * ab.value[o];
        want.magnitude[o] = 0.5 * std::abs(cv) + 2.0 * ab.magnitude[o];
      });
      check_product(out, want, dt, "addmm c " + shape_str(c.shape()));
    }
    Tensor at_ = core::transpose(randn_t({33, 7}, dt, 7), 0, 1);
    Tensor plain = core::addmm(zeros({7, 5}, {dt, Device::cpu()}), at_, b);
    check_product(plain, reference(at_, b), dt, "addmm with transposed a, zero c");
  }
}

TEST_CASE("addmm with beta 0 ignores c, even NaN; with empty k it is beta * c") {
  Tensor a = randn_t({3, 4}), b = randn_t({4, 2});
  Tensor out = core::addmm(full({3, 2}, NAN), a, b, 0.0, 1.0);
  check_product(out, reference(a, b), DType::f32, "beta 0");
  Tensor c = randn_t({3, 2}, DType::f64, 9);
  Tensor e = core::addmm(c, empty({3, 0}, {DType::f64, Device::cpu()}),
                         empty({0, 2}, {DType::f64, Device::cpu()}), 0.5, 3.0);
  std::vector<double> half;
  for (double v : read_all(c)) half.push_back(0.5 * v);
  check_close(e, half, 1e-15, 0, "k = 0");
}
