// coil_bench_fft_conv: the kernel lab of the FFT long convolution (ops/fft_conv). Checks the
// device kernels against a direct O(L^2) float64 convolution on small sizes, then times the
// issue-8 workloads, forward and forward+backward (du, dk, dD), against the floor: reading u
// and writing y once forward (plus reading dy, u and writing du backward), at the bandwidth of
// a plain device copy measured in the same run.
//
//   coil_bench_fft_conv [--device cpu|cuda|all] [--reps N>=20] [--profile W]
//
// Versions (CUDA): v1 packs the spectra as (n, B*H/2) "columns" (cuFFT strided, batch
// innermost), v2 as (B*H/2, n) "rows" (contiguous transforms), v3 "fused" keeps each transform
// on chip where n <= 8192 (ops/fft_conv/fused_cuda.cuh; rows beyond), v4 "fused2" is v3 with one
// access per channel pair, one pair a block for the kernel spectra, radix-32 passes at n 8192
// and one backward kernel (ops/fft_conv/fused_bwd_cuda.cuh) for du and dk's spectra ("v4 fused2
// r16": radix 16 as v3; "sep": v3's backward kernels); v5 "automatic", the default, is v4 r16
// up to n 8192 and v2 beyond. Every CUDA version is checked against direct f64 sums.
// --profile W runs only workload W (0-2 of the table) on CUDA, in the layout COIL_FFT_CONV_LAYOUT
// names (fused if unset; COIL_FFT_CONV_FUSED2 applies to fused2): two rounds of forward +
// backward, for a profiler (fused: ncu --launch-skip 3 --launch-count 3 --kernel-name
// regex:"conv_kernel|corr_kernel" sees the second round's conv for y, conv for du and corr;
// fused2: --launch-skip 2 --launch-count 2 --kernel-name regex:"conv_kernel|bwd_kernel"; W 2 has
// n 131072, past the fused kernels). CPU: the radix-4 FFT with one channel pair per
// SIMD lane (ops/fft_conv/cpu_lanes.h), built for AVX2 + FMA and for the baseline instruction set.
// GPU: cudaEvents on coil's compute stream after warm-up, median of the reps. CPU: steady_clock.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/fft_conv/cpu_lanes.h"
#include "ops/fft_conv/kernels.h"

#if defined(COIL_WITH_CUDA)
#include "core/storage.h"
#include "ops/common/fft_plans_cuda.cuh"
#endif

namespace {

using coil::Device;
using coil::Tensor;

constexpr int kWarmup = 5;

struct Workload {
  int64_t B, L, H;
  double torch_fwd_ms, torch_both_ms;    // anchors from issue 8 (PyTorch 2.11 / 2.15)
  double target_fwd_ms, target_both_ms;  // issue 8's targets
};

// The operands of one causal convolution with D (as S4 layers call it) and its gradients.
struct Set {
  Tensor u, k, D, y, dy, du, dk, dD;
  Set(int64_t B, int64_t L, int64_t H, int64_t C, Device dev, uint64_t seed) {
    coil::Generator g(seed);
    coil::TensorOptions o{coil::DType::f32, dev};
    u = coil::normal({B, L, H}, 0, 1, o, &g);
    k = coil::normal({C, H, L}, 0, 0.02, o, &g);
    D = coil::normal({H}, 0, 1, o, &g);
    dy = coil::normal({B, L, H}, 0, 1, o, &g);
    y = coil::empty({B, L, H}, o), du = coil::empty({B, L, H}, o);
    dk = coil::empty({C, H, L}, o), dD = coil::empty({H}, o);
  }
  void forward() const { COIL_DEVICE_CALL("bench", u.device(), fft_conv_forward, y, u, k, D); }
  void backward() const {
    COIL_DEVICE_CALL("bench", u.device(), fft_conv_backward, du, dk, dD, dy, u, k, D);
  }
};

// Direct float64 sums of the contract in ops/fft_conv/fft_conv.h: y and the three gradients.
std::vector<std::vector<double>> direct(const Set& s) {
  auto v = [](const Tensor& t) {
    return coil::core::to(coil::core::to(t, Device::cpu()), coil::DType::f64).to_vector<double>();
  };
  const auto u = v(s.u), k = v(s.k), D = v(s.D), dy = v(s.dy);
  const int64_t B = s.u.size(0), L = s.u.size(1), H = s.u.size(2), C = s.k.size(0);
  std::vector<double> y(u.size()), du(u.size()), dk(k.size()), dD(D.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t q = 0; q < L; ++q) {
          const size_t it = size_t((b * L + t) * H + h), iq = size_t((b * L + q) * H + h);
          int64_t ki = -1;
          if (q <= t) ki = h * L + (t - q);
          else if (C == 2) ki = (H + h) * L + (q - t - 1);
          double w = ki >= 0 ? k[size_t(ki)] : 0.0;
          if (q == t) w += D[size_t(h)], dD[size_t(h)] += dy[it] * u[iq];
          y[it] += w * u[iq];
          du[iq] += w * dy[it];
          if (ki >= 0) dk[size_t(ki)] += dy[it] * u[iq];
        }
  // k1[h, L - 1] (lag -L) never reaches y: its gradient is zero, as direct() leaves it.
  return {y, du, dk, dD};
}

double rel(const Tensor& a, const std::vector<double>& b) {
  auto x = coil::core::to(coil::core::to(a, Device::cpu()), coil::DType::f64).to_vector<double>();
  double d = 0, s = 1e-30;
  for (size_t i = 0; i < x.size(); ++i)
    d = std::max(d, std::abs(x[i] - b[i])), s = std::max(s, std::abs(b[i]));
  return d / s;
}

void check(Device dev) {
  double worst = 0;
  for (int64_t C : {1, 2}) {
    Set s(2, 300, 6, C, dev, 41 + uint64_t(C));
    s.forward();
    s.backward();
    const auto ref = direct(s);
    worst = std::max(
        {worst, rel(s.y, ref[0]), rel(s.du, ref[1]), rel(s.dk, ref[2]), rel(s.dD, ref[3])});
  }
  fmt::print(
      "  check vs direct f64 convolution (B 2, L 300, H 6, causal and bidirectional, "
      "y/du/dk/dD): max rel diff {:.2e}{}\n",
      worst, worst <= 1e-5 ? "" : "  MISMATCH");
}

#if defined(COIL_WITH_CUDA)
// The CUDA versions: a layout and fused2's parts ("r16": radix-16 passes as v3; "sep": v3's
// separate du and correlation kernels; each tells one part's gain from the rest).
struct CudaVersion {
  const char* name;
  coil::cuda::FftConvLayout layout;
  coil::cuda::Fused2Parts parts;
};
const CudaVersion kCudaVersions[] = {
    {"v1 columns", coil::cuda::FftConvLayout::columns, {}},
    {"v2 rows", coil::cuda::FftConvLayout::rows, {}},
    {"v3 fused", coil::cuda::FftConvLayout::fused, {}},
    {"v4 fused2", coil::cuda::FftConvLayout::fused2, {}},
    {"v4 fused2 r16", coil::cuda::FftConvLayout::fused2, {false, true}},
    {"v4 fused2 sep", coil::cuda::FftConvLayout::fused2, {true, false}},
    {"v5 automatic", coil::cuda::FftConvLayout::automatic, {}}};

// Keeps the knobs it found and puts them back when it goes; set() switches to a version.
struct UseVersion {
  coil::cuda::FftConvLayout layout = coil::cuda::fft_conv_layout();
  coil::cuda::Fused2Parts parts = coil::cuda::fft_conv_fused2();
  static void set(const CudaVersion& v) {
    coil::cuda::fft_conv_layout() = v.layout;
    coil::cuda::fft_conv_fused2() = v.parts;
  }
  ~UseVersion() {
    coil::cuda::fft_conv_layout() = layout;
    coil::cuda::fft_conv_fused2() = parts;
  }
};

std::vector<double> host64(const Tensor& t) {
  return coil::core::to(coil::core::to(t, Device::cpu()), coil::DType::f64).to_vector<double>();
}

// Max relative difference of y and du at channels (b, h), and of dk and dD at channel h, from
// direct float64 sums: for sizes where direct() over every channel would take minutes.
double sampled_rel(const Set& s, const std::vector<std::pair<int64_t, int64_t>>& channels) {
  const auto u = host64(s.u), k = host64(s.k), D = host64(s.D), dy = host64(s.dy);
  const auto y = host64(s.y), du = host64(s.du), dk = host64(s.dk), dD = host64(s.dD);
  const int64_t B = s.u.size(0), L = s.u.size(1), H = s.u.size(2), C = s.k.size(0);
  double diff = 0, scale = 1e-30;
  auto cmp = [&](double got, double want) {
    diff = std::max(diff, std::abs(got - want)), scale = std::max(scale, std::abs(want));
  };
  for (auto [b, h] : channels) {
    auto at = [&, h](int64_t bb, int64_t t) { return size_t((bb * L + t) * H + h); };
    auto w = [&, h](int64_t lag) {  // the weight of u[t - lag] in y[t]
      double x = lag >= 0 ? k[size_t(h * L + lag)] : C == 2 ? k[size_t((H + h) * L - lag - 1)] : 0;
      return lag == 0 ? x + D[size_t(h)] : x;
    };
    for (int64_t t = 0; t < L; ++t) {
      double yt = 0, dut = 0;
      for (int64_t q = 0; q < L; ++q) yt += w(t - q) * u[at(b, q)], dut += w(q - t) * dy[at(b, q)];
      cmp(y[at(b, t)], yt), cmp(du[at(b, t)], dut);
    }
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) {  // dk[c, h, l]: lag l (c 0) or -(l + 1) (c 1)
        double g = 0;
        for (int64_t bb = 0; bb < B; ++bb)
          for (int64_t t = 0; t < L; ++t) {
            const int64_t q = c == 0 ? t - l : t + l + 1;
            if (q >= 0 && q < L) g += dy[at(bb, t)] * u[at(bb, q)];
          }
        cmp(dk[size_t((c * H + h) * L + l)], g);
        if (c == 0 && l == 0) cmp(dD[size_t(h)], g);
      }
  }
  return diff / scale;
}

// Every CUDA version against direct f64 sums: every channel at awkward sizes (L 1, odd L and H,
// B 1, L 4097 past the fused kernel's 8192 points, even H for fused2's pair accesses), sampled
// channels at the timed sizes.
void check_versions(Device dev) {
  const UseVersion restore;
  for (const CudaVersion& v : kCudaVersions) {
    UseVersion::set(v);
    double full = 0, sampled = 0;
    for (int64_t C : {1, 2})
      for (auto [B, L, H] : {std::tuple{1, 1, 1},
                             {2, 333, 5},
                             {1, 4097, 3},
                             {3, 4096, 3},
                             {2, 1025, 4},
                             {1, 4096, 2}}) {
        Set s(B, L, H, C, dev, 43 + uint64_t(C));
        s.forward(), s.backward();
        const auto ref = direct(s);
        full = std::max(
            {full, rel(s.y, ref[0]), rel(s.du, ref[1]), rel(s.dk, ref[2]), rel(s.dD, ref[3])});
      }
    for (auto [B, L, H] : {std::tuple{16, 4096, 256}, {8, 1024, 1024}}) {
      Set s(B, L, H, 1, dev, 7);
      s.forward(), s.backward();
      sampled = std::max(sampled, sampled_rel(s, {{0, 0}, {B - 1, H - 1}, {B / 2, H / 2 + 1}}));
    }
    fmt::print(
        "  check {} vs direct f64 (y/du/dk/dD): L 1, 333, 4097, 4096, 1025 (B 1-3, H 1-5, causal "
        "and bidirectional) {:.2e}{}; B 16 L 4096 H 256 and B 8 L 1024 H 1024 (3 channels) "
        "{:.2e}{}\n",
        v.name, full, full <= 1e-5 ? "" : "  MISMATCH", sampled,
        sampled <= 1e-5 ? "" : "  MISMATCH");
  }
}

// --profile: workload w's forward and backward twice, in the layout COIL_FFT_CONV_LAYOUT names
// (fused where it is unset), nothing else launched.
void profile(Device dev, const Workload& w) {
  if (!std::getenv("COIL_FFT_CONV_LAYOUT"))
    coil::cuda::fft_conv_layout() = coil::cuda::FftConvLayout::fused;
  Set s(w.B, w.L, w.H, 1, dev, 7);
  for (int round = 0; round < 2; ++round) s.forward(), s.backward();
  coil::cuda::synchronize(dev.index);
  const char* layout = std::getenv("COIL_FFT_CONV_LAYOUT");
  fmt::print("profiled: B {}, L {}, H {}, layout {}\n", w.B, w.L, w.H, layout ? layout : "fused");
}
#endif

// Issue 8's GPU workloads with its anchors and targets (H200, f32).
const Workload kCudaWorkloads[] = {{16, 4096, 256, 0.620, 1.876, 0.155, 0.625},
                                   {8, 1024, 1024, 0.326, 1.219, 0.082, 0.406},
                                   {4, 65536, 256, 4.031, 10.88, 1.01, 3.63}};

void row(const std::string& a, const std::string& b, const std::string& c, const std::string& d,
         const std::string& e, const std::string& f, const std::string& g) {
  fmt::print("  {:<22} {:>10} {:>10} {:>10} {:>10} {:>11} {:>8}\n", a, b, c, d, e, f, g);
}

void bench(Device dev, const Workload& w, int reps) {
  Set s(w.B, w.L, w.H, 1, dev, 7);
  Tensor copy_dst = coil::empty_like(s.u);
  const double ub = double(s.u.nbytes()), kb = double(s.k.nbytes());
  std::vector<std::function<void()>> fns;
  struct Version {
    std::string name;
    int layout;  // CUDA: an index into kCudaVersions; CPU: -1 - a fft_lanes::Isa
  };
  using coil::cpu::fft_lanes::Isa;
  std::vector<Version> versions = {{"lanes AVX2", -1 - int(Isa::avx2)},
                                   {"lanes baseline", -1 - int(Isa::generic)}};
#if defined(COIL_WITH_CUDA)
  const UseVersion restore;
  if (dev.is_cuda()) {
    versions.clear();
    for (const CudaVersion& v : kCudaVersions)
      versions.push_back({v.name, int(&v - kCudaVersions)});
  }
#endif
  auto set_layout = [](int layout) {
    if (layout < 0) coil::cpu::fft_lanes::isa() = Isa(-1 - layout);
#if defined(COIL_WITH_CUDA)
    if (layout >= 0) UseVersion::set(kCudaVersions[layout]);
#endif
  };
  for (const Version& v : versions) {
    fns.push_back([&s, v, set_layout] { set_layout(v.layout), s.forward(); });
    fns.push_back([&s, v, set_layout] { set_layout(v.layout), s.forward(), s.backward(); });
  }
#if defined(COIL_WITH_CUDA)
  // The cuFFT round trip alone (forward + inverse C2C of the packed spectra, columns layout):
  // what the pointwise kernels add on top of it is the rest of v1's forward.
  const int64_t n = coil::fft_conv_size(w.L, w.L, 1), R = w.B * ((w.H + 1) / 2);
  coil::Storage packed(dev.is_cuda() ? size_t(n * R) * 8 : 1, dev);
  if (dev.is_cuda()) {
    versions.push_back({"cuFFT columns fwd+inv", -1});
    fns.push_back([&, n, R] {
      coil::cuda::fft::PlanKey key{n, R, R, 1, R, 1, CUFFT_C2C, dev.index};
      coil::cuda::fft::execute(key, packed.data(), packed.data(), CUFFT_FORWARD);
      coil::cuda::fft::execute(key, packed.data(), packed.data(), CUFFT_INVERSE);
    });
    fns.push_back([] {});
  }
#endif
  fns.push_back(
      [&] { coil::bench::raw_copy(dev, copy_dst.data_ptr(), s.u.data_ptr(), s.u.nbytes()); });
  const std::vector<double> t = coil::bench::time_all(dev, reps, fns, kWarmup);
  coil::cpu::fft_lanes::isa() = Isa::best;
  const double copy_bw = 2 * ub / t.back();  // bytes/s
  const double floor_fwd = (2 * ub + kb) / copy_bw, floor_both = (5 * ub + 3 * kb) / copy_bw;
  fmt::print(
      "\nB {}, L {}, H {} (f32, causal, with D) on {}; floor = minimum bytes at copy "
      "bandwidth {:.0f} GB/s\n",
      w.B, w.L, w.H, dev.str(), copy_bw * 1e-9);
  row("version", "fwd ms", "floor/fwd", "f+b ms", "floor/f+b", "PyTorch", "target");
  for (size_t i = 0; i < versions.size(); ++i) {
    const double tf = t[2 * i], tb = t[2 * i + 1];
    if (dev.is_cuda() && versions[i].layout < 0) {  // the cuFFT-only row: one time
      row(versions[i].name, fmt::format("{:.3f}", tf * 1e3), "", "", "", "", "");
      continue;
    }
    const bool ok = tf * 1e3 <= w.target_fwd_ms && tb * 1e3 <= w.target_both_ms;
    row(versions[i].name, fmt::format("{:.3f}", tf * 1e3), fmt::format("{:.3f}", floor_fwd / tf),
        fmt::format("{:.3f}", tb * 1e3), fmt::format("{:.3f}", floor_both / tb),
        fmt::format("{:.3f}/{:.2f}", w.torch_fwd_ms, w.torch_both_ms), ok ? "ok" : "MISS");
  }
  row("floor", fmt::format("{:.3f}", floor_fwd * 1e3), "", fmt::format("{:.3f}", floor_both * 1e3),
      "", "", "");
}

}  // namespace

int main(int argc, char** argv) {
  coil::bench::CommonOptions o;
  int profile_workload = -1;
  int rc = coil::bench::parse_args(argc, argv, "coil_bench_fft_conv",
                                   "[--device cpu|cuda|all] [--reps N>=20] [--profile W]", o,
                                   [&](const std::string& a, auto&& value) {
                                     if (a != "--profile") return false;
                                     profile_workload = std::clamp(std::stoi(value()), 0, 2);
                                     return true;
                                   });
  if (rc >= 0) return rc;
#if defined(COIL_WITH_CUDA)
  if (profile_workload >= 0)
    return coil::bench::run_on_devices("coil_bench_fft_conv", "cuda", false,
                                       [&](const std::vector<Device>& devices) {
                                         profile(devices.front(), kCudaWorkloads[profile_workload]);
                                       });
#else
  if (profile_workload >= 0) {
    fmt::print(stderr, "coil_bench_fft_conv: --profile needs a CUDA build\n");
    return 2;
  }
#endif
  auto run = [&](const std::vector<Device>& devices) {
    fmt::print("coil_bench_fft_conv (coil {}), {} CPU threads\n", COIL_VERSION,
               omp_get_max_threads());
    for (Device dev : devices) {
      fmt::print("\n=== {}: {} ===\n", dev.str(), coil::bench::device_name(dev));
      check(dev);
#if defined(COIL_WITH_CUDA)
      if (dev.is_cuda()) check_versions(dev);
#endif
      if (dev.is_cuda()) {
        for (const Workload& w : kCudaWorkloads) bench(dev, w, o.reps);
      } else {
        // Issue 8: PyTorch 3.1 ms / 11-15 ms on the 2-core machine; coil at least 2x faster.
        bench(dev, Workload{8, 1024, 128, 3.1, 11.0, 1.55, 5.5}, o.reps);
      }
    }
  };
  return coil::bench::run_on_devices("coil_bench_fft_conv", o.device, /*cpu_last=*/false, run);
}
