// Reductions (sum, mean, amax, amin, argmax, argmin) over one, several, non-adjacent and all dims,
// with and without keepdim, on contiguous and permuted/sliced inputs, against a double reference.
#include <limits>

#include "core/elementwise.h"
#include "core/reduce.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;
namespace core = coil::core;

namespace {

struct Ref {
  Shape shape;  // result shape
  std::vector<double> sum, mean, max, min, argmax, argmin;
};

// Straightforward reduction by walking every input element through the independent reader.
Ref reference(const Tensor& t, std::vector<int64_t> dims, bool keepdim) {
  const int64_t n = t.dim();
  if (dims.empty())
    for (int64_t d = 0; d < n; ++d) dims.push_back(d);
  std::vector<bool> reduced(size_t(n), false);
  for (int64_t d : dims) reduced[size_t(d < 0 ? d + n : d)] = true;
  Ref r;
  Shape kept;  // keepdim shape: same row-major order as the squeezed one
  for (int64_t d = 0; d < n; ++d) {
    kept.push_back(reduced[size_t(d)] ? 1 : t.shape()[size_t(d)]);
    if (!reduced[size_t(d)] || keepdim) r.shape.push_back(kept.back());
  }
  int64_t outs = shape_numel(kept), count = t.numel() / std::max<int64_t>(outs, 1);
  r.sum.assign(size_t(outs), 0.0);
  r.max.assign(size_t(outs), -INFINITY);
  r.min.assign(size_t(outs), INFINITY);
  r.argmax.assign(size_t(outs), -1);
  r.argmin.assign(size_t(outs), -1);
  for_each_index(t.shape(), [&](const Shape& i) {
    int64_t o = 0, pos = 0;  // pos: index along the (single) reduced dim, for argmax/argmin
    for (int64_t d = 0; d < n; ++d) {
      o = o * kept[size_t(d)] + (reduced[size_t(d)] ? 0 : i[size_t(d)]);
      if (reduced[size_t(d)]) pos = i[size_t(d)];
    }
    double v = at(t, i);
    r.sum[size_t(o)] += v;
    if (v > r.max[size_t(o)]) r.max[size_t(o)] = v, r.argmax[size_t(o)] = double(pos);
    if (v < r.min[size_t(o)]) r.min[size_t(o)] = v, r.argmin[size_t(o)] = double(pos);
  });
  for (double s : r.sum) r.mean.push_back(s / double(count));
  return r;
}

}  // namespace

TEST_CASE("sum, mean, amax and amin match a double reference over any set of dims") {
  const std::vector<std::vector<int64_t>> dim_sets = {
      {1}, {-1}, {0}, {0, 2}, {1, 3}, {1, 2}, {2, 0}, {0, 1, 3}, {0, 1, 2, 3}, {}};
  for (DType dt : {DType::f32, DType::f64}) {
    double rtol = dt == DType::f32 ? 1e-6 : 1e-12, atol = dt == DType::f32 ? 1e-9 : 1e-13;
    std::vector<std::pair<std::string, Tensor>> inputs = {
        {"contiguous", randn_t({4, 5, 6, 3}, dt, 1)},
        {"permuted", core::permute(randn_t({6, 4, 3, 5}, dt, 2), {1, 3, 0, 2})},
        {"sliced", core::slice(randn_t({4, 10, 6, 3}, dt, 3), 1, 1, 10, 2)},
        {"expanded", core::expand(randn_t({4, 1, 6, 3}, dt, 4), {4, 5, 6, 3})},
    };
    for (auto& [layout, x] : inputs) {
      REQUIRE(x.shape() == Shape{4, 5, 6, 3});
      for (const auto& dims : dim_sets) {
        for (bool keepdim : {false, true}) {
          std::string what = fmt::format("{} {} dims {} keepdim {}", dtype_name(dt), layout,
                                         shape_str(dims), keepdim);
          Ref ref = reference(x, dims, keepdim);
          Tensor s = core::sum(x, dims, keepdim), m = core::mean(x, dims, keepdim);
          Tensor mx = core::amax(x, dims, keepdim), mn = core::amin(x, dims, keepdim);
          for (const Tensor* r : {&s, &m, &mx, &mn}) {
            CHECK_MESSAGE(r->shape() == ref.shape, what);
            CHECK(r->dtype() == dt);
          }
          check_close(s, ref.sum, rtol, atol, "sum " + what);
          check_close(m, ref.mean, rtol, atol, "mean " + what);
          check_equal(mx, ref.max, "amax " + what);
          check_equal(mn, ref.min, "amin " + what);
        }
      }
    }
  }
}

TEST_CASE("argmax and argmin give i64 indices along each dim, on contiguous and permuted input") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (const Tensor& x :
         {randn_t({4, 5, 6}, dt, 4), core::permute(randn_t({6, 4, 5}, dt, 5), {1, 2, 0})}) {
      for (int64_t d : {0, 1, 2, -1}) {
        for (bool keepdim : {false, true}) {
          Ref ref = reference(x, {d}, keepdim);
          Tensor am = core::argmax(x, d, keepdim), an = core::argmin(x, d, keepdim);
          CHECK(am.dtype() == DType::i64);
          CHECK(am.shape() == ref.shape);
          CHECK(an.shape() == ref.shape);
          check_equal(am, ref.argmax, fmt::format("argmax dim {} keepdim {}", d, keepdim));
          check_equal(an, ref.argmin, fmt::format("argmin dim {} keepdim {}", d, keepdim));
        }
      }
    }
  }
}

TEST_CASE("argmax and argmin return the first of tied extremes") {
  check_equal(core::argmax(from_vector<float>({1, 3, 3, 2}), 0), {1});
  check_equal(core::argmin(from_vector<float>({2, 1, 5, 1}), 0), {1});
  Tensor m = from_vector<int32_t>({4, 4, 1, 0, 7, 7}, {2, 3});
  check_equal(core::argmax(m, 1), {0, 1});
  check_equal(core::argmin(m, 0), {1, 0, 0});
}

TEST_CASE("NaN propagates through amax/amin and is what argmax points at") {
  Tensor x = from_vector<float>({1.f, NAN, 3.f, -1.f});
  CHECK(std::isnan(core::amax(x).item<float>()));
  CHECK(std::isnan(core::amin(x).item<float>()));
  CHECK(core::argmax(x, 0).item<int64_t>() == 1);
  CHECK(core::argmin(x, 0).item<int64_t>() == 1);
}

TEST_CASE("integer and bool sums widen to i64 exactly; amax keeps the integer dtype") {
  Generator g(9);
  Tensor i = randint(-50, 50, {3, 4, 5}, {DType::i32, Device::cpu()}, &g);
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{1}, {0, 2}, {}}) {
    Tensor s = core::sum(i, dims);
    CHECK(s.dtype() == DType::i64);
    check_equal(s, reference(i, dims, false).sum, "i32 sum " + shape_str(dims));
  }
  Tensor mx = core::amax(i, {2});
  CHECK(mx.dtype() == DType::i32);
  check_equal(mx, reference(i, {2}, false).max);
  Tensor u = full({4, 300}, 200.0, {DType::u8, Device::cpu()});
  Tensor su = core::sum(u, {1});
  CHECK(su.dtype() == DType::i64);
  check_equal(su, std::vector<double>(4, 60000.0));
  Tensor b = core::binary(BinaryOp::gt, randn_t({1000}), scalar_tensor(0.0));
  Tensor cnt = core::sum(b);
  CHECK(cnt.dtype() == DType::i64);
  CHECK(double(cnt.item<int64_t>()) == reference(b, {}, false).sum[0]);
  Tensor big = full({8}, double(int64_t(1) << 40), {DType::i64, Device::cpu()});
  CHECK(core::sum(big).item<int64_t>() == int64_t(8) << 40);
}

TEST_CASE("reductions of large tensors (parallel path) match the reference") {
  Tensor x = randn_t({64, 33, 40}, DType::f32, 12);
  check_close(core::sum(x, {1}), reference(x, {1}, false).sum, 1e-6, 1e-9, "sum dim 1");
  Tensor p = core::permute(x, {2, 0, 1});
  check_close(core::sum(p, {0, 2}), reference(p, {0, 2}, false).sum, 1e-6, 1e-9, "sum perm");
  check_equal(core::argmax(p, 1), reference(p, {1}, false).argmax, "argmax perm");
  Tensor all = core::sum(x);
  CHECK(all.dim() == 0);
  check_close(all, reference(x, {}, false).sum, 1e-6, 1e-9, "sum all");
}

TEST_CASE("reducing a scalar or an empty tensor gives the identity, mean of nothing is NaN") {
  Tensor s = scalar_tensor(2.5);
  CHECK(core::sum(s).item<float>() == 2.5f);
  CHECK(core::amax(s).item<float>() == 2.5f);
  // As in PyTorch, a scalar reduces over dim 0 or -1 to itself.
  CHECK(core::sum(s, {0}).item<float>() == 2.5f);
  CHECK(core::mean(s, {-1}, true).dim() == 0);
  CHECK(core::amin(s, {0}).item<float>() == 2.5f);
  CHECK(core::argmax(s, 0).item<int64_t>() == 0);
  CHECK(core::argmin(s, -1).item<int64_t>() == 0);
  Tensor e = zeros({3, 0});
  Tensor se = core::sum(e, {1});
  CHECK(se.shape() == Shape{3});
  check_equal(se, {0, 0, 0});
  CHECK(core::sum(e, {0}).shape() == Shape{0});
  CHECK(core::sum(e).item<float>() == 0.f);
  CHECK(core::sum(e, {1}, true).shape() == Shape{3, 1});
  CHECK(std::isnan(core::mean(e).item<float>()));
}

TEST_CASE("reduction_dims normalises, sorts and reduced_shape drops or keeps dims") {
  Tensor t = randn_t({2, 3, 4});
  CHECK(core::reduction_dims(t, {-1, 0}, "test") == std::vector<int64_t>{0, 2});
  CHECK(core::reduction_dims(t, {}, "test") == std::vector<int64_t>{0, 1, 2});
  CHECK(core::reduced_shape({2, 3, 4}, {0, 2}, false) == Shape{3});
  CHECK(core::reduced_shape({2, 3, 4}, {0, 2}, true) == Shape{1, 3, 1});
}
