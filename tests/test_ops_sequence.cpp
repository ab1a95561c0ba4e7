// Sequence ops (embedding, dropout, conv1d_causal, glu): forward values against float64 loops,
// gradients against hand-derived references, dropout's mask statistics and tying, and glu
// against the composition of elementary ops.
#include <cmath>

#include "autograd/autograd.h"
#include "core/views.h"
#include "ops/conv1d/conv1d.h"
#include "ops/dropout/dropout.h"
#include "ops/elementwise/elementwise.h"
#include "ops/embedding/embedding.h"
#include "ops/glu/glu.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

// A leaf that requires grad, holding a copy of t.
Tensor leaf(const Tensor& t) {
  Tensor c = core::clone(t);
  set_requires_grad(c);
  return c;
}

double sigm(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

// ---- embedding ------------------------------------------------------------------------------

TEST_CASE("embedding gathers rows for i32 and i64 indices of any shape") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor w = randn_t({7, 5}, dt);
    auto wv = read_all(w);
    for (DType it : {DType::i32, DType::i64}) {
      Tensor idx = core::to(from_vector<int64_t>({6, 0, 3, 3, 1, 6}, {2, 1, 3}), it);
      Tensor out = embedding(w, idx);
      CHECK(out.shape() == Shape{2, 1, 3, 5});
      CHECK(out.dtype() == dt);
      std::vector<double> want;
      for (double i : read_all(idx))
        for (int64_t d = 0; d < 5; ++d) want.push_back(wv[size_t(int64_t(i) * 5 + d)]);
      check_equal(out, want, "gather");
    }
  }
}

TEST_CASE("embedding of a transposed table and a scalar index") {
  Tensor base = randn_t({5, 4}, DType::f64);
  Tensor w = core::transpose(base, 0, 1);  // (4, 5), not contiguous
  Tensor out = embedding(w, scalar_tensor(2, {DType::i64}));
  CHECK(out.shape() == Shape{5});
  check_equal(out, read_all(core::select(w, 0, 2)), "row 2");
}

TEST_CASE("embedding gradient with repeated indices is the count-weighted sum of rows") {
  const int64_t V = 6, D = 3;
  std::vector<int64_t> ids = {2, 5, 2, 2, 0, 5, 2};
  Tensor w = leaf(randn_t({V, D}, DType::f64));
  Tensor out = embedding(w, from_vector<int64_t>(ids, {7}));
  SUBCASE("ones cotangent: each row gets its count") {
    backward(out, ones({7, D}, {DType::f64}));
    std::vector<double> want(size_t(V * D), 0.0);
    for (int64_t i : ids)
      for (int64_t d = 0; d < D; ++d) want[size_t(i * D + d)] += 1;
    check_equal(grad(w), want, "counts");
  }
  SUBCASE("random cotangent: each row sums its positions") {
    Tensor g = randn_t({7, D}, DType::f64, 3);
    auto gv = read_all(g);
    backward(out, g);
    std::vector<double> want(size_t(V * D), 0.0);
    for (size_t n = 0; n < ids.size(); ++n)
      for (int64_t d = 0; d < D; ++d) want[size_t(ids[n] * D + d)] += gv[n * D + size_t(d)];
    check_close(grad(w), want, 1e-14, 1e-14, "sums");
  }
}

TEST_CASE("embedding on a large table matches the reference, forward and backward") {
  const int64_t V = 1000, D = 48, N = 4000;  // past the OpenMP grain
  Generator gen(9);
  Tensor idx = randint(0, V, {N}, {DType::i64}, &gen);
  Tensor w = leaf(randn_t({V, D}));
  Tensor g = randn_t({N, D}, DType::f32, 4);
  Tensor out = embedding(w, idx);
  backward(out, g);
  auto iv = read_all(idx), wv = read_all(w), gv = read_all(g);
  std::vector<double> want_out, want_dw(size_t(V * D), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    auto v = int64_t(iv[size_t(n)]);
    for (int64_t d = 0; d < D; ++d) {
      want_out.push_back(wv[size_t(v * D + d)]);
      want_dw[size_t(v * D + d)] += gv[size_t(n * D + d)];
    }
  }
  check_equal(out, want_out, "forward");
  check_close(grad(w), want_dw, 1e-5, 1e-5, "dweight");
}

TEST_CASE("embedding padding_idx keeps the row in the forward but gives it no gradient") {
  Tensor w = leaf(randn_t({4, 2}, DType::f64));
  Tensor out = embedding(w, from_vector<int64_t>({1, 3, 1, 0}, {4}), -3);  // -3 is row 1
  check_equal(core::select(out, 0, 0), read_all(core::select(w, 0, 1)), "row 1 forward");
  backward(out, ones({4, 2}, {DType::f64}));
  check_equal(grad(w), {1, 1, 0, 0, 0, 0, 1, 1}, "padding row");
}

TEST_CASE("embedding rejects bad indices naming the shapes") {
  Tensor w = ones({4, 3});
  std::string msg = error_of([&] { embedding(w, from_vector<int64_t>({0, 7, 1}, {3})); });
  CHECK(contains(msg, "[embedding]"));
  CHECK(contains(msg, "(4, 3)"));
  CHECK(contains(msg, "(3,)"));
  CHECK(contains(msg, "7"));
  CHECK(contains(error_of([&] { embedding(w, ones({2})); }), "i32 or i64"));
}

// ---- dropout ---------------------------------------------------------------------------------

TEST_CASE("dropout drops about p of 1e5 elements and scales the rest by 1 / (1 - p)") {
  const int64_t n = 100000;
  manual_seed(123);
  Tensor out = dropout(ones({n}), 0.3, true);
  auto v = read_all(out);
  int64_t dropped = 0;
  bool scaled = true;
  for (double x : v) {
    if (x == 0) ++dropped;
    else scaled = scaled && std::abs(x - 1 / 0.7) < 1e-6;
  }
  CHECK(scaled);
  CHECK(std::abs(double(dropped) / double(n) - 0.3) < 0.01);  // ~7 standard deviations
}

TEST_CASE("dropout is the identity in eval mode and at p = 0, and zero at p = 1") {
  Tensor x = randn_t({3, 4});
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK(dropout(x, 0.0, true).is_same(x));
  check_equal(dropout(x, 1.0, true), std::vector<double>(12, 0.0), "p = 1");
}

TEST_CASE("dropout masks repeat with the seed and agree across dtypes") {
  Tensor x = randn_t({5, 40}, DType::f64);
  manual_seed(7);
  auto a = read_all(dropout(x, 0.4, true));
  manual_seed(7);
  auto b = read_all(dropout(core::to(x, DType::f32), 0.4, true));
  auto xv = read_all(x);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK((a[i] == 0) == (b[i] == 0));
    if (a[i] != 0) CHECK(a[i] == doctest::Approx(xv[i] / 0.6));
  }
}

TEST_CASE("a tied dropout mask is constant along the tied dimension") {
  manual_seed(11);
  Tensor out = dropout(ones({4, 50, 16}), 0.5, true, -2);
  int64_t dropped = 0;
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t d = 0; d < 16; ++d) {
      double first = at(out, {b, 0, d});
      dropped += first == 0;
      for (int64_t t = 1; t < 50; ++t) CHECK(at(out, {b, t, d}) == first);
    }
  CHECK(dropped > 0);
  CHECK(dropped < 64);
}

TEST_CASE("dropout backward multiplies by the forward's mask") {
  Tensor x = leaf(randn_t({6, 9}, DType::f64));
  manual_seed(5);
  Tensor out = dropout(x, 0.25, true);
  Tensor g = randn_t({6, 9}, DType::f64, 2);
  backward(out, g);
  auto ov = read_all(out), xv = read_all(x), gv = read_all(g);
  std::vector<double> want;
  for (size_t i = 0; i < ov.size(); ++i) want.push_back(ov[i] == 0 ? 0.0 : gv[i] / 0.75);
  check_close(grad(x), want, 1e-14, 0, "dx");
}

// ---- conv1d_causal ---------------------------------------------------------------------------

namespace {

struct ConvRef {
  std::vector<double> out, dx, dw, db;
};

// Naive float64 loops over the definition, forward and the gradients for cotangent g.
ConvRef conv_reference(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& g) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), K = w.size(1);
  ConvRef r;
  r.out.assign(size_t(B * L * C), 0.0);
  r.dx.assign(size_t(B * L * C), 0.0);
  r.dw.assign(size_t(C * K), 0.0);
  r.db.assign(size_t(C), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t c = 0; c < C; ++c) {
        size_t o = size_t((b * L + t) * C + c);
        double acc = bias.defined() ? at(bias, {c}) : 0.0, gv = at(g, {b, t, c});
        r.db[size_t(c)] += gv;
        for (int64_t k = 0; k < K; ++k) {
          int64_t s = t - (K - 1) + k;
          if (s < 0) continue;
          acc += at(w, {c, k}) * at(x, {b, s, c});
          r.dx[size_t((b * L + s) * C + c)] += at(w, {c, k}) * gv;
          r.dw[size_t(c * K + k)] += at(x, {b, s, c}) * gv;
        }
        r.out[o] = acc;
      }
  return r;
}

void check_conv(int64_t B, int64_t L, int64_t C, int64_t K, bool with_bias, DType dt) {
  CAPTURE(B);
  CAPTURE(L);
  CAPTURE(C);
  CAPTURE(K);
  CAPTURE(with_bias);
  Tensor x = leaf(randn_t({B, L, C}, dt, 1)), w = leaf(randn_t({C, K}, dt, 2));
  Tensor bias = with_bias ? leaf(randn_t({C}, dt, 3)) : Tensor();
  Tensor g = randn_t({B, L, C}, dt, 4);
  ConvRef ref = conv_reference(x, w, bias, g);
  Tensor out = conv1d_causal(x, w, bias);
  backward(out, g);
  double tol = dt == DType::f64 ? 1e-12 : 2e-5;
  check_close(out, ref.out, tol, tol, "out");
  check_close(grad(x), ref.dx, tol, tol, "dx");
  check_close(grad(w), ref.dw, tol, tol * double(B * L), "dweight");
  if (with_bias) check_close(grad(bias), ref.db, tol, tol * double(B * L), "dbias");
}

}  // namespace

TEST_CASE("conv1d_causal matches a naive loop, forward and backward, on awkward shapes") {
  for (DType dt : {DType::f64, DType::f32}) {
    check_conv(2, 7, 5, 4, true, dt);    // Mamba's K = 4, odd L
    check_conv(3, 1, 4, 4, true, dt);    // L = 1
    check_conv(2, 3, 3, 6, true, dt);    // K > L
    check_conv(1, 5, 1, 3, false, dt);   // C = 1, no bias
    check_conv(2, 4, 37, 1, true, dt);   // K = 1, C not a multiple of 32
    check_conv(2, 12, 3, 10, true, dt);  // K > 8
    check_conv(3, 700, 9, 4, true, dt);  // many row chunks in the reduction
  }
}

TEST_CASE("conv1d_causal never looks ahead: changing x at time t0 leaves out[:t0] alone") {
  Tensor x = randn_t({2, 9, 3}, DType::f64), w = randn_t({3, 4}, DType::f64);
  Tensor before = conv1d_causal(x, w);
  Tensor x2 = core::clone(x);
  core::fill_(core::narrow(x2, 1, 5, 4), 100.0);
  Tensor after = conv1d_causal(x2, w);
  check_equal(core::narrow(after, 1, 0, 5), read_all(core::narrow(before, 1, 0, 5)), "t < 5");
  CHECK(at(after, {0, 5, 0}) != at(before, {0, 5, 0}));
}

TEST_CASE("conv1d_causal gives the same answer on non-contiguous inputs") {
  Tensor x = randn_t({2, 6, 4}, DType::f64), w = randn_t({4, 3}, DType::f64);
  Tensor xt = core::transpose(core::contiguous(core::transpose(x, 1, 2)), 1, 2);
  Tensor wt = core::transpose(core::contiguous(core::transpose(w, 0, 1)), 0, 1);
  check_equal(conv1d_causal(xt, wt), read_all(conv1d_causal(x, w)), "strided");
}

TEST_CASE("conv1d_causal names the op and the shapes in its errors") {
  std::string msg = error_of([] { conv1d_causal(ones({2, 5, 3}), ones({4, 2})); });
  CHECK(contains(msg, "[conv1d_causal]"));
  CHECK(contains(msg, "(2, 5, 3)"));
  CHECK(contains(msg, "(4, 2)"));
}

// ---- glu -------------------------------------------------------------------------------------

TEST_CASE("glu matches a float64 reference along each dimension") {
  Tensor x = randn_t({4, 6, 2}, DType::f64);
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    int64_t d = dim < 0 ? dim + 3 : dim, h = x.size(d) / 2;
    Tensor out = glu(x, dim);
    Shape want_shape = x.shape();
    want_shape[size_t(d)] = h;
    CHECK(out.shape() == want_shape);
    std::vector<double> want;
    for_each_index(want_shape, [&](const Shape& i) {
      Shape j = i;
      j[size_t(d)] += h;
      want.push_back(at(x, i) * sigm(at(x, j)));
    });
    check_close(out, want, 1e-14, 1e-15, "glu");
  }
}

TEST_CASE("glu forward and gradients equal the composition a * sigmoid(b)") {
  Tensor x = leaf(randn_t({3, 10}, DType::f64));
  Tensor g = randn_t({3, 5}, DType::f64, 6);
  Tensor out = glu(x);
  backward(out, g);
  Tensor a = leaf(core::narrow(x, 1, 0, 5)), b = leaf(core::narrow(x, 1, 5, 5));
  Tensor composed = mul(a, sigmoid(b));
  backward(composed, g);
  check_close(out, read_all(composed), 1e-15, 0, "forward");
  check_close(core::narrow(grad(x), 1, 0, 5), read_all(grad(a)), 1e-15, 1e-16, "da");
  check_close(core::narrow(grad(x), 1, 5, 5), read_all(grad(b)), 1e-15, 1e-16, "db");
}

TEST_CASE("glu rejects an odd size naming the shape") {
  std::string msg = error_of([] { glu(ones({2, 5})); });
  CHECK(contains(msg, "[glu]"));
  CHECK(contains(msg, "(2, 5)"));
}
