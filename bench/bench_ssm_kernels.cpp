// coil_bench_ssm_kernels: the kernel lab of the S4 family. Times the S4D kernel (ZOH; fused
// Vandermonde) and the S4 DPLR kernel (fused Cauchy + Woodbury + inverse real FFT), forward and
// forward+backward, at the issue-8 size (H 256, N 64, L 4096, f32), checks the device kernels
// against the float64 CPU kernels, and reports each time against its floor
// max(bytes / copy bandwidth, flops / FP32 peak).
//
//   coil_bench_ssm_kernels [--device cpu|cuda|all] [--reps N>=20] [--h H] [--n N] [--l L]
//
// Versions: S4D v1 (anchored powers, one block per (L-tile, h)); S4 v1 and v2 on CUDA (the enum
// in ops/s4_kernel/kernels.h: v1 complex Cauchy terms, one thread per (h, frequency); v2 real
// coefficients, several frequencies per thread, one block per h for the backward), both + cuFFT;
// the CPU has one S4 kernel (shown as v1). The reference is the float64 CPU kernel of the same
// op: each CUDA version is checked at H 16 and on the op's edge cases (rank 2, Cn 2, odd L,
// L 1 and 2, 70 modes) in f32 and f64, and for bitwise-equal reruns; a line per version says
// PASS or FAIL. GPU: cudaEvents on coil's compute stream after warm-up, median of the reps. The
// CPU runs H <= 128 (the S4D LM of issue 9 uses H 128; the S4 CPU kernel is slow there).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/s4_kernel/kernels.h"
#include "ops/s4d_kernel/kernels.h"

namespace {

using coil::Device;
using coil::Tensor;

constexpr int kWarmup = 5;
constexpr double kFp32Peak = 67e12;  // H200 SXM FP32 (non-tensor) FLOP/s, the compute floor

struct Options : coil::bench::CommonOptions {
  int64_t H = 256, N = 64, L = 4096;
};

using S4Version = coil::cuda::S4Version;

// Ranges of dt and Im W: the benchmark's, or the op spec's (ops/s4_kernel/spec.cpp).
struct Ranges {
  double dt_lo, dt_hi, im;
};
constexpr Ranges kBenchRanges{1e-3, 1e-1, 30}, kSpecRanges{0.05, 0.5, 4};

// The parameters and buffers of one problem on one device (S4: rank R, Cn outputs; S4D: Cn 1).
struct Problem {
  int64_t H, N2, L, F;
  Tensor log_dt, a_re, a_im, P, B, C, G, K, rsave;
  std::vector<Tensor> grads_s4d, grads_s4;
  Problem(int64_t H_, int64_t N2_, int64_t L_, Device dev, coil::DType dt, uint64_t seed,
          int64_t R = 1, int64_t Cn = 1, Ranges rg = kBenchRanges)
      : H(H_), N2(N2_), L(L_), F(L_ / 2 + 1) {
    coil::Generator g(seed);
    coil::TensorOptions o{dt, dev};
    log_dt = coil::uniform({H}, std::log(rg.dt_lo), std::log(rg.dt_hi), o, &g);
    a_re = coil::uniform({H, N2}, -1.0, -0.2, o, &g);
    a_im = coil::uniform({H, N2}, -rg.im, rg.im, o, &g);
    P = coil::normal({R, H, N2, 2}, 0, 0.5, o, &g);
    B = coil::normal({H, N2, 2}, 0, 1, o, &g);
    C = coil::normal({Cn, H, N2, 2}, 0, 1, o, &g);
    G = coil::normal({Cn, H, L}, 0, 1, o, &g);
    K = coil::empty({Cn, H, L}, o);
    rsave = coil::empty({H, F, (1 + R) * (Cn + R), 2}, o);
    for (const Tensor* t : {&log_dt, &a_re, &a_im, &B, &C})
      grads_s4d.push_back(coil::empty_like(*t));
    for (const Tensor* t : {&log_dt, &a_re, &a_im, &P, &B, &C})
      grads_s4.push_back(coil::empty_like(*t));
  }
  void s4d_fwd() const {
    COIL_DEVICE_CALL("bench", K.device(), s4d_kernel_forward, K, log_dt, a_re, a_im, B, C, 0);
  }
  void s4d_bwd() const {
    const auto& g = grads_s4d;
    COIL_DEVICE_CALL("bench", K.device(), s4d_kernel_backward, g[0], g[1], g[2], g[3], g[4], G,
                     log_dt, a_re, a_im, B, C, 0);
  }
  // S4 kernel calls: the CPU kernel, or CUDA version v.
  void s4_fwd(bool save, [[maybe_unused]] S4Version v) const {
    const Tensor rs = save ? rsave : Tensor();
    if (K.device().is_cpu()) coil::cpu::s4_kernel_forward(K, rs, log_dt, a_re, a_im, P, B, C);
    else
      COIL_CUDA_ONLY("bench", coil::cuda::s4_kernel_forward(v, K, rs, log_dt, a_re, a_im, P, B, C));
  }
  void s4_bwd([[maybe_unused]] S4Version v) const {
    if (K.device().is_cpu())
      coil::cpu::s4_kernel_backward(grads_s4, G, rsave, log_dt, a_re, a_im, P, B, C);
    else
      COIL_CUDA_ONLY("bench", coil::cuda::s4_kernel_backward(v, grads_s4, G, rsave, log_dt, a_re,
                                                             a_im, P, B, C));
  }
};

std::vector<double> host(const Tensor& t) {
  return coil::core::to(coil::core::to(t, Device::cpu()), coil::DType::f64).to_vector<double>();
}

// max |a - b| / max |b|; infinite where a has a NaN or infinity.
double rel_diff(const Tensor& a, const Tensor& b) {
  auto x = host(a), y = host(b);
  double d = 0, s = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return INFINITY;
    d = std::max(d, std::abs(x[i] - y[i])), s = std::max(s, std::abs(y[i]));
  }
  return d / s;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  auto x = host(a), y = host(b);
  return std::equal(x.begin(), x.end(), y.begin(),
                    [](double u, double v) { return std::memcmp(&u, &v, sizeof u) == 0; });
}

void row(const std::string& a, const std::string& b, const std::string& c, const std::string& d,
         const std::string& e, const std::string& f) {
  fmt::print("  {:<26} {:>10} {:>10} {:>10} {:>10} {:>8}\n", a, b, c, d, e, f);
}

void bench_kernels(Device dev, const Options& o) {
  const int64_t H = dev.is_cpu() ? std::min<int64_t>(o.H, 128) : o.H, N2 = o.N / 2, L = o.L;
  Problem p(H, N2, L, dev, coil::DType::f32, 17);
  Tensor copy_dst = coil::empty_like(p.K);
  const double kb = double(p.K.nbytes()), hnl = double(H * N2 * L), hnf = double(H * N2 * p.F);
  // Minimum traffic and arithmetic: S4D writes K (reads dK in the backward); per (mode, l) the
  // forward does a complex product and a real-part accumulate (10 flops), the backward a product
  // and two complex accumulates (14). S4 moves K and the half spectrum once more; its arithmetic
  // per (mode, frequency) for 4 pairs, an FMA counted as 2, a reciprocal as 1: v1 ~92 forward,
  // ~2x that backward; v2 48 forward (16 for the shared coefficients, 4 FMAs per pair), 96
  // backward (32 for the coefficients, 8 FMAs per pair).
  struct Case {
    std::string name;
    std::function<void()> fn;
    double bytes, flops;
  };
  std::vector<Case> cases = {
      {"v1 s4d fwd", [&] { p.s4d_fwd(); }, kb, 10 * hnl},
      {"v1 s4d fwd+bwd",
       [&] {
         p.s4d_fwd();
         p.s4d_bwd();
       },
       2 * kb, 24 * hnl},
  };
  struct S4Cost {
    S4Version v;
    const char* name;
    double fwd, bwd;
  };
  std::vector<S4Cost> s4 = {{S4Version::v1, "v1", 92, 184}};
  if (dev.is_cuda()) s4.push_back({S4Version::v2, "v2", 48, 96});
  for (const S4Cost& c : s4) {
    cases.push_back(
        {fmt::format("{} s4 fwd", c.name), [&p, c] { p.s4_fwd(false, c.v); }, 3 * kb, c.fwd * hnf});
    cases.push_back({fmt::format("{} s4 fwd+bwd", c.name),
                     [&p, c] {
                       p.s4_fwd(true, c.v);
                       p.s4_bwd(c.v);
                     },
                     6 * kb, (c.fwd + c.bwd) * hnf});
  }
  std::vector<std::function<void()>> fns;
  for (const Case& c : cases) fns.push_back(c.fn);
  fns.push_back(
      [&] { coil::bench::raw_copy(dev, copy_dst.data_ptr(), p.K.data_ptr(), p.K.nbytes()); });
  const std::vector<double> t = coil::bench::time_all(dev, o.reps, fns, kWarmup);
  const double copy_bw = 2 * kb / t.back();
  fmt::print(
      "\nSSM kernels f32 on {}, H {}, N {} (N2 {}), L {}, Cn 1, S4 rank 1; copy {:.0f} GB/s\n",
      dev.str(), H, o.N, N2, L, copy_bw * 1e-9);
  row("case", "time ms", "floor ms", "of floor", "GFLOP/s", "x s4d");
  for (size_t i = 0; i < cases.size(); ++i) {
    const double floor =
        std::max(cases[i].bytes / copy_bw, dev.is_cpu() ? 0.0 : cases[i].flops / kFp32Peak);
    row(cases[i].name, fmt::format("{:.4f}", t[i] * 1e3), fmt::format("{:.4f}", floor * 1e3),
        fmt::format("{:.2f}", floor / t[i]), fmt::format("{:.0f}", cases[i].flops / t[i] * 1e-9),
        i < 2 ? "" : fmt::format("{:.2f}", t[i] / t[i % 2]));  // against s4d fwd or fwd+bwd
  }
  row("copy (K bytes)", fmt::format("{:.4f}", t.back() * 1e3), "", "", "", "");
}

// Largest relative differences of K and the gradients between a device problem and a float64
// CPU one with the same inputs, after S4 version v.
struct Diff {
  double k, grads;
};

Diff compare_s4(Problem& d, Problem& h, S4Version v) {
  d.s4_fwd(true, v), h.s4_fwd(true, v), d.s4_bwd(v), h.s4_bwd(v);
  Diff r{rel_diff(d.K, h.K), 0};
  // At L 1, K does not depend on dt: its gradient is zero up to rounding and not compared.
  for (size_t i = h.L == 1 ? 1 : 0; i < d.grads_s4.size(); ++i)
    r.grads = std::max(r.grads, rel_diff(d.grads_s4[i], h.grads_s4[i]));
  return r;
}

// A problem on dev in dtype dt and its float64 CPU copy (the same values).
std::pair<Problem, Problem> problem_pair(int64_t H, int64_t N2, int64_t L, int64_t R, int64_t Cn,
                                         Device dev, coil::DType dt, uint64_t seed,
                                         Ranges rg = kBenchRanges) {
  Problem d(H, N2, L, dev, dt, seed, R, Cn, rg),
      h(H, N2, L, Device::cpu(), coil::DType::f64, seed, R, Cn, rg);
  for (Tensor Problem::*m : {&Problem::log_dt, &Problem::a_re, &Problem::a_im, &Problem::P,
                             &Problem::B, &Problem::C, &Problem::G})
    h.*m = coil::core::to(coil::core::to(d.*m, Device::cpu()), coil::DType::f64);
  return {std::move(d), std::move(h)};
}

// The device kernels against the float64 CPU kernels: f32 at H 16 and the benchmark's N and L,
// then every S4 version on the op's edge cases in f32 and f64, and bitwise-equal reruns.
void check_against_cpu(Device dev, const Options& o) {
  const int64_t H = 16, N2 = o.N / 2, L = o.L;
  {
    auto [d, h] = problem_pair(H, N2, L, 1, 1, dev, coil::DType::f32, 23);
    d.s4d_fwd(), h.s4d_fwd(), d.s4d_bwd(), h.s4d_bwd();
    double bwd = 0;
    for (size_t i = 0; i < d.grads_s4d.size(); ++i)
      bwd = std::max(bwd, rel_diff(d.grads_s4d[i], h.grads_s4d[i]));
    fmt::print("  check s4d vs f64 CPU (H {}): K max rel diff {:.2e}, grads {:.2e}\n", H,
               rel_diff(d.K, h.K), bwd);
  }
  struct Edge {
    int64_t R, Cn, H, N2, L;
  };
  // The op spec's samples, then mode chunks, several backward stages and forward blocks.
  const std::vector<Edge> edges = {{1, 1, 3, 4, 8},    {2, 1, 2, 3, 9},   {1, 2, 2, 2, 2},
                                   {2, 2, 1, 3, 12},   {1, 1, 2, 2, 1},   {1, 1, 1, 70, 16},
                                   {2, 2, 3, 33, 64},  {2, 2, 2, 5, 300}, {1, 1, 2, 3, 1025},
                                   {1, 2, 2, 40, 4096}};
  for (S4Version v : {S4Version::v1, S4Version::v2}) {
    const char* name = v == S4Version::v1 ? "v1" : "v2";
    auto [d, h] = problem_pair(H, N2, L, 1, 1, dev, coil::DType::f32, 23);
    const Diff main = compare_s4(d, h, v);
    std::vector<Tensor> first = {coil::core::clone(d.K)};
    for (const Tensor& g : d.grads_s4) first.push_back(coil::core::clone(g));
    d.s4_fwd(true, v), d.s4_bwd(v);
    bool bits = same_bits(first[0], d.K);
    for (size_t i = 0; i < d.grads_s4.size(); ++i)
      bits = bits && same_bits(first[i + 1], d.grads_s4[i]);
    Diff e32{0, 0}, e64{0, 0};
    for (const Edge& e : edges) {
      auto [d32, h32] =
          problem_pair(e.H, e.N2, e.L, e.R, e.Cn, dev, coil::DType::f32, 31, kSpecRanges);
      auto [d64, h64] =
          problem_pair(e.H, e.N2, e.L, e.R, e.Cn, dev, coil::DType::f64, 31, kSpecRanges);
      const Diff a = compare_s4(d32, h32, v), b = compare_s4(d64, h64, v);
      e32 = {std::max(e32.k, a.k), std::max(e32.grads, a.grads)};
      e64 = {std::max(e64.k, b.k), std::max(e64.grads, b.grads)};
    }
    // The GPU tests' bounds in f32: test_ssm_kernels (K 1e-4, gradients 1e-3) for the main
    // case, the op spec's parity_tol (1e-4) for the edge cases; f64 should agree to rounding.
    const bool pass = main.k < 1e-4 && main.grads < 1e-3 && e32.k < 1e-4 && e32.grads < 1e-4 &&
                      e64.k < 1e-9 && e64.grads < 1e-9 && bits;
    fmt::print("  check s4 {} vs f64 CPU (H {}): K max rel diff {:.2e}, grads {:.2e}\n", name, H,
               main.k, main.grads);
    fmt::print(
        "  check s4 {} edge cases: f32 K {:.2e}, grads {:.2e}; f64 K {:.2e}, grads {:.2e}; "
        "reruns bitwise equal: {}\n",
        name, e32.k, e32.grads, e64.k, e64.grads, bits ? "yes" : "NO");
    fmt::print("  check s4 {}: {}\n", name, pass ? "PASS" : "FAIL");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto extra = [&](const std::string& arg, auto& value) {
    if (arg == "--h") o.H = std::max<int64_t>(1, std::stoll(value()));
    else if (arg == "--n") o.N = std::max<int64_t>(2, std::stoll(value()) / 2 * 2);
    else if (arg == "--l") o.L = std::max<int64_t>(1, std::stoll(value()));
    else return false;
    return true;
  };
  int rc = coil::bench::parse_args(argc, argv, "coil_bench_ssm_kernels",
                                   "[--device cpu|cuda|all] [--reps N>=20] [--h H] [--n N] [--l L]",
                                   o, extra);
  if (rc >= 0) return rc;
  auto run = [&](const std::vector<Device>& devices) {
    fmt::print("coil_bench_ssm_kernels (coil {}), {} CPU threads\n", COIL_VERSION,
               omp_get_max_threads());
    for (Device dev : devices) {
      fmt::print("\n=== {} ({}) ===\n", dev.str(), coil::bench::device_name(dev));
      bench_kernels(dev, o);
      if (dev.is_cuda()) check_against_cpu(dev, o);
    }
  };
  return coil::bench::run_on_devices("coil_bench_ssm_kernels", o.device, /*cpu_last=*/true, run);
}
