// coil_bench: how close the tensor core comes to the hardware on each device. Elementwise add
// (contiguous and broadcast) against a plain copy of the same bytes, and f32 GEMM through
// coil::core::matmul against calling cuBLAS / OpenBLAS directly on the same buffers.
//
//   coil_bench [--device cpu|cuda|all] [--reps N] [--gemm-sizes 512,1024,...] [--quick]
//
// GPU: cudaEvents on coil's compute stream, warm-up first, median of >= 20 reps.
// CPU: steady_clock, median of up to 20 reps (fewer for the slow large GEMMs, never < 3).
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "core/backend.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/linalg.h"
#include "core/random.h"
#include "core/tensor.h"

#if defined(COIL_WITH_CUDA)
#include <cublas_v2.h>

#include "core/cuda/context.h"
#endif

namespace {

using coil::Device;
using coil::Tensor;
using coil::bench::raw_copy;
using coil::bench::time_all;

constexpr int kWarmup = 3;  // untimed GPU rounds first: pool growth, cuBLAS heuristics, clocks

struct Options : coil::bench::CommonOptions {
  bool quick = false;
  std::vector<int64_t> gemm_sizes = {512, 1024, 2048, 4096};
};

void row(const std::string& what, const std::string& a, const std::string& b,
         const std::string& c) {
  fmt::print("  {:<34} {:>16} {:>16} {:>12}\n", what, a, b, c);
}

// ---- elementwise -----------------------------------------------------------------------------
void bench_elementwise(Device dev, const Options& o) {
  using coil::BinaryOp;
  using coil::DType;
  const bool gpu = dev.is_cuda();
  int64_t n = gpu ? (int64_t(1) << 28) : (int64_t(1) << (o.quick ? 22 : 24));
  coil::Shape bshape = gpu ? coil::Shape{8, 4096, 2048}
                           : (o.quick ? coil::Shape{4, 256, 1024} : coil::Shape{8, 2048, 1024});
  const int reps = o.reps;

  fmt::print("\nelementwise f32 on {}  (GB/s counts bytes read + written)\n", dev.str());
  row("case", "coil GB/s", "copy GB/s", "coil/copy");

  // One case: coil allocating its output, coil writing into a preallocated one, and a copy of
  // x's bytes; add_bytes is what the add must move at least.
  auto run_case = [&](const std::string& label, const Tensor& x, const Tensor& y) {
    Tensor out = coil::empty_like(x), dst = coil::empty_like(x), keep;
    auto [t_new, t_into, t_copy] = [&] {
      auto t = time_all(dev, reps,
                        {[&] { keep = coil::core::binary(BinaryOp::add, x, y); },
                         [&] { coil::core::binary_into(BinaryOp::add, out, x, y); },
                         [&] { raw_copy(dev, dst.data_ptr(), x.data_ptr(), x.nbytes()); }},
                        kWarmup);
      return std::tuple{t[0], t[1], t[2]};
    }();
    double add_bytes = 2.0 * double(x.nbytes()) + double(y.nbytes());
    double copy_bw = 2.0 * double(x.nbytes()) / t_copy * 1e-9;
    double bw_new = add_bytes / t_new * 1e-9, bw_into = add_bytes / t_into * 1e-9;
    row(label + " new out", fmt::format("{:.1f}", bw_new), fmt::format("{:.1f}", copy_bw),
        fmt::format("{:.2f}", bw_new / copy_bw));
    row(label + " into out", fmt::format("{:.1f}", bw_into), fmt::format("{:.1f}", copy_bw),
        fmt::format("{:.2f}", bw_into / copy_bw));
  };
  {
    Tensor a = coil::randn({n}, {DType::f32, dev}), b = coil::randn({n}, {DType::f32, dev});
    run_case(fmt::format("add 2^{}", int(std::log2(double(n)))), a, b);
  }
  {
    int64_t d = bshape.back();
    Tensor x = coil::randn(bshape, {DType::f32, dev}), bias = coil::randn({d}, {DType::f32, dev});
    run_case(fmt::format("({},{},{})+({})", bshape[0], bshape[1], bshape[2], d), x, bias);
  }
}

// ---- GEMM ------------------------------------------------------------------------------------
#if defined(COIL_WITH_CUDA)
struct CublasBaseline {
  cublasHandle_t h = nullptr;
  explicit CublasBaseline(int device) {
    coil::cuda::DeviceGuard g(device);
    COIL_CUBLAS_CHECK(cublasCreate(&h));
    COIL_CUBLAS_CHECK(cublasSetStream(h, coil::cuda::stream(device)));
    // Same math as coil: true f32 unless TF32 was allowed.
    COIL_CUBLAS_CHECK(cublasSetMathMode(
        h, coil::core::allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  ~CublasBaseline() {
    if (h) cublasDestroy(h);
  }
  // Row-major C (m, n) = A (m, k) @ B (k, n), i.e. column-major C^T = B^T A^T.
  void sgemm(const float* a, const float* b, float* c, int m, int n, int k) const {
    const float one = 1, zero = 0;
    COIL_CUBLAS_CHECK(
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, n, a, k, &zero, c, n));
  }
};
#endif

void bench_gemm(Device dev, const Options& o) {
  using coil::DType;
  fmt::print("\nf32 GEMM on {}  (C = A @ B, square; TF32 {})\n", dev.str(),
             coil::core::allow_tf32() ? "ON" : "off");
  row("n", "coil GFLOP/s", dev.is_cuda() ? "cuBLAS GFLOP/s" : "cblas GFLOP/s", "overhead %");
#if defined(COIL_WITH_CUDA)
  std::unique_ptr<CublasBaseline> cub;
  if (dev.is_cuda()) cub = std::make_unique<CublasBaseline>(dev.index);
#endif
  for (int64_t n : o.gemm_sizes) {
    Tensor a = coil::randn({n, n}, {DType::f32, dev}), b = coil::randn({n, n}, {DType::f32, dev});
    Tensor c = coil::empty({n, n}, {DType::f32, dev});
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = c.data<float>();
    std::function<void()> direct;
#if defined(COIL_WITH_CUDA)
    if (dev.is_cuda()) direct = [&] { cub->sgemm(pa, pb, pc, int(n), int(n), int(n)); };
#endif
    if (!direct)
      direct = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, pa,
                    int(n), pb, int(n), 0.0f, pc, int(n));
      };
    Tensor keep;
    auto t = time_all(dev, o.reps, {[&] { keep = coil::core::matmul(a, b); }, direct}, kWarmup);
    double t_coil = t[0], t_direct = t[1];
    // Same buffers, same library: the results must agree (catches a wrong transpose mapping).
    std::vector<float> x = keep.to_vector<float>(), y = c.to_vector<float>();
    double err = 0, scale = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      err = std::max(err, double(std::fabs(x[i] - y[i])));
      scale = std::max(scale, double(std::fabs(y[i])));
    }
    double flops = 2.0 * double(n) * double(n) * double(n);
    std::string check = err <= 1e-3 * scale ? "" : fmt::format("  MISMATCH max|diff| {:.3g}", err);
    row(fmt::format("{}", n), fmt::format("{:.1f}", flops / t_coil * 1e-9),
        fmt::format("{:.1f}", flops / t_direct * 1e-9),
        fmt::format("{:+.1f}{}", (t_coil / t_direct - 1) * 100, check));
  }
}

std::vector<int64_t> parse_sizes(const std::string& s) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = s.find(',', pos);
    out.push_back(std::stoll(s.substr(pos, next - pos)));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool sizes_given = false;
  auto extra = [&](const std::string& arg, auto& value) {
    if (arg == "--gemm-sizes") o.gemm_sizes = parse_sizes(value()), sizes_given = true;
    else if (arg == "--quick") o.quick = true;
    else return false;
    return true;
  };
  int rc = coil::bench::parse_args(
      argc, argv, "coil_bench",
      "[--device cpu|cuda|all] [--reps N>=20] [--gemm-sizes 512,1024,2048,4096] [--quick]", o,
      extra);
  if (rc >= 0) return rc;
  auto run = [&](const std::vector<Device>& devices) {
    fmt::print("coil_bench (coil {})\n", COIL_VERSION);
    for (Device dev : devices) {
      fmt::print("\n=== {}: {} ===\n", dev.str(), coil::bench::device_name(dev));
      Options od = o;
      if (o.quick && !sizes_given) od.gemm_sizes = {256, 512, 1024};
      bench_elementwise(dev, od);
      bench_gemm(dev, od);
    }
  };
  return coil::bench::run_on_devices("coil_bench", o.device, /*cpu_last=*/false, run);
}
