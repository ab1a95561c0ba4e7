// coil_bench_norm: the layer_norm and rms_norm kernels (forward; backward with dx, dweight,
// dbias) against a plain copy of the same bytes, on every device. The floor is the minimum
// traffic: forward reads x and writes y, backward reads x and dy and writes dx (per-row stats
// and the (D) vectors are counted too but are tiny). Checks the device results against the CPU.
//
//   coil_bench_norm [--device cpu|cuda|all] [--reps N>=20] [--rows R] [--dim D]
//
// GPU: cudaEvents on coil's compute stream after warm-up, median of the reps, the copy timed in
// the same interleaved loop. CPU: steady_clock, median.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/norm/kernels.h"

#if defined(COIL_WITH_CUDA)
#include <cuda_runtime.h>

#include "core/cuda/context.h"
#endif

namespace {

using coil::Device;
using coil::RowNorm;
using coil::Tensor;

constexpr double kTarget = 0.70;  // fraction of copy bandwidth each kernel should reach

struct Options {
  std::string device = "all";
  int reps = 20;
  int64_t rows = 8 * 2048, dim = 768;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds per call of each fn, median over reps, interleaved so drift hits all alike.
std::vector<double> time_all([[maybe_unused]] Device dev, int reps,
                             const std::vector<std::function<void()>>& fns) {
  const size_t nf = fns.size();
  std::vector<std::vector<double>> t(nf);
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    cudaStream_t s = coil::cuda::stream(dev.index);
    for (int i = 0; i < 5; ++i)
      for (auto& fn : fns) fn();  // warm-up: pool growth, clocks
    coil::cuda::synchronize(dev.index);
    std::vector<cudaEvent_t> ev(2 * nf * size_t(reps));
    for (auto& e : ev) COIL_CUDA_CHECK(cudaEventCreate(&e));
    for (int i = 0; i < reps; ++i)
      for (size_t j = 0; j < nf; ++j) {
        COIL_CUDA_CHECK(cudaEventRecord(ev[2 * (i * nf + j)], s));
        fns[j]();
        COIL_CUDA_CHECK(cudaEventRecord(ev[2 * (i * nf + j) + 1], s));
      }
    COIL_CUDA_CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < reps; ++i)
      for (size_t j = 0; j < nf; ++j) {
        float ms = 0;
        COIL_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * (i * nf + j)], ev[2 * (i * nf + j) + 1]));
        t[j].push_back(ms * 1e-3);
      }
    for (auto& e : ev) cudaEventDestroy(e);
  }
#endif
  if (dev.is_cpu()) {
    using clock = std::chrono::steady_clock;
    auto once = [](const std::function<void()>& fn) {
      auto t0 = clock::now();
      fn();
      return std::chrono::duration<double>(clock::now() - t0).count();
    };
    double first = 0;
    for (auto& fn : fns) first += once(fn);  // warm-up: page faults, thread start-up
    int n = std::clamp(int(4.0 / std::max(first, 1e-9)), 5, reps);
    for (int i = 0; i < n; ++i)
      for (size_t j = 0; j < nf; ++j) t[j].push_back(once(fns[j]));
  }
  std::vector<double> med(nf);
  for (size_t j = 0; j < nf; ++j) med[j] = median(t[j]);
  return med;
}

void raw_copy([[maybe_unused]] Device dev, void* dst, const void* src, size_t nbytes) {
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    COIL_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, coil::cuda::stream(dev.index)));
    return;
  }
#endif
#pragma omp parallel
  {
    size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
    size_t chunk = (nbytes / nt + 63) / 64 * 64;
    size_t lo = std::min(nbytes, id * chunk), hi = std::min(nbytes, lo + chunk);
    if (hi > lo)
      std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
  }
}

// Max |a - b| / max |b| over the host copies.
double rel_diff(const Tensor& a, const Tensor& b) {
  auto x = coil::core::to(a, Device::cpu()).to_vector<double>();
  auto y = coil::core::to(b, Device::cpu()).to_vector<double>();
  double d = 0, s = 1e-30;
  for (size_t i = 0; i < x.size(); ++i)
    d = std::max(d, std::abs(x[i] - y[i])), s = std::max(s, std::abs(y[i]));
  return d / s;
}

// The tensors of both row norms: inputs, outputs, saved stats (per kind) and gradients.
struct RowNormSet {
  Tensor x, w, b, dy, y, mean, rstd_layer, rstd_rms, dx, dw, db;
  RowNormSet(int64_t rows, int64_t dim, Device dev, uint64_t seed) {
    coil::Generator g(seed);
    coil::TensorOptions o{coil::DType::f32, dev};
    x = coil::normal({rows, dim}, 0.5, 1.0, o, &g);
    dy = coil::normal({rows, dim}, 0.0, 1.0, o, &g);
    w = coil::uniform({dim}, 0.5, 1.5, o, &g);
    b = coil::normal({dim}, 0.0, 0.5, o, &g);
    y = coil::empty({rows, dim}, o), dx = coil::empty({rows, dim}, o);
    mean = coil::empty({rows}, o), rstd_layer = coil::empty({rows}, o);
    rstd_rms = coil::empty({rows}, o);
    dw = coil::empty({dim}, o), db = coil::empty({dim}, o);
  }
  RowNormSet to(Device dev) const {
    RowNormSet c = *this;
    for (Tensor* t :
         {&c.x, &c.w, &c.b, &c.dy, &c.y, &c.mean, &c.rstd_layer, &c.rstd_rms, &c.dx, &c.dw, &c.db})
      *t = coil::core::clone(coil::core::to(*t, dev));
    return c;
  }
  void forward(RowNorm k) const {
    const bool ln = k == RowNorm::layer;
    COIL_DEVICE_CALL("bench", x.device(), row_norm_forward, k, y, ln ? mean : Tensor(),
                     ln ? rstd_layer : rstd_rms, x, w, ln ? b : Tensor(), 1e-5);
  }
  void backward(RowNorm k) const {
    const bool ln = k == RowNorm::layer;
    COIL_DEVICE_CALL("bench", x.device(), row_norm_backward, k, dx, dw, ln ? db : Tensor(), dy, x,
                     w, ln ? mean : Tensor(), ln ? rstd_layer : rstd_rms);
  }
};

void row(const std::string& a, const std::string& b, const std::string& c, const std::string& d,
         const std::string& e, const std::string& f) {
  fmt::print("  {:<20} {:>10} {:>10} {:>10} {:>8} {:>10}\n", a, b, c, d, e, f);
}

void bench_row_norms(Device dev, const Options& o) {
  const int64_t rows = o.rows, dim = o.dim;
  RowNormSet s(rows, dim, dev, 17);
  Tensor copy_dst = coil::empty_like(s.x);
  const double xb = double(s.x.nbytes()), stat = double(rows) * 4, vec = double(dim) * 4;
  struct Case {
    std::string name;
    RowNorm kind;
    bool fwd;
    double bytes;
  };
  const std::vector<Case> cases = {
      {"layer_norm fwd", RowNorm::layer, true, 2 * xb + 2 * stat + 2 * vec},
      {"layer_norm bwd", RowNorm::layer, false, 3 * xb + 2 * stat + 3 * vec},
      {"rms_norm fwd", RowNorm::rms, true, 2 * xb + stat + vec},
      {"rms_norm bwd", RowNorm::rms, false, 3 * xb + stat + 2 * vec},
  };
  // Each backward reads the stats its forward saved.
  s.forward(RowNorm::layer);
  s.forward(RowNorm::rms);
  std::vector<std::function<void()>> fns;
  for (const Case& c : cases)
    fns.push_back([&s, c] { c.fwd ? s.forward(c.kind) : s.backward(c.kind); });
  fns.push_back([&] { raw_copy(dev, copy_dst.data_ptr(), s.x.data_ptr(), s.x.nbytes()); });
  const std::vector<double> t = time_all(dev, o.reps, fns);
  const double copy_bw = 2 * xb / t.back() * 1e-9;
  fmt::print("\nrow norms f32 on {}, x ({}, {}); GB/s counts the minimum bytes{}\n", dev.str(),
             rows, dim, dev.is_cpu() ? "" : fmt::format("; target >= {:.2f} of copy", kTarget));
  row("case", "time us", "GB/s", "copy GB/s", "ratio", "");
  for (size_t i = 0; i < cases.size(); ++i) {
    const double bw = cases[i].bytes / t[i] * 1e-9, ratio = bw / copy_bw;
    row(cases[i].name, fmt::format("{:.1f}", t[i] * 1e6), fmt::format("{:.1f}", bw),
        fmt::format("{:.1f}", copy_bw), fmt::format("{:.2f}", ratio),
        dev.is_cpu()       ? ""
        : ratio >= kTarget ? "ok"
                           : "BELOW");
  }
  row("copy (x bytes)", fmt::format("{:.1f}", t.back() * 1e6), fmt::format("{:.1f}", copy_bw), "",
      "", "");
}

// The device kernels against the CPU kernels on the same inputs (a sample of rows).
void check_against_cpu(Device dev, const Options& o) {
  const int64_t rows = std::min<int64_t>(o.rows, 2048);
  RowNormSet d(rows, o.dim, dev, 23);
  RowNormSet h = d.to(Device::cpu());
  double worst = 0;
  for (RowNorm k : {RowNorm::layer, RowNorm::rms}) {
    d.forward(k);
    h.forward(k);
    d.backward(k);
    h.backward(k);
    worst = std::max({worst, rel_diff(d.y, h.y), rel_diff(d.dx, h.dx), rel_diff(d.dw, h.dw)});
    if (k == RowNorm::layer) worst = std::max(worst, rel_diff(d.db, h.db));
  }
  fmt::print("  check vs CPU ({} rows): max rel diff {:.2e}{}\n", rows, worst,
             worst <= 1e-4 ? "" : "  MISMATCH");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "coil_bench_norm: {} needs a value\n", arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--device") o.device = value();
    else if (arg == "--reps") o.reps = std::max(20, std::stoi(value()));
    else if (arg == "--rows") o.rows = std::max<int64_t>(1, std::stoll(value()));
    else if (arg == "--dim") o.dim = std::max<int64_t>(1, std::stoll(value()));
    else {
      fmt::print(stderr,
                 "usage: coil_bench_norm [--device cpu|cuda|all] [--reps N>=20] [--rows R] "
                 "[--dim D]\n");
      return arg == "-h" || arg == "--help" ? 0 : 2;
    }
  }
  try {
    std::vector<Device> devices;
    if (o.device == "all" || o.device == "cpu") devices.push_back(Device::cpu());
    if (o.device == "all" || o.device == "cuda")
      for (int i = 0; i < coil::cuda_device_count(); ++i) devices.push_back(Device::cuda(i));
    if (devices.empty()) {
      fmt::print(stderr, "coil_bench_norm: no device matches --device {}\n", o.device);
      return 1;
    }
    fmt::print("coil_bench_norm (coil {}), {} CPU threads\n", COIL_VERSION, omp_get_max_threads());
    for (Device dev : devices) {
      fmt::print("\n=== {} ===\n", dev.str());
      bench_row_norms(dev, o);
      if (dev.is_cuda()) check_against_cpu(dev, o);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "coil_bench_norm: {}\n", e.what());
    return 1;
  }
  return 0;
}
