// softmax, log_softmax and cross_entropy: forward values and gradients against float64
// references written here, overflow safety, the fused cross-entropy kernels against the
// composition log_softmax -> pick target, error messages, and (with a GPU) the CUDA kernels on
// long, odd and misaligned rows against the CPU.
#include <cmath>
#include <limits>

#include "autograd/autograd.h"
#include "core/views.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/softmax/softmax.h"
#include "tests/support/checks.h"
#include "tests/support/compare.h"

using namespace coil;
using namespace coil::testing;

namespace {

// softmax / log_softmax of x along dim, in double, in x's row-major order.
std::vector<double> ref_softmax(const Tensor& x, int64_t dim, bool log) {
  const Shape& shape = x.shape();
  dim = dim < 0 ? dim + x.dim() : dim;
  const std::vector<double> v = read_all(x);
  const int64_t n = shape[size_t(dim)], stride = contiguous_strides(shape)[size_t(dim)];
  std::vector<double> out(v.size());
  for (int64_t i = 0; i < int64_t(v.size()); ++i) {
    if ((i / stride) % n != 0) continue;  // i starts a line along dim
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < n; ++k) m = std::max(m, v[size_t(i + k * stride)]);
    for (int64_t k = 0; k < n; ++k) s += std::exp(v[size_t(i + k * stride)] - m);
    for (int64_t k = 0; k < n; ++k) {
      double a = v[size_t(i + k * stride)];
      out[size_t(i + k * stride)] = log ? a - m - std::log(s) : std::exp(a - m) / s;
    }
  }
  return out;
}

// Per-position cross-entropy losses in double (0 where ignored), and the number kept.
std::pair<std::vector<double>, int64_t> ref_ce(const Tensor& logits, const Tensor& target,
                                               int64_t ignore, double eps) {
  const std::vector<double> x = read_all(logits), t = read_all(target);
  const int64_t C = logits.size(-1);
  std::vector<double> loss(t.size(), 0.0);
  int64_t kept = 0;
  for (size_t r = 0; r < t.size(); ++r) {
    if (int64_t(t[r]) == ignore) continue;
    ++kept;
    const double* row = x.data() + r * size_t(C);
    double m = -INFINITY, s = 0, sx = 0;
    for (int64_t j = 0; j < C; ++j) m = std::max(m, row[j]);
    for (int64_t j = 0; j < C; ++j) s += std::exp(row[j] - m), sx += row[j];
    const double lse = m + std::log(s);
    loss[r] = (1 - eps) * (lse - row[int64_t(t[r])]) + eps * (lse - sx / double(C));
  }
  return {loss, kept};
}

Tensor targets(const Shape& shape, int64_t C, uint64_t seed, std::vector<size_t> ignored = {},
               DType dt = DType::i64) {
  Generator g(seed);
  Tensor t = randint(0, C, shape, {DType::i64, Device::cpu()}, &g);
  auto v = t.to_vector<int64_t>();
  for (size_t i : ignored) v[i] = -100;
  return core::to(from_vector(v, shape), dt);
}

Tensor leaf(const Tensor& t) {
  Tensor x = core::clone(t);
  set_requires_grad(x);
  return x;
}

}  // namespace

TEST_CASE("softmax and log_softmax match a float64 reference along every dim, f32 and f64") {
  struct Case {
    Shape shape;
    int64_t dim;
  };
  const std::vector<Case> cases = {{{4, 37}, -1},  {{3, 5, 6}, 0},  {{3, 5, 6}, 1},
                                   {{3, 5, 6}, 2}, {{2, 1500}, -1}, {{1}, 0}};
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f32 ? 2e-6 : 1e-13;
    for (const Case& c : cases) {
      CAPTURE(shape_str(c.shape));
      CAPTURE(c.dim);
      Tensor x = core::to(randn_t(c.shape, DType::f64, 3), dt);
      Tensor xt = c.shape.size() >= 2
                      ? core::transpose(core::contiguous(core::transpose(x, 0, -1)), 0, -1)
                      : x;
      for (const Tensor& in : {x, xt}) {
        check_close(softmax(in, c.dim), ref_softmax(x, c.dim, false), tol, 1e-12, "softmax");
        check_close(log_softmax(in, c.dim), ref_softmax(x, c.dim, true), tol, tol, "log_softmax");
      }
    }
  }
  // A scalar is one row of one element.
  CHECK(softmax(scalar_tensor(3.5), 0).item<double>() == 1.0);
  CHECK(log_softmax(scalar_tensor(3.5), -1).item<double>() == 0.0);
}

TEST_CASE("softmax of rows with huge values (1e4) is finite and exact") {
  const std::vector<double> v = {1e4, 1e4 - 1, -1e4, 0,    1e4, 1e4,
                                 1e4, 1e4,     -1e4, -1e4, 5e3, 1e4 - 3};
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = core::to(from_vector(v, {3, 4}), dt);
    Tensor y = softmax(x), ly = log_softmax(x);
    for (double a : read_all(y)) CHECK(std::isfinite(a));
    for (double a : read_all(ly)) CHECK(std::isfinite(a));
    check_close(y, ref_softmax(x, -1, false), 1e-6, 1e-12, "softmax");
    check_close(ly, ref_softmax(x, -1, true), 1e-6, 1e-6, "log_softmax");
  }
}

TEST_CASE("softmax and log_softmax gradients follow their closed forms") {
  for (int64_t dim : {-1, 0}) {
    CAPTURE(dim);
    Tensor x = leaf(randn_t({6, 9}, DType::f64, 5));
    Tensor g = randn_t({6, 9}, DType::f64, 6);
    for (bool log : {false, true}) {
      CAPTURE(log);
      zero_grad(x);
      backward(log ? log_softmax(x, dim) : softmax(x, dim), g);
      // Reference on the (row, col) view along dim: softmax dx = y (g - sum g y),
      // log_softmax dx = g - exp(y) sum g.
      Tensor xv = dim == 0 ? core::transpose(x, 0, 1) : x,
             gv = dim == 0 ? core::transpose(g, 0, 1) : g;
      auto y = ref_softmax(core::contiguous(xv), -1, log), gg = read_all(gv);
      const int64_t rows = xv.size(0), n = xv.size(1);
      std::vector<double> want(y.size());
      for (int64_t r = 0; r < rows; ++r) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j)
          acc += log ? gg[size_t(r * n + j)] : gg[size_t(r * n + j)] * y[size_t(r * n + j)];
        for (int64_t j = 0; j < n; ++j) {
          size_t k = size_t(r * n + j);
          want[k] = log ? gg[k] - std::exp(y[k]) * acc : y[k] * (gg[k] - acc);
        }
      }
      Tensor dx = dim == 0 ? core::transpose(grad(x), 0, 1) : grad(x);
      check_close(dx, want, 1e-12, 1e-13, "dx");
    }
  }
}

TEST_CASE("cross_entropy equals -log_softmax at the target with smoothing, over kept targets") {
  for (DType dt : {DType::f32, DType::f64}) {
    for (double eps : {0.0, 0.2}) {
      for (DType tdt : {DType::i64, DType::i32}) {
        CAPTURE(eps);
        const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
        Tensor x = core::to(randn_t({2, 5, 11}, DType::f64, 8), dt);
        Tensor t = targets({2, 5}, 11, 9, {0, 7}, tdt);
        auto [rows, kept] = ref_ce(x, t, -100, eps);
        double total = 0;
        for (double a : rows) total += a;
        check_close(cross_entropy(x, t, {.reduction = Reduction::none, .label_smoothing = eps}),
                    rows, tol, tol, "none");
        check_close(cross_entropy(x, t, {.reduction = Reduction::sum, .label_smoothing = eps}),
                    {total}, tol, tol, "sum");
        check_close(cross_entropy(x, t, {.label_smoothing = eps}), {total / double(kept)}, tol, tol,
                    "mean");
        // The same numbers through the composition: -(1 - eps) lp[t] - eps mean(lp).
        auto lp = read_all(log_softmax(x));
        auto tv = read_all(t);
        for (size_t r = 0; r < tv.size(); ++r) {
          if (tv[r] < 0) continue;
          double mean_lp = 0;
          for (size_t j = 0; j < 11; ++j) mean_lp += lp[r * 11 + j] / 11;
          CHECK(std::abs(-(1 - eps) * lp[r * 11 + size_t(tv[r])] - eps * mean_lp - rows[r]) <=
                tol * 10);
        }
      }
    }
  }
}

TEST_CASE("the fused cross_entropy gradient agrees with log_softmax's backward of -pick") {
  const int64_t C = 13;
  Tensor x0 = randn_t({7, C}, DType::f64, 10);
  Tensor t = targets({7}, C, 11, {3});
  for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none}) {
    for (double eps : {0.0, 0.3}) {
      CAPTURE(eps);
      CAPTURE(int(red));
      Tensor x = leaf(x0), xc = leaf(x0);
      Tensor loss = cross_entropy(x, t, {.reduction = red, .label_smoothing = eps});
      Tensor g =
          red == Reduction::none ? randn_t({7}, DType::f64, 12) : scalar_tensor(1.7, {DType::f64});
      backward(loss, g);
      // Cotangent of log_softmax's output for loss_r = -(1-eps) lp[r, t_r] - eps/C sum_j lp[r, j].
      auto tv = read_all(t), gv = read_all(g);
      const double kept = 6;
      std::vector<double> v(size_t(7 * C), 0.0);
      for (int64_t r = 0; r < 7; ++r) {
        if (tv[size_t(r)] < 0) continue;
        double s =
            red == Reduction::none ? gv[size_t(r)] : gv[0] / (red == Reduction::mean ? kept : 1.0);
        for (int64_t j = 0; j < C; ++j)
          v[size_t(r * C + j)] =
              -s * ((j == int64_t(tv[size_t(r)]) ? 1 - eps : 0) + eps / double(C));
      }
      backward(log_softmax(xc), from_vector(v, {7, C}));
      check_close(grad(x), read_all(grad(xc)), 1e-12, 1e-14, "dlogits");
      for (int64_t j = 0; j < C; ++j) CHECK(at(grad(x), {3, j}) == 0.0);  // ignored row
    }
  }
}

TEST_CASE("cross_entropy edge cases: all targets ignored, C = 1, custom ignore_index") {
  Tensor x = leaf(randn_t({3, 4}, DType::f64, 13));
  Tensor none_kept = from_vector<int64_t>({-100, -100, -100});
  Tensor mean = cross_entropy(x, none_kept);
  CHECK(std::isnan(mean.item<double>()));  // 0 / 0, as in PyTorch
  backward(mean);
  for (double a : read_all(grad(x))) CHECK(a == 0.0);
  CHECK(cross_entropy(x, none_kept, {.reduction = Reduction::sum}).item<double>() == 0.0);

  Tensor one = randn_t({5, 1}, DType::f32, 14);
  check_equal(cross_entropy(one, from_vector<int64_t>({0, 0, 0, 0, 0}),
                            {.reduction = Reduction::none, .label_smoothing = 0.4}),
              {0, 0, 0, 0, 0});

  Tensor t = from_vector<int64_t>({2, 1, 2});
  auto [rows, kept] = ref_ce(x, t, 2, 0.0);
  CHECK(kept == 1);
  check_close(cross_entropy(x, t, {.ignore_index = 2}), {rows[1]}, 1e-12, 1e-12, "ignore 2");
  // With ignore_index 2, -100 is an ordinary (out-of-range) target.
  CHECK(contains(error_of([&] {
                   cross_entropy(x, from_vector<int64_t>({-100, 0, 1}), {.ignore_index = 2});
                 }),
                 "target -100 at flat position 0"));
}

TEST_CASE("cross_entropy and softmax name the op, the values and the shapes in errors") {
  Tensor x = ones({2, 3, 5});
  CHECK(contains(error_of([&] {
                   cross_entropy(x, from_vector<int64_t>({0, 1, 2, 3, 4, 7}, {2, 3}));
                 }),
                 "[cross_entropy] target 7 at flat position 5 is out of range for 5 classes"));
  CHECK(contains(error_of([&] {
                   cross_entropy(x, zeros({3, 2}, {DType::i64}));
                 }),
                 "target shape (3, 2) must equal the leading shape (2, 3) of logits (2, 3, 5)"));
  CHECK(contains(error_of([&] {
                   cross_entropy(x, zeros({2, 3}));
                 }),
                 "[cross_entropy] target must hold integer"));
  CHECK(contains(error_of([&] {
                   cross_entropy(x, zeros({2, 3}, {DType::i64}), {.label_smoothing = 1.5});
                 }),
                 "label_smoothing must be in [0, 1), got 1.5"));
  CHECK(contains(error_of([&] { softmax(x, 3); }), "[softmax] dimension 3 is out of range"));
  CHECK(contains(error_of([&] { log_softmax(x, -4); }),
                 "[log_softmax] dimension -4 is out of range"));
}

TEST_CASE("CUDA softmax and cross_entropy match the CPU on long, odd and misaligned rows") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  // 50280: block rows, 16-byte aligned; 4099: block rows whose starts drift off alignment;
  // 1000 and 33: warp rows. Offset 1 makes x and a fresh output differently aligned, which
  // takes the scalar path.
  for (Shape shape : {Shape{3, 50280}, Shape{5, 4099}, Shape{9, 1000}, Shape{11, 33}}) {
    for (int64_t offset : {0, 1}) {
      CAPTURE(shape_str(shape));
      CAPTURE(offset);
      const int64_t rows = shape[0], C = shape[1];
      const Tensor base = randn_t({rows * C + 1}, DType::f32, 15);
      const Tensor base_gpu = core::to(base, Device::cuda());
      auto leaves = [&] {
        Tensor xc = make_view(base, shape, {C, 1}, offset);
        Tensor xg = make_view(base_gpu, shape, {C, 1}, offset);
        set_requires_grad(xc), set_requires_grad(xg);
        return std::pair{xc, xg};
      };
      const Tensor g = randn_t(shape, DType::f32, 16);
      for (bool log : {false, true}) {
        CAPTURE(log);
        auto [xc, xg] = leaves();
        Tensor yc = log ? log_softmax(xc) : softmax(xc), yg = log ? log_softmax(xg) : softmax(xg);
        CHECK(rel_error(yg, yc) <= 1e-5);
        backward(yc, g);
        backward(yg, core::to(g, Device::cuda()));
        CHECK(rel_error(grad(xg), grad(xc)) <= 1e-5);
      }
      const Tensor t = targets({rows}, C, 17, {1});
      const Tensor t_gpu = core::to(t, Device::cuda());
      for (double eps : {0.0, 0.1}) {
        for (Reduction red : {Reduction::mean, Reduction::none}) {
          CAPTURE(eps);
          auto [xc, xg] = leaves();
          CrossEntropyOptions o{.reduction = red, .label_smoothing = eps};
          Tensor lc = cross_entropy(xc, t, o), lg = cross_entropy(xg, t_gpu, o);
          CHECK(rel_error(lg, lc) <= 1e-5);
          Tensor gl = red == Reduction::none ? randn_t({rows}, DType::f32, 18) : scalar_tensor(1.0);
          backward(lc, gl);
          backward(lg, core::to(gl, Device::cuda()));
          CHECK(rel_error(grad(xg), grad(xc)) <= 1e-5);
          CHECK(bitwise_equal(cross_entropy(detach(xg), t_gpu, o), lg));  // reproducible
        }
      }
    }
  }
  Tensor xg = core::to(ones({4, 2000}), Device::cuda());
  Tensor bad = core::to(from_vector<int64_t>({0, -100, 2000, 3}), Device::cuda());
  // On CUDA the error surfaces at the next host synchronisation: here item().
  CHECK(contains(error_of([&] { cross_entropy(xg, bad).item<float>(); }),
                 "target 2000 at flat position 2 is out of range for 2000 classes"));
}
