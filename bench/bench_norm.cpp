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
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/norm/kernels.h"

namespace {

using coil::Device;
using coil::RowNorm;
using coil::Tensor;

constexpr double kTarget = 0.70;  // fraction of copy bandwidth each kernel should reach
constexpr int kWarmup = 5;        // untimed GPU rounds first: pool growth, clocks

struct Options : coil::bench::CommonOptions {
  int64_t rows = 8 * 2048, dim = 768;
};

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
  fns.push_back(
      [&] { coil::bench::raw_copy(dev, copy_dst.data_ptr(), s.x.data_ptr(), s.x.nbytes()); });
  const std::vector<double> t = coil::bench::time_all(dev, o.reps, fns, kWarmup);
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
  auto extra = [&](const std::string& arg, auto& value) {
    if (arg == "--rows") o.rows = std::max<int64_t>(1, std::stoll(value()));
    else if (arg == "--dim") o.dim = std::max<int64_t>(1, std::stoll(value()));
    else return false;
    return true;
  };
  int rc = coil::bench::parse_args(argc, argv, "coil_bench_norm",
                                   "[--device cpu|cuda|all] [--reps N>=20] [--rows R] [--dim D]", o,
                                   extra);
  if (rc >= 0) return rc;
  auto run = [&](const std::vector<Device>& devices) {
    fmt::print("coil_bench_norm (coil {}), {} CPU threads\n", COIL_VERSION, omp_get_max_threads());
    for (Device dev : devices) {
      fmt::print("\n=== {} ===\n", dev.str());
      bench_row_norms(dev, o);
      if (dev.is_cuda()) check_against_cpu(dev, o);
    }
  };
  return coil::bench::run_on_devices("coil_bench_norm", o.device, /*cpu_last=*/false, run);
}
