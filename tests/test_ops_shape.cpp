// Shape ops (ops/shape): views share storage and route gradients to their base through chains;
// cat/stack/pad/flip/cumsum forward values against float64 references written here; cumsum on
// lines crossing the CUDA tile size and on long lines, on the CPU and (when present) on CUDA.
#include <numeric>

#include "autograd/autograd.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"

using namespace coil;
using namespace coil::testing;

namespace {

Tensor leaf(const Shape& shape, uint64_t seed = 1, DType dt = DType::f64) {
  Tensor x = randn_t(shape, dt, seed);
  set_requires_grad(x);
  return x;
}

// Devices to run on: the CPU, and CUDA when this machine has it.
std::vector<Device> devices() {
  std::vector<Device> d{Device::cpu()};
  if (cuda_available()) d.push_back(Device::cuda());
  return d;
}

}  // namespace

TEST_CASE("view ops return views on the input's storage, with no copy") {
  Tensor x = randn_t({2, 3, 4}, DType::f64);
  auto same = [&](const Tensor& v) { return v.storage().get() == x.storage().get(); };
  CHECK(same(reshape(x, {6, 4})));
  CHECK(same(view(x, {4, -1})));
  CHECK(same(permute(x, {2, 0, 1})));
  CHECK(same(transpose(x, 0, 2)));
  CHECK(same(slice(x, 2, 1, 4, 2)));
  CHECK(same(narrow(x, 1, 1, 2)));
  CHECK(same(select(x, 0, 1)));
  CHECK(same(expand(unsqueeze(x, 0), {5, 2, 3, 4})));
  CHECK(same(squeeze(unsqueeze(x, 1), 1)));
  CHECK(same(flatten(x)));
  CHECK(same(contiguous(x)));
  CHECK(same(to(x, Device::cpu())));
  CHECK(same(to(x, DType::f64)));
  // Writes to the base show through the view.
  Tensor v = select(transpose(x, 0, 2), 0, 3);  // v[j][i] = x[i][j][3]
  core::fill_(x, 2.5);
  CHECK(at(v, {1, 1}) == 2.5);
  // A copy only where strides cannot express the result.
  CHECK(!same(reshape(transpose(x, 0, 1), {-1})));
  CHECK(!same(contiguous(transpose(x, 0, 1))));
}

TEST_CASE("no-op views are fresh handles that carry their own history") {
  Tensor x = leaf({3, 4});
  for (Tensor y : {squeeze(x, 0), contiguous(x), to(x, Device::cpu()), to(x, DType::f64),
                   reshape(x, {3, 4})}) {
    CHECK(!y.is_same(x));
    CHECK(grad_fn(y) != nullptr);
    CHECK(is_leaf(x));
  }
}

TEST_CASE("gradients through chains of views reach the base leaf") {
  // The chain run on the values and on the base's flat indices (as f64): each output element
  // names the base element it reads, so grad[base] = sum of the cotangents that read it.
  using Chain = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<const char*, Chain>> chains = {
      {"permute, slice, reshape",
       [](const Tensor& t) {
         return reshape(slice(permute(t, {2, 0, 1}), 0, 1, 5, 2), {-1, 3});
       }},
      {"transpose, select, unsqueeze, expand",
       [](const Tensor& t) {
         return expand(unsqueeze(select(transpose(t, 0, 1), 2, -1), 0), {4, 3, 2});
       }},
      {"narrow, flatten, view, squeeze",
       [](const Tensor& t) {
         return squeeze(view(flatten(narrow(t, 1, 1, 1), 1), {2, 1, 5}), 1);
       }},
      {"contiguous of a transpose, to, cat with itself",
       [](const Tensor& t) {
         Tensor c = to(contiguous(transpose(t, 1, 2)), DType::f64);
         return cat({c, narrow(c, 2, 0, 1)}, 2);
       }},
      {"flip, pad, stack",
       [](const Tensor& t) {
         return stack({pad(flip(t, {0, 2}), {1, 0}), pad(t, {0, 1})}, 1);
       }},
  };
  const Shape shape{2, 3, 5};
  for (auto& [label, chain] : chains) {
    CAPTURE(label);
    Tensor x = leaf(shape, 3);
    Tensor y = chain(x);
    Tensor v = randn_t(y.shape(), DType::f64, 9);
    backward(y, v);
    REQUIRE(grad(x).defined());
    CHECK(grad(x).shape() == shape);
    std::vector<double> ids(size_t(shape_numel(shape)));
    std::iota(ids.begin(), ids.end(), 1.0);  // 0 marks padding
    Tensor src;
    {
      NoGradGuard no_grad;
      src = chain(from_vector(ids, shape));
    }
    std::vector<double> want(ids.size(), 0.0), vs = read_all(v), from = read_all(src);
    for (size_t i = 0; i < from.size(); ++i)
      if (from[i] > 0) want[size_t(from[i]) - 1] += vs[i];
    check_close(grad(x), want, 1e-14, 1e-14, label);
  }
}

TEST_CASE("the gradient of to() returns to the source dtype and device") {
  Tensor x = leaf({3, 2}, 4, DType::f32);
  Tensor y = to(x, DType::f64);
  CHECK(y.dtype() == DType::f64);
  backward(y, full({3, 2}, 1.5, {DType::f64}));
  CHECK(grad(x).dtype() == DType::f32);
  check_equal(grad(x), std::vector<double>(6, 1.5));
  if (cuda_available()) {
    Tensor z = leaf({4}, 5, DType::f32);
    Tensor g = to(z, Device::cuda());
    CHECK(g.device() == Device::cuda());
    backward(g, full({4}, 2.0, {DType::f32, Device::cuda()}));
    CHECK(grad(z).device() == Device::cpu());
    check_equal(grad(z), std::vector<double>(4, 2.0));
  }
}

TEST_CASE("cat, stack and pad place every input where the float64 reference says") {
  for (Device dev : devices()) {
    CAPTURE(dev.str());
    Tensor a = randn_t({2, 3, 2}, DType::f64, 1), b = randn_t({2, 1, 2}, DType::f64, 2);
    Tensor c = randn_t({2, 4, 2}, DType::f64, 3);
    Tensor out = to(cat({to(a, dev), to(b, dev), to(c, dev)}, 1), Device::cpu());
    REQUIRE(out.shape() == Shape{2, 8, 2});
    std::vector<double> want;
    for_each_index(out.shape(), [&](const Shape& i) {
      int64_t j = i[1];
      if (j < 3) want.push_back(at(a, {i[0], j, i[2]}));
      else if (j < 4) want.push_back(at(b, {i[0], j - 3, i[2]}));
      else want.push_back(at(c, {i[0], j - 4, i[2]}));
    });
    check_equal(out, want, "cat");

    Tensor p = randn_t({3, 2}, DType::f64, 4), q = transpose(randn_t({2, 3}, DType::f64, 5), 0, 1);
    Tensor st = to(stack({to(p, dev), to(q, dev)}, 1), Device::cpu());
    REQUIRE(st.shape() == Shape{3, 2, 2});
    want.clear();
    for_each_index(st.shape(), [&](const Shape& i) {
      want.push_back(at(i[1] == 0 ? p : q, {i[0], i[2]}));
    });
    check_equal(st, want, "stack");

    // PyTorch's order: {last_before, last_after, second_last_before, second_last_after}.
    Tensor x = randn_t({2, 3, 4}, DType::f64, 6);
    Tensor padded = to(pad(to(x, dev), {1, 2, 0, 3}, -7.0), Device::cpu());
    REQUIRE(padded.shape() == Shape{2, 6, 7});
    want.clear();
    for_each_index(padded.shape(), [&](const Shape& i) {
      bool inside = i[1] < 3 && i[2] >= 1 && i[2] < 5;
      want.push_back(inside ? at(x, {i[0], i[1], i[2] - 1}) : -7.0);
    });
    check_equal(padded, want, "pad");
  }
  Tensor ints = pad(arange(4), {2, 1}, 9);
  CHECK(ints.dtype() == DType::i64);
  check_equal(ints, {9, 9, 0, 1, 2, 3, 9}, "pad of i64");
}

TEST_CASE("flip reverses the chosen dims for every element size and layout") {
  for (Device dev : devices()) {
    CAPTURE(dev.str());
    for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::u8, DType::i64}) {
      CAPTURE(dtype_name(dt));
      Tensor base = core::to(arange(0, 2 * 3 * 5, 1, {DType::f64}), dt);
      // (3, 5, 2) with strides (5, 1, 15): the kernel walks a non-contiguous input on `dev`.
      auto strided = [](const Tensor& t) {
        return core::permute(core::reshape(t, {2, 3, 5}), {1, 2, 0});
      };
      Tensor x = strided(base), xd = strided(core::to(base, dev));
      for (std::vector<int64_t> dims :
           std::vector<std::vector<int64_t>>{{0}, {1, -1}, {0, 1, 2}, {}}) {
        Tensor got = to(flip(xd, dims), Device::cpu());
        CHECK(got.dtype() == dt);
        std::vector<double> want;
        for_each_index(x.shape(), [&](const Shape& i) {
          Shape j = i;
          for (int64_t d : dims) {
            size_t n = size_t(d < 0 ? d + 3 : d);
            j[n] = x.shape()[n] - 1 - i[n];
          }
          want.push_back(at(x, j));
        });
        check_equal(got, want, "flip");
      }
    }
    Tensor s = to(full({}, 4.0), dev);
    CHECK(to(flip(s, {}), Device::cpu()).item<float>() == 4.0f);
    CHECK(flip(to(zeros({0, 3}), dev), {0}).shape() == Shape{0, 3});
  }
}

namespace {

// Inclusive cumsum along `dim` of a (outer, len, inner) block in double, forward or reverse.
std::vector<double> cumsum_ref(const std::vector<double>& x, int64_t outer, int64_t len,
                               int64_t inner, bool reverse) {
  std::vector<double> out(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0;
      for (int64_t s = 0; s < len; ++s) {
        int64_t l = reverse ? len - 1 - s : s;
        size_t at = size_t((o * len + l) * inner + i);
        acc += x[at];
        out[at] = acc;
      }
    }
  return out;
}

// max |got - want| / max |want|
double scaled_error(const std::vector<double>& got, const std::vector<double>& want) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

}  // namespace

TEST_CASE("cumsum matches a float64 reference across the scan's tile sizes and long lines") {
  struct Case {
    Shape shape;
    int64_t dim;
  };
  // (outer, len, inner) cases: single elements, odd and just-past-tile lengths (1024 per tile),
  // a long line, and strided columns (inner > 1) long and short.
  std::vector<Case> cases = {{{1}, 0},          {{3, 1}, 1},     {{5}, 0},         {{65}, 0},
                             {{2, 1025}, 1},    {{3, 4097}, -1}, {{1, 100000}, 1}, {{1025, 3}, 0},
                             {{2, 4097, 3}, 1}, {{3, 7, 2}, 1},  {{4, 2000}, 1}};
  for (Device dev : devices()) {
    for (DType dt : {DType::f64, DType::f32}) {
      for (const Case& c : cases) {
        CAPTURE(dev.str());
        CAPTURE(dtype_name(dt));
        CAPTURE(shape_str(c.shape));
        int64_t dim = c.dim < 0 ? c.dim + int64_t(c.shape.size()) : c.dim;
        int64_t outer = 1, inner = 1, len = c.shape[size_t(dim)];
        for (size_t d = 0; d < c.shape.size(); ++d) {
          if (int64_t(d) < dim) outer *= c.shape[d];
          if (int64_t(d) > dim) inner *= c.shape[d];
        }
        // Uniform in [-0.5, 1): sums drift, so long lines test accumulation, not cancellation.
        Tensor x = to(uniform_t(c.shape, -0.5, 1.0, dt, 21), dev);
        std::vector<double> xs = read_all(to(to(x, Device::cpu()), DType::f64));
        set_requires_grad(x);
        Tensor y = cumsum(x, c.dim);
        CHECK(y.shape() == c.shape);
        CHECK(y.dtype() == dt);
        // f32 rounding errors of a running sum grow like sqrt(len) ulps (about 2e-8 sqrt(len)
        // here, sequentially on the CPU); the margin is 5x.
        double tol = dt == DType::f64 ? 1e-13 : 1e-7 * std::sqrt(double(len)) + 1e-7;
        auto got = read_all(to(to(y, Device::cpu()), DType::f64));
        CHECK(scaled_error(got, cumsum_ref(xs, outer, len, inner, false)) <= tol);
        // backward: the reverse cumsum of the cotangent
        Tensor v = to(uniform_t(c.shape, -0.5, 1.0, dt, 22), dev);
        std::vector<double> vs = read_all(to(to(v, Device::cpu()), DType::f64));
        backward(y, v);
        auto g = read_all(to(to(grad(x), Device::cpu()), DType::f64));
        CHECK(scaled_error(g, cumsum_ref(vs, outer, len, inner, true)) <= tol);
        // deterministic: a second run is bitwise equal
        Tensor y2 = cumsum(detach(x), c.dim);
        CHECK(read_all(to(y2, Device::cpu())) == read_all(to(y, Device::cpu())));
      }
    }
  }
}

TEST_CASE("cumsum of integers is exact, of bf16 accumulates in f32, of a scalar is itself") {
  for (Device dev : devices()) {
    CAPTURE(dev.str());
    Tensor i = to(core::reshape(arange(12), {3, 4}), dev);
    check_equal(to(cumsum(i, 1), Device::cpu()), {0, 1, 3, 6, 4, 9, 15, 22, 8, 17, 27, 38}, "i64");
    Tensor i32 = core::to(i, DType::i32);
    check_equal(to(cumsum(i32, 0), Device::cpu()), {0, 1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21},
                "i32");
    // 300 ones: a bf16 accumulator would stall at 256; f32 accumulation rounds only the output.
    Tensor b = to(full({300}, 1.0, {DType::bf16}), dev);
    auto got = read_all(to(cumsum(b, 0), Device::cpu()));
    CHECK(got[255] == 256.0);
    CHECK(got[299] == 300.0);
    CHECK(to(cumsum(to(full({}, 3.0), dev), -1), Device::cpu()).item<float>() == 3.0f);
  }
}

TEST_CASE("shape errors name the op and the shapes") {
  std::string e = error_of([] { cat({ones({2, 3}), ones({3, 4})}, 0); });
  CHECK(contains(e, "[cat]"));
  CHECK(contains(e, "(2, 3), (3, 4)"));
  e = error_of([] { stack({ones({2}), ones({2}, {DType::f64})}, 0); });
  CHECK(contains(e, "[stack]"));
  CHECK(contains(e, "f64"));
  e = error_of([] { pad(ones({3}), {1, 2, 3}); });
  CHECK(contains(e, "[pad]"));
  CHECK(contains(e, "(3,)"));
  e = error_of([] { flip(ones({2, 3}), {1, -1}); });
  CHECK(contains(e, "[flip]"));
  CHECK(contains(e, "more than once"));
}
