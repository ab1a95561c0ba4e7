// coil_bench_ssm_kernels: the kernel lab of the S4 family. Times the S4D kernel (ZOH; fused
// Vandermonde) and the S4 DPLR kernel (fused Cauchy + Woodbury + inverse real FFT), forward and
// forward+backward, at the issue-8 size (H 256, N 64, L 4096, f32), checks the device kernels
// against the float64 CPU kernels, and reports each time against its floor
// max(bytes / copy bandwidth, flops / FP32 peak).
//
//   coil_bench_ssm_kernels [--device cpu|cuda|all] [--reps N>=20] [--h H] [--n N] [--l L]
//
// Versions: v1 is the one in ops/ (S4D: anchored powers, one block per (L-tile, h); S4: one
// thread per (h, frequency) + cuFFT). The reference is the float64 CPU kernel of the same op.
// GPU: cudaEvents on coil's compute stream after warm-up, median of the reps. The CPU runs
// H <= 128 (the S4D LM of issue 9 uses H 128; the S4 CPU kernel is slow there).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
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

// The parameters and buffers of one problem on one device (Cn 1, rank 1).
struct Problem {
  int64_t H, N2, L, F;
  Tensor log_dt, a_re, a_im, P, B, C, G, K, rsave;
  std::vector<Tensor> grads_s4d, grads_s4;
  Problem(int64_t H_, int64_t N2_, int64_t L_, Device dev, coil::DType dt, uint64_t seed)
      : H(H_), N2(N2_), L(L_), F(L_ / 2 + 1) {
    coil::Generator g(seed);
    coil::TensorOptions o{dt, dev};
    log_dt = coil::uniform({H}, std::log(1e-3), std::log(1e-1), o, &g);
    a_re = coil::uniform({H, N2}, -1.0, -0.2, o, &g);
    a_im = coil::uniform({H, N2}, -30.0, 30.0, o, &g);
    P = coil::normal({1, H, N2, 2}, 0, 0.5, o, &g);
    B = coil::normal({H, N2, 2}, 0, 1, o, &g);
    C = coil::normal({1, H, N2, 2}, 0, 1, o, &g);
    G = coil::normal({1, H, L}, 0, 1, o, &g);
    K = coil::empty({1, H, L}, o);
    rsave = coil::empty({H, F, 4, 2}, o);
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
  void s4_fwd(bool save) const {
    COIL_DEVICE_CALL("bench", K.device(), s4_kernel_forward, K, save ? rsave : Tensor(), log_dt,
                     a_re, a_im, P, B, C);
  }
  void s4_bwd() const {
    COIL_DEVICE_CALL("bench", K.device(), s4_kernel_backward, grads_s4, G, rsave, log_dt, a_re,
                     a_im, P, B, C);
  }
};

double rel_diff(const Tensor& a, const Tensor& b) {
  auto x = coil::core::to(coil::core::to(a, Device::cpu()), coil::DType::f64).to_vector<double>();
  auto y = coil::core::to(coil::core::to(b, Device::cpu()), coil::DType::f64).to_vector<double>();
  double d = 0, s = 1e-30;
  for (size_t i = 0; i < x.size(); ++i)
    d = std::max(d, std::abs(x[i] - y[i])), s = std::max(s, std::abs(y[i]));
  return d / s;
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
  // and two complex accumulates (14). S4 per (mode, frequency, pair): ~92 flops for 4 pairs in
  // the forward, ~2x that in the backward; it moves K and the half spectrum once more.
  struct Case {
    std::string name;
    std::function<void()> fn;
    double bytes, flops;
  };
  p.s4_fwd(true);
  const std::vector<Case> cases = {
      {"v1 s4d fwd", [&] { p.s4d_fwd(); }, kb, 10 * hnl},
      {"v1 s4d fwd+bwd",
       [&] {
         p.s4d_fwd();
         p.s4d_bwd();
       },
       2 * kb, 24 * hnl},
      {"v1 s4 fwd", [&] { p.s4_fwd(false); }, 3 * kb, 92 * hnf},
      {"v1 s4 fwd+bwd",
       [&] {
         p.s4_fwd(true);
         p.s4_bwd();
       },
       6 * kb, 276 * hnf},
  };
  std::vector<std::function<void()>> fns;
  for (const Case& c : cases) fns.push_back(c.fn);
  fns.push_back(
      [&] { coil::bench::raw_copy(dev, copy_dst.data_ptr(), p.K.data_ptr(), p.K.nbytes()); });
  const std::vector<double> t = coil::bench::time_all(dev, o.reps, fns, kWarmup);
  const double copy_bw = 2 * kb / t.back();
  fmt::print(
      "\nSSM kernels f32 on {}, H {}, N {} (N2 {}), L {}, Cn 1, S4 rank 1; copy {:.0f} GB/s\n",
      dev.str(), H, o.N, N2, L, copy_bw * 1e-9);
  row("case", "time ms", "floor ms", "of floor", "GFLOP/s", "");
  for (size_t i = 0; i < cases.size(); ++i) {
    const double floor =
        std::max(cases[i].bytes / copy_bw, dev.is_cpu() ? 0.0 : cases[i].flops / kFp32Peak);
    row(cases[i].name, fmt::format("{:.4f}", t[i] * 1e3), fmt::format("{:.4f}", floor * 1e3),
        fmt::format("{:.2f}", floor / t[i]), fmt::format("{:.0f}", cases[i].flops / t[i] * 1e-9),
        "");
  }
  row("copy (K bytes)", fmt::format("{:.4f}", t.back() * 1e3), "", "", "", "");
}

// The device kernels (f32) against the float64 CPU kernels on the same inputs, H 16.
void check_against_cpu(Device dev, const Options& o) {
  const int64_t H = 16, N2 = o.N / 2, L = o.L;
  Problem d(H, N2, L, dev, coil::DType::f32, 23);
  Problem h(H, N2, L, Device::cpu(), coil::DType::f64, 23);
  for (Tensor Problem::*m : {&Problem::log_dt, &Problem::a_re, &Problem::a_im, &Problem::P,
                             &Problem::B, &Problem::C, &Problem::G})
    h.*m = coil::core::to(coil::core::to(d.*m, Device::cpu()), coil::DType::f64);
  double fwd = 0, bwd = 0;
  d.s4d_fwd(), h.s4d_fwd(), d.s4d_bwd(), h.s4d_bwd();
  fwd = std::max(fwd, rel_diff(d.K, h.K));
  for (size_t i = 0; i < d.grads_s4d.size(); ++i)
    bwd = std::max(bwd, rel_diff(d.grads_s4d[i], h.grads_s4d[i]));
  fmt::print("  check s4d vs f64 CPU (H {}): K max rel diff {:.2e}, grads {:.2e}\n", H, fwd, bwd);
  d.s4_fwd(true), h.s4_fwd(true), d.s4_bwd(), h.s4_bwd();
  fwd = rel_diff(d.K, h.K), bwd = 0;
  for (size_t i = 0; i < d.grads_s4.size(); ++i)
    bwd = std::max(bwd, rel_diff(d.grads_s4[i], h.grads_s4[i]));
  fmt::print("  check s4  vs f64 CPU (H {}): K max rel diff {:.2e}, grads {:.2e}\n", H, fwd, bwd);
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
