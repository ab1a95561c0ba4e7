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

#include <cmath>
#include <string>

#include "autograd/autograd.h"
#include "bench/bench_util.h"
#include "core/factory.h"
#include "core/kernels.h"
#include "core/random.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/cross_entropy/kernels.h"
#include "ops/softmax/kernels.h"
#include "ops/softmax/softmax.h"

namespace {

using coil::Device;
using coil::DType;
using coil::Tensor;
using coil::bench::raw_copy;
using coil::bench::time_fn;

struct Options : coil::bench::CommonOptions {
  int64_t rows = 0, classes = 50280;  // rows 0: the per-device default
};

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
  auto extra = [&](const std::string& arg, auto& value) {
    if (arg == "--rows") o.rows = std::stoll(value());
    else if (arg == "--classes") o.classes = std::stoll(value());
    else return false;
    return true;
  };
  int rc = coil::bench::parse_args(
      argc, argv, "coil_bench_softmax_ce",
      "[--device cpu|cuda|all] [--reps N>=20] [--rows N] [--classes C]", o, extra);
  if (rc >= 0) return rc;
  auto run = [&](const std::vector<Device>& devices) {
    fmt::print("coil_bench_softmax_ce (coil {}), {} CPU threads\n", COIL_VERSION,
               omp_get_max_threads());
    for (Device dev : devices) bench_device(dev, o);
  };
  return coil::bench::run_on_devices("coil_bench_softmax_ce", o.device, /*cpu_last=*/true, run);
}
