// The CUDA selective scan kernels (ops/selective_scan/cuda.cu) against a float64 CPU reference
// written here from REFERENCE.md section 7: forward and every gradient, at sizes around the
// kernels' tile (32 steps) and channel blocks, every optional input, resets, strided views, bf16,
// the chunked scan over L (forced short chunks and the natural long-L case), bitwise determinism
// and NaN propagation.
// Calls the cuda:: kernels directly, so it exists only in CUDA builds.
#if defined(COIL_WITH_CUDA)
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "core/copy.h"
#include "core/factory.h"
#include "ops/selective_scan/kernels.h"
#include "tests/support/compare.h"

using namespace coil;
using coil::testing::bitwise_equal;
using coil::testing::rel_error;

namespace {

struct Problem {
  int64_t Bt = 1, L = 1, Dch = 1, N = 1, G = 1;
  bool z = true, D = true, bias = true, softplus = true, h0 = true, reset = false, dfinal = true;
  bool bf16 = false, strided = false;
};

struct Data {
  std::vector<double> u, delta, z, A, B, C, D, bias, h0, dout, dfinal;
  std::vector<uint8_t> reset;
};

struct Result {
  std::vector<double> out, final_state, du, ddelta, dA, dB, dC, dD, dz, dbias, dinit;
};

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// bf16 inputs are rounded here so that the reference sees exactly what the kernel reads.
std::vector<double> draw(std::mt19937_64& rng, size_t n, double lo, double hi, bool normal,
                         bool round_bf16) {
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> ud(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) {
    x = normal ? lo + hi * nd(rng) : ud(rng);
    if (round_bf16) x = double(float(coil::bf16(float(x))));
  }
  return v;
}

Data make_data(const Problem& p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const size_t act = size_t(p.Bt * p.L * p.Dch), bc = size_t(p.Bt * p.L * p.G * p.N);
  const bool r = p.bf16;
  Data d;
  d.u = draw(rng, act, 0, 1, true, r);
  d.delta = p.softplus ? draw(rng, act, -1.5, 0.7, true, r) : draw(rng, act, 0.01, 0.4, false, r);
  d.z = draw(rng, act, 0, 1, true, r);
  d.A = draw(rng, size_t(p.Dch * p.N), -3, -0.1, false, false);
  d.B = draw(rng, bc, 0, 1, true, r);
  d.C = draw(rng, bc, 0, 1, true, r);
  d.D = draw(rng, size_t(p.Dch), 0, 1, true, false);
  // Without softplus, delta + bias must stay positive or the state grows without bound.
  d.bias = p.softplus ? draw(rng, size_t(p.Dch), -1, 0.5, false, false)
                      : draw(rng, size_t(p.Dch), 0, 0.1, false, false);
  d.h0 = draw(rng, size_t(p.Bt * p.Dch * p.N), 0, 1, true, false);
  d.dout = draw(rng, act, 0, 1, true, r);
  d.dfinal = draw(rng, size_t(p.Bt * p.Dch * p.N), 0, 1, true, false);
  d.reset.assign(size_t(p.Bt * p.L), 0);
  if (p.reset) {
    std::bernoulli_distribution flip(0.1);
    for (auto& x : d.reset) x = flip(rng);
    d.reset[0] = 1;  // a reset at t = 0 drops the initial state
  }
  return d;
}

// Sequential float64 forward and backward, straight from the recurrence.
Result reference(const Problem& p, const Data& x) {
  const int64_t Bt = p.Bt, L = p.L, Dch = p.Dch, N = p.N, G = p.G, cpg = Dch / G;
  Result r;
  r.out.assign(size_t(Bt * L * Dch), 0);
  r.final_state.assign(size_t(Bt * Dch * N), 0);
  r.du = r.ddelta = r.dz = r.out;
  r.dB.assign(size_t(Bt * L * G * N), 0);
  r.dC = r.dB;
  r.dA.assign(size_t(Dch * N), 0);
  r.dD.assign(size_t(Dch), 0);
  r.dbias = r.dD;
  r.dinit = r.final_state;
  std::vector<double> hs(static_cast<size_t>((L + 1) * N)), dt(static_cast<size_t>(L)),
      y(static_cast<size_t>(L));
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t d = 0; d < Dch; ++d) {
      const int64_t g = d / cpg;
      auto act = [&](int64_t t) { return size_t((b * L + t) * Dch + d); };
      auto bc = [&](int64_t t, int64_t n) { return size_t(((b * L + t) * G + g) * N + n); };
      for (int64_t n = 0; n < N; ++n)
        hs[size_t(n)] = p.h0 ? x.h0[size_t((b * Dch + d) * N + n)] : 0;
      for (int64_t t = 0; t < L; ++t) {
        double v = x.delta[act(t)] + (p.bias ? x.bias[size_t(d)] : 0);
        dt[size_t(t)] = p.softplus ? (v <= 20 ? std::log1p(std::exp(v)) : v) : v;
        const bool rs = p.reset && x.reset[size_t(b * L + t)];
        double acc = p.D ? x.D[size_t(d)] * x.u[act(t)] : 0;
        for (int64_t n = 0; n < N; ++n) {
          const double a = std::exp(dt[size_t(t)] * x.A[size_t(d * N + n)]);
          const double prev = rs ? 0 : hs[size_t(t * N + n)];
          const double h = a * prev + dt[size_t(t)] * x.B[bc(t, n)] * x.u[act(t)];
          hs[size_t((t + 1) * N + n)] = h;
          acc += x.C[bc(t, n)] * h;
        }
        y[size_t(t)] = acc;
        r.out[act(t)] = p.z ? acc * x.z[act(t)] * sigmoid(x.z[act(t)]) : acc;
      }
      for (int64_t n = 0; n < N; ++n)
        r.final_state[size_t((b * Dch + d) * N + n)] = hs[size_t(L * N + n)];
      std::vector<double> dh_after(size_t(N), 0);
      if (p.dfinal)
        for (int64_t n = 0; n < N; ++n)
          dh_after[size_t(n)] = x.dfinal[size_t((b * Dch + d) * N + n)];
      for (int64_t t = L - 1; t >= 0; --t) {
        const double zz = x.z[act(t)], sz = sigmoid(zz);
        const double g_t = p.z ? x.dout[act(t)] * zz * sz : x.dout[act(t)];
        if (p.z) r.dz[act(t)] = x.dout[act(t)] * y[size_t(t)] * sz * (1 + zz * (1 - sz));
        const bool rs = p.reset && x.reset[size_t(b * L + t)];
        double pb = 0, aq = 0;
        for (int64_t n = 0; n < N; ++n) {
          const double An = x.A[size_t(d * N + n)];
          const double a = rs ? 0 : std::exp(dt[size_t(t)] * An);
          const double dh = dh_after[size_t(n)] + x.C[bc(t, n)] * g_t;
          const double q = dh * a * hs[size_t(t * N + n)];
          r.dA[size_t(d * N + n)] += q * dt[size_t(t)];
          r.dB[bc(t, n)] += dh * dt[size_t(t)] * x.u[act(t)];
          r.dC[bc(t, n)] += g_t * hs[size_t((t + 1) * N + n)];
          pb += dh * x.B[bc(t, n)];
          aq += An * q;
          dh_after[size_t(n)] = a * dh;
        }
        r.du[act(t)] = (p.D ? x.D[size_t(d)] * g_t : 0) + dt[size_t(t)] * pb;
        const double v = x.delta[act(t)] + (p.bias ? x.bias[size_t(d)] : 0);
        const double dd = (x.u[act(t)] * pb + aq) * (p.softplus && v <= 20 ? sigmoid(v) : 1);
        r.ddelta[act(t)] = dd;
        r.dbias[size_t(d)] += dd;
        r.dD[size_t(d)] += g_t * x.u[act(t)];
      }
      for (int64_t n = 0; n < N; ++n) r.dinit[size_t((b * Dch + d) * N + n)] = dh_after[size_t(n)];
    }
  return r;
}

Tensor to_device(const std::vector<double>& v, const Shape& shape, DType dt) {
  std::vector<float> f(v.begin(), v.end());
  return core::to(core::to(from_vector<float>(f, shape), dt), Device::cuda());
}

Tensor host_f64(const std::vector<double>& v, const Shape& shape) {
  return from_vector<double>(v, shape);
}

struct GpuRun {
  Tensor out, final_state;
  SelectiveScanGrads g;
};

// Runs the CUDA forward (with checkpoints) and backward. With p.strided, z is the second half of
// an in_proj-like (Bt, L, 2*Dch) output and B, C are slices of an x_proj-like (Bt, L, 3 + 2*G*N)
// output, read in place through their strides.
GpuRun run_gpu(const Problem& p, const Data& x) {
  const DType dt = p.bf16 ? DType::bf16 : DType::f32;
  const int64_t Bt = p.Bt, L = p.L, Dch = p.Dch, N = p.N, G = p.G;
  const size_t esz = dtype_size(dt);
  Tensor u = to_device(x.u, {Bt, L, Dch}, dt), delta = to_device(x.delta, {Bt, L, Dch}, dt);
  Tensor A = to_device(x.A, {Dch, N}, DType::f32), D = to_device(x.D, {Dch}, DType::f32);
  Tensor bias = to_device(x.bias, {Dch}, DType::f32);
  Tensor h0 = to_device(x.h0, {Bt, Dch, N}, DType::f32);
  Tensor dout = to_device(x.dout, {Bt, L, Dch}, dt);
  Tensor dfinal = to_device(x.dfinal, {Bt, Dch, N}, DType::f32);
  SelectiveScanParams prm;
  prm.batch = Bt, prm.length = L, prm.channels = Dch, prm.state = N, prm.groups = G;
  prm.dtype = dt, prm.param_dtype = DType::f32, prm.device = Device::cuda();
  prm.u = u.data_ptr(), prm.u_sb = L * Dch, prm.u_st = Dch;
  prm.delta = delta.data_ptr(), prm.delta_sb = L * Dch, prm.delta_st = Dch;
  Tensor zbuf, xbuf, reset;
  if (p.strided) {
    std::vector<double> zw(size_t(Bt * L * 2 * Dch), 7.0),
        xw(size_t(Bt * L * (3 + 2 * G * N)), 7.0);
    for (int64_t r = 0; r < Bt * L; ++r) {
      for (int64_t c = 0; c < Dch; ++c)
        zw[size_t(r * 2 * Dch + Dch + c)] = x.z[size_t(r * Dch + c)];
      for (int64_t c = 0; c < G * N; ++c) {
        xw[size_t(r * (3 + 2 * G * N) + 3 + c)] = x.B[size_t(r * G * N + c)];
        xw[size_t(r * (3 + 2 * G * N) + 3 + G * N + c)] = x.C[size_t(r * G * N + c)];
      }
    }
    zbuf = to_device(zw, {Bt, L, 2 * Dch}, dt);
    xbuf = to_device(xw, {Bt, L, 3 + 2 * G * N}, dt);
    prm.z = static_cast<char*>(zbuf.data_ptr()) + Dch * esz;
    prm.z_sb = L * 2 * Dch, prm.z_st = 2 * Dch;
    const int64_t row = 3 + 2 * G * N;
    prm.B = static_cast<char*>(xbuf.data_ptr()) + 3 * esz;
    prm.C = static_cast<char*>(xbuf.data_ptr()) + (3 + G * N) * esz;
    prm.B_sb = prm.C_sb = L * row, prm.B_st = prm.C_st = row;
  } else {
    zbuf = to_device(x.z, {Bt, L, Dch}, dt);
    xbuf = to_device(x.B, {Bt, L, G, N}, dt);
    prm.z = zbuf.data_ptr(), prm.z_sb = L * Dch, prm.z_st = Dch;
    prm.B = xbuf.data_ptr(), prm.B_sb = prm.C_sb = L * G * N, prm.B_st = prm.C_st = G * N;
  }
  Tensor Cbuf = p.strided ? Tensor() : to_device(x.C, {Bt, L, G, N}, dt);
  if (!p.strided) prm.C = Cbuf.data_ptr();
  if (!p.z) prm.z = nullptr;
  prm.A = A.data_ptr();
  prm.D = p.D ? D.data_ptr() : nullptr;
  prm.delta_bias = p.bias ? bias.data_ptr() : nullptr;
  prm.delta_softplus = p.softplus;
  prm.initial_state = p.h0 ? h0.data_ptr() : nullptr;
  if (p.reset) {
    std::vector<uint8_t> rv = x.reset;
    reset = core::to(core::to(from_vector<uint8_t>(rv, {Bt, L}), DType::boolean), Device::cuda());
    prm.reset = static_cast<const bool*>(reset.data_ptr()), prm.reset_sb = L, prm.reset_st = 1;
  }
  GpuRun r;
  r.out = full({Bt, L, Dch}, NAN, {dt, Device::cuda()});  // poisoned: every element must be written
  r.final_state = full({Bt, Dch, N}, NAN, {DType::f32, Device::cuda()});
  Tensor ckpt;
  cuda::selective_scan_forward(prm, r.out, r.final_state, &ckpt);
  auto act = [&] { return full({Bt, L, Dch}, NAN, {dt, Device::cuda()}); };
  auto par = [&](Shape s) { return full(s, NAN, {DType::f32, Device::cuda()}); };
  r.g.du = act(), r.g.ddelta = act();
  r.g.dz = p.z ? act() : Tensor();
  r.g.dB = full({Bt, L, G, N}, NAN, {dt, Device::cuda()});
  r.g.dC = full({Bt, L, G, N}, NAN, {dt, Device::cuda()});
  r.g.dA = par({Dch, N});
  r.g.dD = p.D ? par({Dch}) : Tensor();
  r.g.ddelta_bias = p.bias ? par({Dch}) : Tensor();
  r.g.dinitial_state = p.h0 ? par({Bt, Dch, N}) : Tensor();
  cuda::selective_scan_backward(prm, ckpt, dout, p.dfinal ? dfinal : Tensor(), r.g);
  return r;
}

void check_against_reference(const Problem& p, uint64_t seed) {
  CAPTURE(p.Bt);
  CAPTURE(p.L);
  CAPTURE(p.Dch);
  CAPTURE(p.N);
  CAPTURE(p.G);
  const Data x = make_data(p, seed);
  const Result ref = reference(p, x);
  const GpuRun r = run_gpu(p, x);
  // f32: exp on the special-function unit and f32 sums; bf16: outputs rounded to 8 bits.
  const double tol = p.bf16 ? 1e-2 : 5e-5, gtol = p.bf16 ? 2e-2 : 2e-4;
  const int64_t Bt = p.Bt, L = p.L, Dch = p.Dch, N = p.N, G = p.G;
  CHECK(rel_error(r.out, host_f64(ref.out, {Bt, L, Dch})) <= tol);
  CHECK(rel_error(r.final_state, host_f64(ref.final_state, {Bt, Dch, N})) <= tol);
  CHECK(rel_error(r.g.du, host_f64(ref.du, {Bt, L, Dch})) <= gtol);
  CHECK(rel_error(r.g.ddelta, host_f64(ref.ddelta, {Bt, L, Dch})) <= gtol);
  CHECK(rel_error(r.g.dB, host_f64(ref.dB, {Bt, L, G, N})) <= gtol);
  CHECK(rel_error(r.g.dC, host_f64(ref.dC, {Bt, L, G, N})) <= gtol);
  CHECK(rel_error(r.g.dA, host_f64(ref.dA, {Dch, N})) <= gtol);
  if (p.z) CHECK(rel_error(r.g.dz, host_f64(ref.dz, {Bt, L, Dch})) <= gtol);
  if (p.D) CHECK(rel_error(r.g.dD, host_f64(ref.dD, {Dch})) <= gtol);
  if (p.bias) CHECK(rel_error(r.g.ddelta_bias, host_f64(ref.dbias, {Dch})) <= gtol);
  if (p.h0) CHECK(rel_error(r.g.dinitial_state, host_f64(ref.dinit, {Bt, Dch, N})) <= gtol);
}

// Forces the forward's lane layout for N <= 16 (4 lanes x 4 states, 8 x 2 or 16 x 1) for one
// scope.
struct ForceLanes {
  explicit ForceLanes(const char* v) { setenv("COIL_SELECTIVE_SCAN_LANES", v, 1); }
  ~ForceLanes() { unsetenv("COIL_SELECTIVE_SCAN_LANES"); }
};

// Forces the chunk length over L (in 32-step tiles) of the forward and backward for one scope.
struct ForceChunkTiles {
  explicit ForceChunkTiles(const char* v) { setenv("COIL_SELECTIVE_SCAN_CHUNK_TILES", v, 1); }
  ~ForceChunkTiles() { unsetenv("COIL_SELECTIVE_SCAN_CHUNK_TILES"); }
};

// Two runs on the same data agree bit for bit, outputs and every gradient.
void check_bitwise_equal(const GpuRun& a, const GpuRun& b) {
  CHECK(bitwise_equal(a.out, b.out));
  CHECK(bitwise_equal(a.final_state, b.final_state));
  const std::vector<std::pair<Tensor, Tensor>> grads = {{a.g.du, b.g.du},
                                                        {a.g.ddelta, b.g.ddelta},
                                                        {a.g.dA, b.g.dA},
                                                        {a.g.dB, b.g.dB},
                                                        {a.g.dC, b.g.dC},
                                                        {a.g.dD, b.g.dD},
                                                        {a.g.dz, b.g.dz},
                                                        {a.g.ddelta_bias, b.g.ddelta_bias},
                                                        {a.g.dinitial_state, b.g.dinitial_state}};
  for (const auto& [ga, gb] : grads) CHECK(bitwise_equal(ga, gb));
}

// Forces the backward's round (COIL_SELECTIVE_SCAN_BWD: 3 = 16 lanes x 1 state, 4 = 8 x 2,
// 5 = 4 x 4 for N <= 16) for one scope, restoring the caller's setting after it.
struct ForceBwd {
  std::string saved;
  bool had;
  explicit ForceBwd(const char* v) {
    const char* old = std::getenv("COIL_SELECTIVE_SCAN_BWD");
    had = old != nullptr, saved = old ? old : "";
    setenv("COIL_SELECTIVE_SCAN_BWD", v, 1);
  }
  ~ForceBwd() {
    if (had) setenv("COIL_SELECTIVE_SCAN_BWD", saved.c_str(), 1);
    else unsetenv("COIL_SELECTIVE_SCAN_BWD");
  }
};

}  // namespace

TEST_CASE("selective_scan CUDA matches the reference with each backward round of N = 16") {
  uint64_t seed = 1400;
  for (const char* round : {"3", "4", "5"}) {
    ForceBwd force(round);
    CAPTURE(round);
    // L = 1, odd, just past a tile and past two; Dch 72: a partial channel block.
    for (int64_t L : {1, 31, 33, 65, 97}) {
      Problem p;
      p.Bt = 2, p.L = L, p.Dch = 72, p.N = 16;
      check_against_reference(p, ++seed);
    }
    // G 2 with 40 channels a group (whole warps of 8 channels; blocks that span both groups),
    // resets, fewer states than slots, bf16, strided views, no optional inputs.
    Problem p;
    p.Bt = 3, p.L = 77, p.Dch = 80, p.N = 16, p.G = 2, p.reset = true;
    check_against_reference(p, ++seed);
    p.N = 6;
    check_against_reference(p, ++seed);
    p.N = 16, p.bf16 = true;
    check_against_reference(p, ++seed);
    p.bf16 = false, p.strided = true;
    check_against_reference(p, ++seed);
    p.bf16 = true;
    check_against_reference(p, ++seed);
    p = Problem{};
    p.Bt = 2, p.L = 70, p.Dch = 40, p.N = 16;
    p.z = p.D = p.bias = p.softplus = p.h0 = p.dfinal = false;
    check_against_reference(p, ++seed);
    // Chunks of 2 tiles over L (the summary pass and the combine), with resets, f32 and bf16.
    ForceChunkTiles chunks("2");
    p = Problem{};
    p.Bt = 3, p.L = 161, p.Dch = 64, p.N = 16, p.reset = true;
    check_against_reference(p, ++seed);
    p.bf16 = true;
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA backward round 5 is bitwise deterministic") {
  ForceBwd force("5");
  for (const char* tiles : {"2", "1000000"}) {
    ForceChunkTiles chunks(tiles);
    CAPTURE(tiles);
    Problem p;
    p.Bt = 2, p.L = 300, p.Dch = 80, p.N = 16, p.G = 2, p.reset = true;
    const Data x = make_data(p, 1500);
    check_bitwise_equal(run_gpu(p, x), run_gpu(p, x));
  }
}

TEST_CASE("selective_scan CUDA matches the float64 reference at tile and block boundaries") {
  uint64_t seed = 100;
  for (int64_t L : {1, 2, 31, 32, 33, 64, 65, 100}) {
    for (int64_t Dch : {1, 7, 33}) {
      Problem p;
      p.Bt = 2, p.L = L, p.Dch = Dch, p.N = 16;
      check_against_reference(p, ++seed);
    }
  }
}

TEST_CASE("selective_scan CUDA matches the reference with each lane layout of N = 16") {
  for (const char* lanes : {"4", "8", "16"}) {
    ForceLanes force(lanes);
    CAPTURE(lanes);
    Problem p;
    p.Bt = 3, p.L = 77, p.Dch = 70, p.N = 16, p.G = 2;
    check_against_reference(p, 7);
    p.reset = true;
    check_against_reference(p, 8);
    // Unaligned strided B and C (4 lanes: the element-wise B/C loader, not the 16-byte one),
    // and fewer states than slots.
    p.strided = true, p.N = 6;
    check_against_reference(p, 9);
  }
}

TEST_CASE("selective_scan CUDA matches the reference for every state size up to 256") {
  uint64_t seed = 300;
  for (int64_t N : {1, 3, 8, 15, 17, 32, 33, 64, 65, 100, 256}) {
    Problem p;
    p.Bt = 2, p.L = 40, p.Dch = 5, p.N = N;
    check_against_reference(p, ++seed);
    p.reset = true;
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA matches the reference with groups, odd and even group widths") {
  uint64_t seed = 400;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {24, 3}, {24, 12}, {24, 8}, {40, 40}, {66, 2}};
  for (auto [Dch, G] : shapes) {
    Problem p;
    p.Bt = 2, p.L = 45, p.Dch = Dch, p.N = 16, p.G = G;
    check_against_reference(p, ++seed);
    p.N = 6;
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA matches the reference without each optional input") {
  uint64_t seed = 500;
  for (int drop = 0; drop < 7; ++drop) {
    Problem p;
    p.Bt = 2, p.L = 50, p.Dch = 9, p.N = 16;
    p.z = drop != 0, p.D = drop != 1, p.bias = drop != 2, p.softplus = drop != 3;
    p.h0 = drop != 4, p.dfinal = drop != 5;
    if (drop == 6) p.z = p.D = p.bias = p.softplus = p.h0 = p.dfinal = false;
    CAPTURE(drop);
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA resets the carried state, also at t = 0, in value and gradient") {
  Problem p;
  p.Bt = 3, p.L = 130, p.Dch = 20, p.N = 16, p.reset = true;
  check_against_reference(p, 600);
  p.N = 40;
  check_against_reference(p, 601);
}

TEST_CASE("selective_scan CUDA reads strided z, B and C views in place") {
  Problem p;
  p.Bt = 2, p.L = 70, p.Dch = 12, p.N = 16, p.G = 2, p.strided = true;
  check_against_reference(p, 700);
  p.bf16 = true;
  check_against_reference(p, 701);
}

TEST_CASE("selective_scan CUDA with bf16 inputs matches the reference on the same rounded inputs") {
  uint64_t seed = 800;
  for (int64_t L : {1, 33, 150}) {
    Problem p;
    p.Bt = 2, p.L = L, p.Dch = 40, p.N = 16, p.bf16 = true;
    check_against_reference(p, ++seed);
    p.reset = true;
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA chunked over L matches the reference at chunk boundaries") {
  uint64_t seed = 1100;
  for (const char* tiles : {"1", "2", "3"}) {
    ForceChunkTiles force(tiles);
    CAPTURE(tiles);
    // L just past a chunk boundary, a partial last chunk, and many chunks.
    for (int64_t L : {33, 65, 97, 200}) {
      for (int64_t N : {16, 32}) {
        Problem p;
        // G = 1 at N = 32 keeps the B/C tiles in shared memory (the chunked layouts).
        p.Bt = 2, p.L = L, p.Dch = 40, p.N = N, p.G = N == 16 ? 2 : 1;
        check_against_reference(p, ++seed);
        p.reset = true;  // resets inside chunks (about 10% of steps) and at t = 0
        check_against_reference(p, ++seed);
      }
    }
  }
  for (const char* lanes : {"4", "8", "16"}) {
    ForceLanes force_lanes(lanes);
    ForceChunkTiles force("2");
    CAPTURE(lanes);
    Problem p;
    p.Bt = 3, p.L = 161, p.Dch = 70, p.N = 16, p.reset = true;
    check_against_reference(p, ++seed);
    p.bf16 = true;
    check_against_reference(p, ++seed);
  }
}

TEST_CASE("selective_scan CUDA with one batch row and a long sequence chunks L by itself") {
  // Bt x channel blocks far below the GPU's resident blocks: the kernels split L on their own.
  Problem p;
  p.Bt = 1, p.L = 4000, p.Dch = 64, p.N = 16, p.reset = true;
  check_against_reference(p, 1200);
  p.reset = false, p.L = 3000, p.N = 5;
  check_against_reference(p, 1201);
}

TEST_CASE("selective_scan CUDA chunked over L is bitwise deterministic") {
  ForceChunkTiles force("2");
  Problem p;
  p.Bt = 2, p.L = 300, p.Dch = 48, p.N = 16, p.reset = true;
  const Data x = make_data(p, 1300);
  check_bitwise_equal(run_gpu(p, x), run_gpu(p, x));
}

TEST_CASE("selective_scan CUDA is bitwise deterministic, outputs and gradients") {
  Problem p;
  p.Bt = 3, p.L = 200, p.Dch = 100, p.N = 16, p.G = 2, p.reset = true;
  const Data x = make_data(p, 900);
  check_bitwise_equal(run_gpu(p, x), run_gpu(p, x));
}

TEST_CASE("selective_scan CUDA propagates a NaN input as NaN and finishes") {
  Problem p;
  p.Bt = 1, p.L = 40, p.Dch = 4, p.N = 16;
  Data x = make_data(p, 1000);
  x.delta[size_t(10 * p.Dch + 2)] = NAN;  // t = 10, d = 2
  const GpuRun r = run_gpu(p, x);
  const std::vector<double> out = coil::testing::host_values(r.out);
  CHECK(std::isfinite(out[size_t(9 * p.Dch + 2)]));
  CHECK(std::isnan(out[size_t(10 * p.Dch + 2)]));
  CHECK(std::isnan(out[size_t(39 * p.Dch + 2)]));
  CHECK(std::isfinite(out[size_t(39 * p.Dch + 1)]));
}

TEST_CASE("selective_scan CUDA rejects a time stride its 32-bit tile offsets cannot reach") {
  // The kernels address inside a tile with 32-bit offsets (< 32 time strides), so a stride of
  // 2^26 elements or more is refused up front instead of wrapping around.
  const int64_t Bt = 1, L = 4, Dch = 2, N = 4;
  const TensorOptions f32{DType::f32, Device::cuda()};
  Tensor u = full({Bt, L, Dch}, 0.5, f32), A = full({Dch, N}, -1.0, f32);
  Tensor B = full({Bt, L, 1, N}, 0.5, f32);
  SelectiveScanParams prm;
  prm.batch = Bt, prm.length = L, prm.channels = Dch, prm.state = N, prm.groups = 1;
  prm.dtype = prm.param_dtype = DType::f32, prm.device = Device::cuda();
  prm.u = prm.delta = u.data_ptr(), prm.B = prm.C = B.data_ptr(), prm.A = A.data_ptr();
  prm.u_sb = prm.delta_sb = L * Dch, prm.u_st = prm.delta_st = Dch;
  prm.B_sb = prm.C_sb = L * N, prm.B_st = prm.C_st = N;
  Tensor out = empty({Bt, L, Dch}, f32), fs = empty({Bt, Dch, N}, f32);
  CHECK_NOTHROW(cuda::selective_scan_forward(prm, out, fs, nullptr));
  prm.delta_st = int64_t(1) << 26;
  CHECK_THROWS_WITH_AS(cuda::selective_scan_forward(prm, out, fs, nullptr),
                       doctest::Contains("[selective_scan]"), Error);
}

#endif  // COIL_WITH_CUDA
