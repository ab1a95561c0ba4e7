// coil_bench_softmax_ce: bandwidth of the fused softmax and cross-entropy kernels against a plain
// copy of the same bytes, measured in the same run on the same device.
//
//   coil_bench_softmax_ce [--device cpu|cuda|all] [--reps N>=20] [--rows N] [--classes C]
//
// Default sizes: (16384, 50280) f32 logits on CUDA (a GPT-2 sized vocabulary), (1024, 50280) on
// the CPU. GB/s counts the minimum bytes each case must move (printed with each row):
//   copy                 reads N*C*4, writes N*C*4
//   cross_entropy fwd    reads N*C*4                      (targets and per-row outputs ignored)
//   cross_entropy f+b    fwd reads N*C*4; bwd reads N*C*4, writes N*C*4   = 3*N*C*4
//   softmax fwd          reads N*C*4, writes N*C*4
//   softmax bwd          reads y and g (2*N*C*4), writes dx (N*C*4)
// GPU: cudaEvents on coil's compute stream after warm-up, median of the reps. CPU: steady_clock.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "core/factory.h"
#include "core/kernels.h"
#include "core/random.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/cross_entropy/kernels.h"
#include "ops/softmax/kernels.h"
#include "ops/softmax/softmax.h"

#if defined(COIL_WITH_CUDA)
#include <cuda_runtime.h>

#include "core/cuda/context.h"
#endif

namespace {

using coil::Device;
using coil::DType;
using coil::Tensor;

struct Options {
  std::string device = "all";
  int reps = 20;
  int64_t rows = 0, classes = 50280;  // rows 0: the per-device default
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median seconds per call of fn on dev, after two warm-up calls.
double time_fn([[maybe_unused]] Device dev, int reps, const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> t;
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    cudaStream_t s = coil::cuda::stream(dev.index);
    coil::cuda::synchronize(dev.index);
    std::vector<cudaEvent_t> ev(2 * size_t(reps));
    for (auto& e : ev) COIL_CUDA_CHECK(cudaEventCreate(&e));
    for (int i = 0; i < reps; ++i) {
      COIL_CUDA_CHECK(cudaEventRecord(ev[2 * size_t(i)], s));
      fn();
      COIL_CUDA_CHECK(cudaEventRecord(ev[2 * size_t(i) + 1], s));
    }
    COIL_CUDA_CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < reps; ++i) {
      float ms = 0;
      COIL_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * size_t(i)], ev[2 * size_t(i) + 1]));
      t.push_back(ms * 1e-3);
    }
    for (auto& e : ev) cudaEventDestroy(e);
    return median(t);
  }
#endif
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < reps; ++i) {
    auto t0 = clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  return median(t);
}

void raw_copy([[maybe_unused]] Device dev, void* dst, const void* src, size_t nbytes) {
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    COIL_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, coil::cuda::stream(dev.index)));
    return;
  }
#endif
  // One memcpy per thread, so the copy gets the cores the OpenMP kernels get.
#pragma omp parallel
  {
    size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
    size_t chunk = (nbytes / nt + 63) / 64 * 64;
    size_t lo = std::min(nbytes, id * chunk), hi = std::min(nbytes, lo + chunk);
    if (hi > lo)
      std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
  }
}

void bench_device(Device dev, const Options& o) {
  const int64_t N = o.rows ? o.rows : (dev.is_cuda() ? 16384 : 1024), C = o.classes;
  const double elems = double(N) * double(C), unit = elems * 4;  // N*C*4 bytes
  fmt::print("\n=== {}: logits ({}, {}) f32, N*C*4 = {:.3f} GB ===\n", dev.str(), N, C,
             unit * 1e-9);
  Tensor x = coil::randn({N, C}, {DType::f32, dev});
  Tensor target = coil::randint(0, C, {N}, {DType::i64, dev});
  Tensor dst = coil::empty({N, C}, {DType::f32, dev});

  const double t_copy =
      time_fn(dev, o.reps, [&] { raw_copy(dev, dst.data_ptr(), x.data_ptr(), size_t(unit)); });
  const double copy_bw = 2 * unit / t_copy * 1e-9;
  fmt::print("  {:<34} {:>10} {:>10} {:>10}   {}\n", "case", "ms", "GB/s", "vs copy", "bytes");
  auto report = [&](const std::string& what, double seconds, double bytes, const char* formula) {
    double bw = bytes / seconds * 1e-9;
    fmt::print("  {:<34} {:>10.3f} {:>10.1f} {:>10.2f}   {}\n", what, seconds * 1e3, bw,
               bw / copy_bw, formula);
    return bw / copy_bw;
  };
  report("device-to-device copy", t_copy, 2 * unit, "2*N*C*4");

  // cross_entropy through the public op: forward alone, and forward + backward (autograd).
  coil::set_requires_grad(x);
  Tensor loss;
  {
    coil::NoGradGuard no_grad;
    report("cross_entropy fwd",
           time_fn(dev, o.reps, [&] { loss = coil::cross_entropy(x, target); }), unit, "N*C*4");
  }
  const double ce_ratio = report("cross_entropy fwd+bwd (mean)",
                                 time_fn(dev, o.reps,
                                         [&] {
                                           coil::zero_grad(x);
                                           loss = coil::cross_entropy(x, target);
                                           coil::backward(loss);
                                         }),
                                 3 * unit, "3*N*C*4");
  // The two fused kernels alone (no reductions, no autograd, no target check read-back).
  {
    Tensor l = coil::empty({N}, {DType::f32, dev}), lse = coil::empty({N}, {DType::f32, dev});
    Tensor scale = coil::full({}, 1.0 / double(N), {DType::f32, dev});
    int64_t bad = -1;
    report("  fused kernels only, fwd+bwd",
           time_fn(dev, o.reps,
                   [&] {
                     COIL_DEVICE_CALL("bench", dev, cross_entropy_forward, l, lse, x, target, -100,
                                      0.0, bad);
                     COIL_DEVICE_CALL("bench", dev, cross_entropy_backward, dst, x, lse, target,
                                      scale, false, -100, 0.0);
                   }),
           3 * unit, "3*N*C*4");
  }
  const double mean_loss = loss.item<float>();
  coil::zero_grad(x);
  coil::set_requires_grad(x, false);

  Tensor y = coil::empty({N, C}, {DType::f32, dev});
  Tensor g = coil::randn({N, C}, {DType::f32, dev});
  report("softmax fwd",
         time_fn(dev, o.reps,
                 [&] { COIL_DEVICE_CALL("bench", dev, softmax_forward, y, x, N, C, false); }),
         2 * unit, "2*N*C*4");
  report("softmax bwd",
         time_fn(dev, o.reps,
                 [&] { COIL_DEVICE_CALL("bench", dev, softmax_backward, dst, y, g, N, C, false); }),
         3 * unit, "3*N*C*4");
  report("log_softmax fwd",
         time_fn(dev, o.reps,
                 [&] { COIL_DEVICE_CALL("bench", dev, softmax_forward, y, x, N, C, true); }),
         2 * unit, "2*N*C*4");

  // Sanity: for N(0, 1) logits and random targets, E[loss] = E[logsumexp] ~ log C + 1/2.
  fmt::print("  mean loss {:.4f} (about log C + 0.5 = {:.4f} expected)\n", mean_loss,
             std::log(double(C)) + 0.5);
  if (dev.is_cuda())
    fmt::print("  cross_entropy fwd+bwd at {:.2f} of copy bandwidth: {} the 0.60 target\n",
               ce_ratio, ce_ratio >= 0.6 ? "meets" : "BELOW");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "coil_bench_softmax_ce: {} needs a value\n", arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--device") o.device = value();
    else if (arg == "--reps") o.reps = std::max(20, std::stoi(value()));
    else if (arg == "--rows") o.rows = std::stoll(value());
    else if (arg == "--classes") o.classes = std::stoll(value());
    else {
      fmt::print(stderr,
                 "usage: coil_bench_softmax_ce [--device cpu|cuda|all] [--reps N>=20] "
                 "[--rows N] [--classes C]\n");
      return arg == "-h" || arg == "--help" ? 0 : 2;
    }
  }
  try {
    std::vector<Device> devices;
    if (o.device == "all" || o.device == "cuda")
      for (int i = 0; i < coil::cuda_device_count(); ++i) devices.push_back(Device::cuda(i));
    if (o.device == "all" || o.device == "cpu") devices.push_back(Device::cpu());
    if (devices.empty()) {
      fmt::print(stderr, "coil_bench_softmax_ce: no device matches --device {}\n", o.device);
      return 1;
    }
    fmt::print("coil_bench_softmax_ce (coil {}), {} CPU threads\n", COIL_VERSION,
               omp_get_max_threads());
    for (Device dev : devices) bench_device(dev, o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "coil_bench_softmax_ce: {}\n", e.what());
    return 1;
  }
  return 0;
}
