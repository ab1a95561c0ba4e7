// Behaviour of the differentiable reductions (sum, mean, max, logsumexp, var, argmax) and matrix
// products (matmul, bmm, linear) against hand-written float64 references.
#include <algorithm>
#include <cmath>
#include <functional>

#include "autograd/autograd.h"
#include "core/reduce.h"
#include "ops/elementwise/elementwise.h"
#include "ops/linalg/linalg.h"
#include "ops/reduce/reduce.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;

namespace {

using SliceFn = std::function<double(const std::vector<double>&)>;

// Applies f to every reduced slice (values in row-major order); results in the row-major order
// of the output, which is the same with and without keepdim.
std::vector<double> reference(const Tensor& x, std::vector<int64_t> dims, const SliceFn& f) {
  int64_t n = x.dim();
  if (dims.empty())
    for (int64_t d = 0; d < n; ++d) dims.push_back(d);
  std::vector<bool> reduced(size_t(n), false);
  for (int64_t d : dims) reduced[size_t(d < 0 ? d + n : d)] = true;
  Shape kept;
  for (int64_t d = 0; d < n; ++d) kept.push_back(reduced[size_t(d)] ? 1 : x.shape()[size_t(d)]);
  std::vector<std::vector<double>> slices(size_t(shape_numel(kept)));
  for_each_index(x.shape(), [&](const Shape& i) {
    int64_t o = 0;
    for (int64_t d = 0; d < n; ++d)
      o = o * kept[size_t(d)] + (reduced[size_t(d)] ? 0 : i[size_t(d)]);
    slices[size_t(o)].push_back(at(x, i));
  });
  std::vector<double> out;
  for (const auto& s : slices) out.push_back(f(s));
  return out;
}

double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s;
}
double ref_mean(const std::vector<double>& v) { return ref_sum(v) / double(v.size()); }
double ref_max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double ref_logsumexp(const std::vector<double>& v) {
  double m = ref_max(v), s = 0;
  for (double e : v) s += std::exp(e - m);
  return m + std::log(s);
}
SliceFn ref_var(int64_t correction) {
  return [correction](const std::vector<double>& v) {
    double m = ref_mean(v), ss = 0;
    for (double e : v) ss += (e - m) * (e - m);
    return ss / double(int64_t(v.size()) - correction);
  };
}

Tensor leaf(const Tensor& t) {
  Tensor c = core::clone(t);
  set_requires_grad(c);
  return c;
}

struct DimsCase {
  std::vector<int64_t> dims;
  bool keepdim;
  Shape shape;  // expected output shape for a (3, 4, 5) input
};

const std::vector<DimsCase> kDimsCases = {
    {{1}, false, {3, 5}}, {{-1}, true, {3, 4, 1}}, {{0, 2}, false, {4}},  {{2, 0}, true, {1, 4, 1}},
    {{0, 1}, false, {5}}, {{}, false, {}},         {{}, true, {1, 1, 1}}, {{0, 1, 2}, false, {}}};

}  // namespace

TEST_CASE("reductions match float64 references over one, several, non-adjacent and all dims") {
  Tensor dense = randn_t({3, 4, 5}, DType::f64, 3);
  // The same values through a permuted layout: kernels must not assume contiguity.
  Tensor permuted = core::permute(core::contiguous(core::permute(dense, {2, 0, 1})), {1, 2, 0});
  for (const Tensor& x : {dense, permuted}) {
    for (const auto& c : kDimsCases) {
      CAPTURE(shape_str(c.dims));
      CAPTURE(c.keepdim);
      struct Op {
        const char* name;
        Tensor out;
        SliceFn ref;
      };
      std::vector<Op> ops = {{"sum", sum(x, c.dims, c.keepdim), ref_sum},
                             {"mean", mean(x, c.dims, c.keepdim), ref_mean},
                             {"max", max(x, c.dims, c.keepdim), ref_max},
                             {"logsumexp", logsumexp(x, c.dims, c.keepdim), ref_logsumexp},
                             {"var", var(x, c.dims, 1, c.keepdim), ref_var(1)},
                             {"var biased", var(x, c.dims, 0, c.keepdim), ref_var(0)}};
      for (const auto& op : ops) {
        CAPTURE(op.name);
        CHECK(op.out.shape() == c.shape);
        CHECK(op.out.dtype() == DType::f64);
        check_close(op.out, reference(x, c.dims, op.ref), 1e-12, 1e-12, op.name);
      }
    }
  }
}

TEST_CASE("gradients of sum and mean broadcast back over the reduced dims, keepdim or not") {
  Tensor x = leaf(randn_t({2, 3, 4}, DType::f64, 5));
  Tensor g = from_vector<double>({1, -2, 3, 0.5, 7, -1}, {2, 3});
  for (bool keepdim : {false, true}) {
    CAPTURE(keepdim);
    zero_grad(x);
    Tensor gk = keepdim ? core::reshape(g, {2, 3, 1}) : g;
    backward(sum(x, {2}, keepdim), gk);
    std::vector<double> want;
    for (double v : g.to_vector<double>()) want.insert(want.end(), 4, v);
    check_close(grad(x), want, 0, 0, "sum");
    zero_grad(x);
    backward(mean(x, {-1}, keepdim), gk);
    for (double& v : want) v /= 4;
    check_close(grad(x), want, 1e-15, 0, "mean");
  }
}

TEST_CASE("max shares the gradient evenly among tied maxima, like torch.amax") {
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    Tensor x =
        leaf(core::to(from_vector<double>({1, 3, 3, 2, 2, 2, 5, 0, -1, -4, 7, 7}, {4, 3}), dt));
    Tensor g = core::to(from_vector<double>({2, 3, 1, 6}, {4}), dt);
    Tensor out = max(x, {1});
    check_equal(out, {3, 2, 5, 7});
    backward(out, g);
    check_close(grad(x), {0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 3, 3}, 1e-7, 0, "row ties");
    // Ties across several reduced dims: the whole (2, 2) block shares one gradient.
    Tensor y = leaf(core::to(from_vector<double>({4, 1, 4, 4}, {2, 2}), dt));
    backward(max(y), full({}, 1.5, {dt}));
    check_close(grad(y), {0.5, 0, 0.5, 0.5}, 1e-7, 0, "all dims");
  }
}

TEST_CASE("logsumexp stays finite for large inputs and handles -inf slices") {
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    double tol = dt == DType::f64 ? 1e-13 : 1e-6;
    Tensor x =
        leaf(core::to(from_vector<double>({1000, 1000, 999, -1000, -1001, -1000}, {2, 3}), dt));
    Tensor out = logsumexp(x, {1});
    double e = std::exp(-1.0), s = 2 + e;
    check_close(out, {1000 + std::log(s), -1000 + std::log(s)}, tol, 0, "values");
    backward(out, ones({2}, {dt}));
    check_close(grad(x), {1 / s, 1 / s, e / s, 1 / s, e / s, 1 / s}, tol, 0, "softmax gradient");
    // A fully masked slice gives -inf and zero gradient (not NaN); masked entries get zero.
    Tensor m =
        leaf(core::to(from_vector<double>({-INFINITY, -INFINITY, 0.5, -INFINITY}, {2, 2}), dt));
    Tensor lse = logsumexp(m, {-1}, true);
    CHECK(lse.shape() == Shape{2, 1});
    check_equal(lse, {-INFINITY, 0.5});
    backward(lse, ones({2, 1}, {dt}));
    check_equal(grad(m), {0, 0, 1, 0});
  }
  // An empty slice: log of an empty sum.
  check_equal(logsumexp(zeros({0, 3}, {DType::f64}), {0}), {-INFINITY, -INFINITY, -INFINITY});
}

TEST_CASE("var matches a two-pass reference and keeps precision far from zero") {
  Generator g(9);
  Tensor noise = randn({6, 50}, {DType::f64}, &g);
  for (double offset : {0.0, 1e6}) {
    CAPTURE(offset);
    Tensor x = add(noise, offset);
    for (int64_t c : {0, 1, 49}) {
      CAPTURE(c);
      check_close(var(x, {1}, c), reference(x, {1}, ref_var(c)), 1e-9, 0, "f64");
    }
  }
  // f32 at offset 1000: the one-pass E[x^2] - E[x]^2 would lose every digit here.
  Tensor x32 = core::to(add(noise, 1000.0), DType::f32);
  check_close(var(x32, {-1}), reference(add(noise, 1000.0), {1}, ref_var(1)), 1e-3, 0, "f32");
  // Gradient: 2 (x - mean) / (count - correction).
  Tensor x = leaf(from_vector<double>({1, 2, 4, 7}, {4}));
  backward(var(x, {}, 1));
  check_close(grad(x), {2 * -2.5 / 3, 2 * -1.5 / 3, 2 * 0.5 / 3, 2 * 3.5 / 3}, 1e-14, 0, "grad");
  CHECK(contains(error_of([] { var(ones({3, 2}), {0, 1}, 6); }), "[var] correction 6"));
}

TEST_CASE("sum keeps integer dtypes as i64; argmax gives the first maximum and no gradient") {
  Tensor ints = from_vector<int32_t>({1, 2, 3, 4}, {2, 2});
  Tensor s = sum(ints, {0});
  CHECK(s.dtype() == DType::i64);
  check_equal(s, {4, 6});
  Tensor x = leaf(from_vector<double>({1, 5, 5, 9, 2, 9}, {2, 3}));
  Tensor idx = argmax(x, -1);
  CHECK(idx.dtype() == DType::i64);
  CHECK(!requires_grad(idx));
  check_equal(idx, {1, 0});
  CHECK(argmax(x, 0, true).shape() == Shape{1, 3});
  CHECK(contains(error_of([&] { argmax(x, 2); }), "[argmax]"));
  CHECK(contains(error_of([] { argmax(Tensor(), 0); }), "[argmax]"));
}

TEST_CASE("reductions name the op for bad dims") {
  CHECK(contains(error_of([] { max(ones({2, 3}), {5}); }), "[max]"));
  CHECK(contains(error_of([] { logsumexp(ones({2, 3}), {0, -2}); }), "[logsumexp] repeated"));
}

namespace {

int64_t flat_index(const Shape& idx, const Shape& shape) {
  int64_t o = 0;
  for (size_t d = 0; d < shape.size(); ++d) o = o * shape[d] + idx[d];
  return o;
}

struct MatmulRef {
  std::vector<double> out, ga, gb;
};

// a (batch_a..., M, K) @ b (batch_b..., K, N) with NumPy broadcasting of the batch dims, and the
// gradients of <g, out> (g shaped like out), accumulated over every batch element that reads
// each operand element. Operands of rank >= 2.
MatmulRef matmul_reference(const Tensor& a, const Tensor& b, const Tensor& g) {
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb, "reference");
  int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  MatmulRef r;
  r.out.assign(size_t(shape_numel(batch) * m * n), 0.0);
  r.ga.assign(size_t(a.numel()), 0.0);
  r.gb.assign(size_t(b.numel()), 0.0);
  auto operand = [](const Shape& bi, const Shape& ob) {
    Shape idx;
    size_t lead = bi.size() - ob.size();
    for (size_t d = 0; d < ob.size(); ++d) idx.push_back(ob[d] == 1 ? 0 : bi[lead + d]);
    return idx;
  };
  auto with = [](Shape idx, int64_t i, int64_t j) {
    idx.push_back(i);
    idx.push_back(j);
    return idx;
  };
  for_each_index(batch.empty() ? Shape{1} : batch, [&](const Shape& bi0) {
    Shape bi = batch.empty() ? Shape{} : bi0;
    Shape ia = operand(bi, ab), ib = operand(bi, bb);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        Shape io = with(bi, i, j);
        double gv = at(g, io);
        for (int64_t p = 0; p < k; ++p) {
          Shape pa = with(ia, i, p), pb = with(ib, p, j);
          double av = at(a, pa), bv = at(b, pb);
          r.out[size_t(flat_index(io, g.shape()))] += av * bv;
          r.ga[size_t(flat_index(pa, a.shape()))] += gv * bv;
          r.gb[size_t(flat_index(pb, b.shape()))] += av * gv;
        }
      }
  });
  return r;
}

}  // namespace

TEST_CASE("matmul values and gradients match a float64 reference, summed over broadcast batches") {
  struct Case {
    Shape a, b, out;
  };
  std::vector<Case> cases = {{{3, 4}, {4, 5}, {3, 5}},
                             {{2, 3, 5}, {5, 4}, {2, 3, 4}},           // shared weight
                             {{3, 4}, {2, 4, 3}, {2, 3, 3}},           // shared lhs
                             {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},  // both broadcast
                             {{1, 3, 2, 4}, {2, 1, 4, 3}, {2, 3, 2, 3}}};
  uint64_t seed = 20;
  for (const auto& c : cases) {
    CAPTURE(shape_str(c.a));
    CAPTURE(shape_str(c.b));
    Tensor a = leaf(randn_t(c.a, DType::f64, seed++)), b = leaf(randn_t(c.b, DType::f64, seed++));
    Tensor out = matmul(a, b);
    REQUIRE(out.shape() == c.out);
    Tensor g = randn_t(c.out, DType::f64, seed++);
    MatmulRef ref = matmul_reference(a, b, g);
    check_close(out, ref.out, 1e-12, 1e-12, "out");
    backward(out, g);
    REQUIRE(grad(a).shape() == c.a);
    REQUIRE(grad(b).shape() == c.b);
    check_close(grad(a), ref.ga, 1e-12, 1e-12, "grad a");
    check_close(grad(b), ref.gb, 1e-12, 1e-12, "grad b");
  }
}

TEST_CASE("matmul with 1-D operands drops their dim and returns gradients of their shape") {
  Tensor v = leaf(from_vector<double>({1, 2, 3}));
  Tensor w = leaf(from_vector<double>({4, -1, 0.5}));
  Tensor dot = matmul(v, w);
  CHECK(dot.shape() == Shape{});
  check_equal(dot, {3.5});
  backward(dot);
  check_equal(grad(v), {4, -1, 0.5});
  check_equal(grad(w), {1, 2, 3});

  Tensor m = leaf(from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2}));  // (3, 2)
  Tensor u = leaf(from_vector<double>({1, -1}));
  Tensor mv = matmul(m, u);
  check_equal(mv, {-1, -1, -1});
  backward(mv, from_vector<double>({1, 2, 3}));
  check_equal(grad(m), {1, -1, 2, -2, 3, -3});
  check_equal(grad(u), {22, 28});

  zero_grad(v);
  Tensor b3 = leaf(randn_t({2, 3, 4}, DType::f64, 31));
  Tensor vm = matmul(v, b3);  // (3) @ (2, 3, 4) -> (2, 4)
  CHECK(vm.shape() == Shape{2, 4});
  backward(vm, ones({2, 4}, {DType::f64}));
  // d/dv_k = sum over batch and columns of b3[:, k, :]
  check_close(grad(v), reference(b3, {0, 2}, ref_sum), 1e-12, 0, "grad v");
}

TEST_CASE("bmm gradients equal those of matmul on the same batches") {
  Tensor a = leaf(randn_t({3, 4, 5}, DType::f64, 40)), b = leaf(randn_t({3, 5, 2}, DType::f64, 41));
  Tensor a2 = leaf(a), b2 = leaf(b);
  Tensor g = randn_t({3, 4, 2}, DType::f64, 42);
  backward(bmm(a, b), g);
  backward(matmul(a2, b2), g);
  check_close(grad(a), read_all(grad(a2)), 1e-14, 0, "grad a");
  check_close(grad(b), read_all(grad(b2)), 1e-14, 0, "grad b");
}

TEST_CASE("linear equals matmul(x, W^T) + b, in values and gradients") {
  for (bool with_bias : {true, false}) {
    CAPTURE(with_bias);
    Tensor x = leaf(randn_t({2, 3, 5}, DType::f64, 50));
    Tensor w = leaf(randn_t({4, 5}, DType::f64, 51));
    Tensor bias = with_bias ? leaf(randn_t({4}, DType::f64, 52)) : Tensor();
    // The composition: W^T as its own leaf, so its gradient is dW transposed.
    Tensor x2 = leaf(x), wt = leaf(core::transpose(w, 0, 1));
    Tensor b2 = with_bias ? leaf(bias) : Tensor();
    Tensor y = linear(x, w, bias);
    Tensor z = matmul(x2, wt);
    if (with_bias) z = add(z, b2);
    CHECK(y.shape() == Shape{2, 3, 4});
    check_close(y, read_all(z), 1e-13, 1e-13, "forward");
    Tensor g = randn_t({2, 3, 4}, DType::f64, 53);
    backward(y, g);
    backward(z, g);
    check_close(grad(x), read_all(grad(x2)), 1e-13, 1e-13, "grad x");
    check_close(grad(w), read_all(core::transpose(grad(wt), 0, 1)), 1e-13, 1e-13, "grad W");
    if (with_bias) {
      check_close(grad(bias), read_all(grad(b2)), 1e-13, 1e-13, "grad bias");
      check_close(grad(bias), reference(g, {0, 1}, ref_sum), 1e-13, 0, "bias = sum of g");
    }
  }
  // A 1-D input is one row; f32 works like f64.
  Tensor v = from_vector<float>({1, 2}), w = from_vector<float>({1, 0, 0, 1, 2, 3}, {3, 2});
  Tensor y = linear(v, w, from_vector<float>({0.5f, 0, -8}));
  CHECK(y.shape() == Shape{3});
  check_equal(y, {1.5, 2, 0});
}

TEST_CASE("linear and matmul name the op and both shapes for bad operands") {
  std::string e = error_of([] { linear(ones({2, 3}), ones({4, 5})); });
  CHECK(contains(e, "[linear]"));
  CHECK(contains(e, "(2, 3)"));
  CHECK(contains(e, "(4, 5)"));
  CHECK(contains(error_of([] { linear(ones({2, 5}), ones({4, 5}), ones({3})); }), "bias"));
  CHECK(contains(error_of([] { matmul(ones({2, 3}), ones({4})); }), "[matmul] inner"));
}
