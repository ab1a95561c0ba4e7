// Selective scan (S6) on the CPU: forward against a naive sequential float64 loop written here,
// f32 against f64, chunked runs with a carried state against one pass, packed sequences against
// separate runs, bitwise determinism across runs and thread counts, strided inputs read in
// place, long sequences without gradients, NaN propagation, and the recurrent step forms of the
// scan and of conv1d_causal (including conv1d_causal's reset option).
#include <omp.h>
#include <sys/resource.h>

#include <cmath>

#include "autograd/autograd.h"
#include "ops/conv1d/conv1d.h"
#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"
#include "ops/selective_scan/selective_scan.h"
#include "ops/shape/shape.h"
#include "tests/support/checks.h"
#include "tests/support/compare.h"

using namespace coil;
using namespace coil::testing;

namespace {

// ---- problems and the naive reference ---------------------------------------------------------

struct Options {
  bool D = true, z = true, bias = true, state = true, softplus = true;
  std::vector<std::pair<int64_t, int64_t>> resets = {};  // (b, t) positions set to true
};

struct Problem {
  int64_t Bt, L, Dch, N, G;
  bool softplus;
  Tensor u, delta, A, B, C, D, z, bias, s0, reset;  // f64 on the CPU (reset: bool)
};

Tensor bool_mask(int64_t Bt, int64_t L, const std::vector<std::pair<int64_t, int64_t>>& at) {
  std::vector<uint8_t> r(size_t(Bt * L), 0);
  for (auto [b, t] : at) r[size_t(b * L + t)] = 1;
  return core::to(from_vector(r, {Bt, L}), DType::boolean);
}

Problem make_problem(int64_t Bt, int64_t L, int64_t Dch, int64_t N, int64_t G, uint64_t seed,
                     const Options& o = {}) {
  const DType f = DType::f64;
  Problem p{Bt, L, Dch, N, G, o.softplus, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  p.u = randn_t({Bt, L, Dch}, f, seed);
  p.delta = o.softplus ? randn_t({Bt, L, Dch}, f, seed + 1)
                       : uniform_t({Bt, L, Dch}, 0.05, 0.8, f, seed + 1);
  p.A = uniform_t({Dch, N}, -1.5, -0.1, f, seed + 2);
  p.B = randn_t({Bt, L, G, N}, f, seed + 3);
  p.C = randn_t({Bt, L, G, N}, f, seed + 4);
  if (o.D) p.D = randn_t({Dch}, f, seed + 5);
  if (o.z) p.z = randn_t({Bt, L, Dch}, f, seed + 6);
  // Without softplus dt = delta + bias must stay positive, or the state grows without bound.
  if (o.bias)
    p.bias = o.softplus ? uniform_t({Dch}, -1.0, 0.5, f, seed + 7)
                        : uniform_t({Dch}, 0.0, 0.3, f, seed + 7);
  if (o.state) p.s0 = randn_t({Bt, Dch, N}, f, seed + 8);
  if (!o.resets.empty()) p.reset = bool_mask(Bt, L, o.resets);
  return p;
}

struct Reference {
  std::vector<double> out, final_state;
};

// The recurrence of REFERENCE.md section 7, one (b, d) at a time, straight from the definition.
Reference naive_scan(const Problem& p) {
  auto val = [](const Tensor& t, std::vector<int64_t> i) { return t.defined() ? at(t, i) : 0.0; };
  Reference r{std::vector<double>(size_t(p.Bt * p.L * p.Dch)),
              std::vector<double>(size_t(p.Bt * p.Dch * p.N))};
  const int64_t per_group = p.Dch / p.G;
  for (int64_t b = 0; b < p.Bt; ++b)
    for (int64_t d = 0; d < p.Dch; ++d) {
      std::vector<double> h(size_t(p.N));
      for (int64_t n = 0; n < p.N; ++n) h[size_t(n)] = val(p.s0, {b, d, n});
      for (int64_t t = 0; t < p.L; ++t) {
        if (p.reset.defined() && at(p.reset, {b, t}) != 0) std::fill(h.begin(), h.end(), 0.0);
        double dt = at(p.delta, {b, t, d}) + val(p.bias, {d});
        if (p.softplus && dt <= 20) dt = std::log1p(std::exp(dt));
        const double u = at(p.u, {b, t, d});
        double y = val(p.D, {d}) * u;
        for (int64_t n = 0; n < p.N; ++n) {
          const int64_t g = d / per_group;
          h[size_t(n)] =
              std::exp(dt * at(p.A, {d, n})) * h[size_t(n)] + dt * at(p.B, {b, t, g, n}) * u;
          y += at(p.C, {b, t, g, n}) * h[size_t(n)];
        }
        if (p.z.defined()) {
          const double z = at(p.z, {b, t, d});
          y *= z / (1 + std::exp(-z));
        }
        r.out[size_t((b * p.L + t) * p.Dch + d)] = y;
      }
      for (int64_t n = 0; n < p.N; ++n)
        r.final_state[size_t((b * p.Dch + d) * p.N + n)] = h[size_t(n)];
    }
  return r;
}

// ---- running the op ---------------------------------------------------------------------------

constexpr int kInputs = 9;  // u, delta, A, B, C, D, z, delta_bias, initial_state

struct Run {
  Tensor out, final_state;
  std::vector<Tensor> grads;  // per input; undefined where absent
};

std::vector<Tensor> inputs_of(const Problem& p) {
  return {p.u, p.delta, p.A, p.B, p.C, p.D, p.z, p.bias, p.s0};
}

// The op in dtype dt; with cotangents, also the gradients of <gout, out> + <gfin, final_state>.
Run run(const Problem& p, DType dt, const Tensor& gout = {}, const Tensor& gfin = {}) {
  std::vector<Tensor> in;
  for (const Tensor& t : inputs_of(p)) {
    Tensor c = t.defined() ? core::clone(core::to(t, dt)) : Tensor();
    if (c.defined() && gout.defined()) set_requires_grad(c);
    in.push_back(c);
  }
  auto [out, fs] = selective_scan(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7],
                                  p.softplus, in[8], p.reset);
  Run r{out, fs, {}};
  if (gout.defined()) {
    backward(add(sum(mul(out, core::to(gout, dt))), sum(mul(fs, core::to(gfin, dt)))));
    for (const Tensor& t : in) r.grads.push_back(t.defined() ? grad(t) : Tensor());
  }
  return r;
}

// max |got - want| / max |want|, in double.
double rel(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double diff = 0, scale = 1e-300;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

struct Shape5 {
  std::string label;
  int64_t Bt, L, Dch, N, G;
  Options o;
};

const std::vector<Shape5>& awkward_shapes() {
  static const std::vector<Shape5> shapes{
      {"L = 1", 2, 1, 5, 3, 1, {}},
      {"odd sizes, no optional input", 3, 9, 7, 5, 1, {false, false, false, false, false, {}}},
      {"L = 65 past a chunk, resets at 0, mid-chunk and on the boundary",
       2,
       65,
       20,
       16,
       1,
       {true, true, true, true, true, {{0, 0}, {0, 30}, {1, 64}}}},
      {"L = 200, G = 4, no softplus",
       2,
       200,
       36,
       8,
       4,
       {true, true, true, true, false, {{1, 128}}}},
      {"one channel per group, N = 1", 1, 70, 6, 1, 6, {}},
      {"Dch = 33: a partial lane tile", 1, 40, 33, 16, 1, {true, false, true, false, true, {}}}};
  return shapes;
}

}  // namespace

// ---- the scan -----------------------------------------------------------------------------------

TEST_CASE("selective_scan matches a naive sequential float64 reference on awkward shapes") {
  for (const auto& s : awkward_shapes()) {
    CAPTURE(s.label);
    const Problem p = make_problem(s.Bt, s.L, s.Dch, s.N, s.G, 11, s.o);
    const Reference ref = naive_scan(p);
    const Run r64 = run(p, DType::f64);
    CHECK(rel(read_all(r64.out), ref.out) <= 1e-12);
    CHECK(rel(read_all(r64.final_state), ref.final_state) <= 1e-12);
    const Run r32 = run(p, DType::f32);
    CHECK(rel(read_all(r32.out), ref.out) <= 2e-5);
    CHECK(rel(read_all(r32.final_state), ref.final_state) <= 2e-5);
  }
}

TEST_CASE("selective_scan with steps so large that the decays underflow matches the reference") {
  // dt * A far below -87: exp underflows to 0 (the f32 kernel's clamped exp path), and delta
  // above 20 takes softplus's linear branch.
  Problem p = make_problem(2, 9, 12, 16, 1, 13);
  p.delta = core::clone(p.delta);
  double* d = static_cast<double*>(p.delta.data_ptr());
  for (int64_t i = 0; i < p.delta.numel(); i += 2) d[i] = 100 + 30 * d[i];
  const Reference ref = naive_scan(p);
  CHECK(rel(read_all(run(p, DType::f64).out), ref.out) <= 1e-12);
  const Tensor gout = randn_t({2, 9, 12}, DType::f64, 14),
               gfin = randn_t({2, 12, 16}, DType::f64, 15);
  const Run r32 = run(p, DType::f32, gout, gfin), r64 = run(p, DType::f64, gout, gfin);
  CHECK(rel(read_all(r32.out), ref.out) <= 2e-5);
  CHECK(rel(read_all(r32.final_state), ref.final_state) <= 2e-5);
  for (int i = 0; i < kInputs; ++i) {  // the backward's recompute takes the clamped path too
    CAPTURE(i);
    CHECK(rel_error(r32.grads[size_t(i)], r64.grads[size_t(i)]) <= 1e-4);
  }
}

TEST_CASE("float32 scan on the Mamba workload is within 1e-6 of float64, outputs and gradients") {
  // Mamba's init: A = -(1..N), delta_bias so that dt is about 0.02 .. 0.3; N = 16 (the f32
  // kernels' unrolled path). The polynomial exp and softplus must not drift along the state.
  const int64_t Bt = 2, L = 256, Dch = 72, N = 16;
  Problem p = make_problem(Bt, L, Dch, N, 1, 21);
  std::vector<double> a(size_t(Dch * N));
  for (size_t i = 0; i < a.size(); ++i) a[i] = -double(i % size_t(N) + 1);
  p.A = from_vector(a, {Dch, N});
  p.bias = uniform_t({Dch}, -4.0, -1.0, DType::f64, 22);
  const Tensor gout = randn_t({Bt, L, Dch}, DType::f64, 23),
               gfin = randn_t({Bt, Dch, N}, DType::f64, 24);
  const Run r32 = run(p, DType::f32, gout, gfin), r64 = run(p, DType::f64, gout, gfin);
  CHECK(rel_error(r32.out, r64.out) <= 1e-6);
  CHECK(rel_error(r32.final_state, r64.final_state) <= 1e-6);
  for (int i = 0; i < kInputs; ++i) {
    CAPTURE(i);
    CHECK(rel_error(r32.grads[size_t(i)], r64.grads[size_t(i)]) <= 1e-6);
  }
}

TEST_CASE("selective_scan float32 gradients agree with float64 gradients") {
  for (const auto& s : awkward_shapes()) {
    CAPTURE(s.label);
    const Problem p = make_problem(s.Bt, s.L, s.Dch, s.N, s.G, 12, s.o);
    const Tensor gout = randn_t({s.Bt, s.L, s.Dch}, DType::f64, 99);
    const Tensor gfin = randn_t({s.Bt, s.Dch, s.N}, DType::f64, 98);
    const Run r64 = run(p, DType::f64, gout, gfin), r32 = run(p, DType::f32, gout, gfin);
    for (int i = 0; i < kInputs; ++i) {
      CAPTURE(i);
      REQUIRE(r64.grads[size_t(i)].defined() == r32.grads[size_t(i)].defined());
      if (r64.grads[size_t(i)].defined())
        CHECK(rel_error(r32.grads[size_t(i)], r64.grads[size_t(i)]) <= 1e-4);
    }
  }
}

TEST_CASE("running a sequence in chunks with the carried state equals one pass, with gradients") {
  const Problem p = make_problem(2, 150, 20, 4, 2, 21, {true, true, true, true, true, {{1, 60}}});
  const Tensor gout = randn_t({2, 150, 20}, DType::f64, 5),
               gfin = randn_t({2, 20, 4}, DType::f64, 6);
  const Run whole = run(p, DType::f64, gout, gfin);

  std::vector<Tensor> in;
  for (const Tensor& t : inputs_of(p)) in.push_back(set_requires_grad(core::clone(t)));
  Tensor state = in[8];
  std::vector<Tensor> outs;
  const std::vector<std::pair<int64_t, int64_t>> pieces{{0, 40}, {40, 67}, {107, 43}};
  for (auto [t0, len] : pieces) {
    auto piece = [&](const Tensor& t) { return narrow(t, 1, t0, len); };
    auto [out, fs] = selective_scan(piece(in[0]), piece(in[1]), in[2], piece(in[3]), piece(in[4]),
                                    in[5], piece(in[6]), in[7], true, state, piece(p.reset));
    outs.push_back(out);
    state = fs;
  }
  Tensor out = cat(outs, 1);
  CHECK(rel_error(out, whole.out) <= 1e-13);
  CHECK(rel_error(state, whole.final_state) <= 1e-13);
  backward(add(sum(mul(out, gout)), sum(mul(state, gfin))));
  for (int i = 0; i < kInputs; ++i) {
    CAPTURE(i);
    CHECK(rel_error(grad(in[size_t(i)]), whole.grads[size_t(i)]) <= 1e-12);
  }
}

TEST_CASE("reset keeps packed sequences apart: outputs and gradients equal separate runs") {
  // Row 0 packs sequences of lengths 37 and 90; the initial state is cut off by the reset at 0.
  const int64_t L1 = 37, L2 = 90, L = L1 + L2;
  const Problem packed =
      make_problem(1, L, 24, 16, 2, 31, {true, true, true, true, true, {{0, 0}, {0, L1}}});
  const Tensor gout = randn_t({1, L, 24}, DType::f64, 7),
               gfin = randn_t({1, 24, 16}, DType::f64, 8);
  const Run joint = run(packed, DType::f64, gout, gfin);

  auto part = [&](int64_t t0, int64_t len) {
    Problem p = packed;
    p.L = len;
    for (Tensor* t : {&p.u, &p.delta, &p.B, &p.C, &p.z})
      *t = core::clone(core::narrow(*t, 1, t0, len));
    p.s0 = Tensor();
    p.reset = Tensor();
    return p;
  };
  const Problem first = part(0, L1), second = part(L1, L2);
  const Run r1 =
      run(first, DType::f64, core::narrow(gout, 1, 0, L1), zeros({1, 24, 16}, {DType::f64}));
  const Run r2 = run(second, DType::f64, core::narrow(gout, 1, L1, L2), gfin);

  CHECK(rel_error(cat({r1.out, r2.out}, 1), joint.out) <= 1e-13);
  CHECK(rel_error(r2.final_state, joint.final_state) <= 1e-13);
  for (int i : {0, 1, 3, 4, 6}) {  // per-time inputs: u, delta, B, C, z
    CAPTURE(i);
    CHECK(rel_error(cat({r1.grads[size_t(i)], r2.grads[size_t(i)]}, 1), joint.grads[size_t(i)]) <=
          1e-12);
  }
  for (int i : {2, 5, 7}) {  // A, D, delta_bias: sums over both sequences
    CAPTURE(i);
    CHECK(rel_error(add(r1.grads[size_t(i)], r2.grads[size_t(i)]), joint.grads[size_t(i)]) <=
          1e-12);
  }
  // The reset at t = 0 discards the initial state: no gradient reaches it.
  for (double v : read_all(joint.grads[8])) CHECK(v == 0.0);
}

TEST_CASE("selective_scan outputs and gradients are bitwise reproducible across runs and threads") {
  const Problem p = make_problem(3, 200, 40, 16, 2, 41, {true, true, true, true, true, {{2, 100}}});
  const Tensor gout = randn_t({3, 200, 40}, DType::f64, 9),
               gfin = randn_t({3, 40, 16}, DType::f64, 10);
  const Run a = run(p, DType::f32, gout, gfin), b = run(p, DType::f32, gout, gfin);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Run one = run(p, DType::f32, gout, gfin);
  omp_set_num_threads(threads);
  for (const Run* r : {&b, &one}) {
    CHECK(bitwise_equal(r->out, a.out));
    CHECK(bitwise_equal(r->final_state, a.final_state));
    for (int i = 0; i < kInputs; ++i) {
      CAPTURE(i);
      CHECK(bitwise_equal(r->grads[size_t(i)], a.grads[size_t(i)]));
    }
  }
}

TEST_CASE("per-row gradients do not depend on how many rows share the call") {
  // Dch = 256 is 4 channel blocks whose dB/dC partials are summed in block order. Eight rows of
  // N = 64 hold the partials of 8 chunks at a time (two spans of chunks, synced in between); one
  // row holds its whole sequence at once. Same numbers, bitwise.
  const int64_t Bt = 8, L = 300, Dch = 256, N = 64;
  Problem all = make_problem(Bt, L, Dch, N, 1, 111, {true, true, true, false, true, {{3, 40}}});
  const Tensor gout = randn_t({Bt, L, Dch}, DType::f64, 112),
               gfin = randn_t({Bt, Dch, N}, DType::f64, 113);
  const Run batched = run(all, DType::f32, gout, gfin);
  for (int64_t b : {0, 3, 7}) {
    CAPTURE(b);
    Problem one = all;
    one.Bt = 1;
    for (Tensor* t : {&one.u, &one.delta, &one.B, &one.C, &one.z, &one.reset})
      *t = core::clone(core::narrow(*t, 0, b, 1));
    const Run single =
        run(one, DType::f32, core::narrow(gout, 0, b, 1), core::narrow(gfin, 0, b, 1));
    for (int i : {0, 1, 3, 4, 6}) {  // u, delta, B, C, z
      CAPTURE(i);
      CHECK(
          bitwise_equal(core::narrow(batched.grads[size_t(i)], 0, b, 1), single.grads[size_t(i)]));
    }
  }
}

TEST_CASE("selective_scan reads the strided slices of in_proj and x_proj outputs as they are") {
  const int64_t Bt = 2, L = 33, Dch = 24, N = 16, R = 3;
  const Tensor xz = randn_t({Bt, L, 2 * Dch}, DType::f32, 51);    // in_proj: x | z
  const Tensor xp = randn_t({Bt, L, R + 2 * N}, DType::f32, 52);  // x_proj: dt | B | C
  const Tensor delta = randn_t({Bt, L, Dch}, DType::f32, 53),
               A = uniform_t({Dch, N}, -2, -0.5, DType::f32, 54);
  const Tensor u = core::narrow(xz, 2, 0, Dch), z = core::narrow(xz, 2, Dch, Dch);
  const Tensor B = core::view(core::narrow(xp, 2, R, N), {Bt, L, 1, N});
  const Tensor C = core::view(core::narrow(xp, 2, R + N, N), {Bt, L, 1, N});
  CHECK(!u.is_contiguous());
  CHECK(!B.is_contiguous());
  auto strided = selective_scan(u, delta, A, B, C, Tensor(), z, Tensor(), true);
  auto dense = selective_scan(core::clone(u), delta, A, core::clone(B), core::clone(C), Tensor(),
                              core::clone(z), Tensor(), true);
  CHECK(bitwise_equal(strided.out, dense.out));
  CHECK(bitwise_equal(strided.final_state, dense.final_state));
}

TEST_CASE("selective_scan at L = 2^20 without gradients needs no O(L * Dch * N) memory") {
  const int64_t L = int64_t(1) << 20, Dch = 16, N = 16;
  // Inputs constant in time, as stride-0 views: the scan reads them in place.
  const Tensor u = core::expand(randn_t({1, 1, Dch}, DType::f32, 61), {1, L, Dch});
  const Tensor delta = core::expand(uniform_t({1, 1, Dch}, 0.05, 0.3, DType::f32, 62), {1, L, Dch});
  const Tensor A = uniform_t({Dch, N}, -1.0, -0.5, DType::f32, 63);
  const Tensor B = core::expand(randn_t({1, 1, 1, N}, DType::f32, 64), {1, L, 1, N});
  const Tensor C = core::expand(randn_t({1, 1, 1, N}, DType::f32, 65), {1, L, 1, N});
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  SelectiveScanOutput r;
  {
    NoGradGuard no_grad;
    r = selective_scan(u, delta, A, B, C);
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  // The output is 64 MiB; the (L, Dch, N) state would be 1 GiB.
  CHECK((after.ru_maxrss - before.ru_maxrss) * 1024 < 256 * 1024 * 1024);
  // Constant inputs drive h to the fixed point h* = dt B u / (1 - exp(dt A)).
  for (int64_t d = 0; d < Dch; ++d) {
    const double dt = at(delta, {0, 0, d}), uv = at(u, {0, 0, d});
    double y = 0;
    for (int64_t n = 0; n < N; ++n)
      y += at(C, {0, 0, 0, n}) * dt * at(B, {0, 0, 0, n}) * uv / (1 - std::exp(dt * at(A, {d, n})));
    CHECK(at(r.out, {0, L - 1, d}) == doctest::Approx(y).epsilon(1e-4));
  }
}

TEST_CASE("non-finite inputs propagate as NaN through the state, and a reset clears them") {
  Problem p = make_problem(2, 12, 5, 4, 1, 71, {true, true, true, true, true, {{0, 8}}});
  p.u = core::clone(p.u);
  static_cast<double*>(p.u.data_ptr())[(0 * 12 + 3) * 5 + 1] = NAN;  // u[0, 3, 1]
  for (DType dt : {DType::f64, DType::f32}) {
    const Run r = run(p, dt);
    for (int64_t t = 0; t < 12; ++t) {
      CAPTURE(t);
      CHECK(std::isnan(at(r.out, {0, t, 1})) == (t >= 3 && t < 8));
      CHECK(std::isfinite(at(r.out, {0, t, 0})));
      CHECK(std::isfinite(at(r.out, {1, t, 1})));
    }
  }
}

// ---- step forms -------------------------------------------------------------------------------

TEST_CASE("selective_scan_step token by token equals the full scan (L = 1 and odd L)") {
  for (int64_t L : {1, 7}) {
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(L);
      CAPTURE(dtype_name(dt));
      const Problem p = make_problem(2, L, 18, 16, 2, 81);
      const Run full = run(p, dt);
      auto c = [dt](const Tensor& t) { return core::to(t, dt); };
      Tensor state = core::clone(c(p.s0));
      for (int64_t t = 0; t < L; ++t) {
        auto at_t = [&](const Tensor& x) { return core::select(c(x), 1, t); };
        const Tensor y = selective_scan_step(state, at_t(p.u), at_t(p.delta), c(p.A), at_t(p.B),
                                             at_t(p.C), c(p.D), at_t(p.z), c(p.bias), true);
        CHECK(rel_error(y, core::select(full.out, 1, t)) <= (dt == DType::f64 ? 1e-13 : 1e-5));
      }
      CHECK(rel_error(state, full.final_state) <= (dt == DType::f64 ? 1e-13 : 1e-5));
    }
  }
}

TEST_CASE("selective_scan_step rejects bad shapes and dtypes, naming the op") {
  const Tensor state = zeros({2, 4, 3}), x = ones({2, 4}), A = full({4, 3}, -1.0),
               B = ones({2, 1, 3});
  CHECK(contains(error_of([&] {
                   selective_scan_step(zeros({2, 4, 2}), x, x, A, B, B);
                 }),
                 "[selective_scan_step]"));
  CHECK(contains(error_of([&] {
                   selective_scan_step(state, ones({2, 5}), x, A, B, B);
                 }),
                 "[selective_scan_step]"));
  CHECK(contains(error_of([&] {
                   selective_scan_step(state, x, x, A, ones({2, 3, 3}), ones({2, 3, 3}));
                 }),
                 "must divide"));
  CHECK(contains(error_of([&] {
                   selective_scan_step(zeros({2, 4, 3}, {DType::f64}), x, x, A, B, B);
                 }),
                 "[selective_scan_step]"));
}

TEST_CASE("conv1d_causal with reset equals separate runs of the packed sequences") {
  const int64_t C = 5, K = 4, L1 = 2, L2 = 9, L = L1 + L2;  // the first is shorter than K
  Tensor x = set_requires_grad(randn_t({1, L, C}, DType::f64, 91));
  Tensor w = set_requires_grad(randn_t({C, K}, DType::f64, 92));
  Tensor b = set_requires_grad(randn_t({C}, DType::f64, 93));
  const Tensor g = randn_t({1, L, C}, DType::f64, 94);
  Tensor out = conv1d_causal(x, w, b, bool_mask(1, L, {{0, L1}}));
  backward(out, g);
  Tensor dx = grad(x), dw = grad(w), db = grad(b);

  std::vector<Tensor> outs, dxs;
  Tensor dw_sum = zeros({C, K}, {DType::f64}), db_sum = zeros({C}, {DType::f64});
  for (auto [t0, len] : std::vector<std::pair<int64_t, int64_t>>{{0, L1}, {L1, L2}}) {
    Tensor xs = set_requires_grad(core::clone(core::narrow(x, 1, t0, len)));
    Tensor ws = set_requires_grad(core::clone(w)), bs = set_requires_grad(core::clone(b));
    Tensor o = conv1d_causal(xs, ws, bs);
    backward(o, core::contiguous(core::narrow(g, 1, t0, len)));
    outs.push_back(o);
    dxs.push_back(grad(xs));
    dw_sum = add(dw_sum, grad(ws));
    db_sum = add(db_sum, grad(bs));
  }
  CHECK(rel_error(out, cat(outs, 1)) <= 1e-14);
  CHECK(rel_error(dx, cat(dxs, 1)) <= 1e-14);
  CHECK(rel_error(dw, dw_sum) <= 1e-14);
  CHECK(rel_error(db, db_sum) <= 1e-14);
}

TEST_CASE("conv1d_causal_step token by token equals the full conv (L = 1, odd L, K > L)") {
  for (int64_t L : {1, 3, 7}) {
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(L);
      const int64_t Bt = 2, C = 6, K = 4;
      const Tensor x = randn_t({Bt, L, C}, dt, 101), w = randn_t({C, K}, dt, 102),
                   b = randn_t({C}, dt, 103);
      const Tensor full_out = conv1d_causal(x, w, b);
      Tensor state = zeros({Bt, C, K}, {dt});
      for (int64_t t = 0; t < L; ++t) {
        const Tensor y = conv1d_causal_step(state, core::select(x, 1, t), w, b);
        CHECK(rel_error(y, core::select(full_out, 1, t)) <= (dt == DType::f64 ? 1e-14 : 1e-6));
      }
    }
  }
  CHECK(contains(error_of([] {
                   conv1d_causal_step(zeros({2, 3, 4}), ones({2, 4}), ones({3, 4}));
                 }),
                 "[conv1d_causal_step]"));
  CHECK(contains(error_of([] {
                   conv1d_causal_step(zeros({2, 3, 4}), ones({2, 3}), ones({3, 3}));
                 }),
                 "[conv1d_causal_step]"));
}
