// coil_bench_selective_scan_cpu: the selective scan's CPU kernels (forward; forward + backward)
// against a plain sequential reference timed in the same run: one thread, scalar loops with
// std::exp, and a backward that keeps the whole (Bt, L, Dch, N) state, as the sequential
// PyTorch reference that mamba_ssm's CPU users run does. Workload of issue 7: z + delta_bias +
// softplus + D, G = 1, A = -(1..N), random inputs, f32. Checks coil's f32 results (outputs and
// every gradient) against the reference run in f64.
//
//   coil_bench_selective_scan_cpu [--reps N>=20] [--batch B] [--length L] [--channels D]
//                                 [--state N]
//
// Times are steady_clock medians; "op" includes the autograd front end, "kernel" calls the
// cpu:: kernels directly. Thread count: OMP_NUM_THREADS (the figure is for 2); the
// kernels also run on 1 thread in the same process.
#include <fmt/format.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "bench/bench_util.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/selective_scan/kernels.h"
#include "ops/selective_scan/selective_scan.h"

namespace {

using coil::DType;
using coil::Tensor;

struct Options : coil::bench::CommonOptions {
  int64_t batch = 8, length = 256, channels = 128, state = 16;
};

// Host copies of one problem's inputs and the output cotangent.
struct Host {
  int64_t Bt, L, D, N;
  std::vector<double> u, delta, z, B, C, A, Dv, bias, gout;
};

template <class T>
struct RefResult {
  std::vector<T> out, du, ddelta, dz, dB, dC, dA, dD, dbias;
};

template <class T>
T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}

// The plain sequential reference: forward keeps h for every (b, t, d, n); backward walks it back.
template <class T>
RefResult<T> reference(const Host& h, bool with_backward) {
  const int64_t Bt = h.Bt, L = h.L, D = h.D, N = h.N;
  auto cvt = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  const std::vector<T> u = cvt(h.u), delta = cvt(h.delta), z = cvt(h.z), B = cvt(h.B), C = cvt(h.C),
                       A = cvt(h.A), Dv = cvt(h.Dv), bias = cvt(h.bias), gout = cvt(h.gout);
  RefResult<T> r;
  r.out.assign(size_t(Bt * L * D), T(0));
  std::vector<T> hs(size_t(Bt * L * D * N)), ys(size_t(Bt * L * D));
  auto H = [&](int64_t b, int64_t t, int64_t d, int64_t n) -> T& {
    return hs[size_t(((b * L + t) * D + d) * N + n)];
  };
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t d = 0; d < D; ++d) {
        const size_t i = size_t((b * L + t) * D + d);
        const T dt = softplus(delta[i] + bias[size_t(d)]);
        T y = Dv[size_t(d)] * u[i];
        for (int64_t n = 0; n < N; ++n) {
          const T prev = t > 0 ? H(b, t - 1, d, n) : T(0);
          H(b, t, d, n) = std::exp(dt * A[size_t(d * N + n)]) * prev +
                          dt * B[size_t((b * L + t) * N + n)] * u[i];
          y += C[size_t((b * L + t) * N + n)] * H(b, t, d, n);
        }
        ys[i] = y;
        r.out[i] = y * z[i] / (T(1) + std::exp(-z[i]));
      }
  if (!with_backward) return r;
  r.du.assign(u.size(), T(0));
  r.ddelta.assign(u.size(), T(0));
  r.dz.assign(u.size(), T(0));
  r.dB.assign(B.size(), T(0));
  r.dC.assign(C.size(), T(0));
  r.dA.assign(A.size(), T(0));
  r.dD.assign(size_t(D), T(0));
  r.dbias.assign(size_t(D), T(0));
  std::vector<T> dh(static_cast<size_t>(N));
  for (int64_t b = 0; b < Bt; ++b)
    for (int64_t d = 0; d < D; ++d) {
      std::fill(dh.begin(), dh.end(), T(0));
      for (int64_t t = L - 1; t >= 0; --t) {
        const size_t i = size_t((b * L + t) * D + d);
        const T x = delta[i] + bias[size_t(d)], dt = softplus(x);
        const T sz = T(1) / (T(1) + std::exp(-z[i])), g = gout[i] * z[i] * sz;
        r.dz[i] = gout[i] * ys[i] * sz * (T(1) + z[i] * (T(1) - sz));
        r.dD[size_t(d)] += g * u[i];
        T ddt = 0, du = Dv[size_t(d)] * g;
        for (int64_t n = 0; n < N; ++n) {
          const size_t bn = size_t((b * L + t) * N + n);
          const T a = std::exp(dt * A[size_t(d * N + n)]);
          const T prev = t > 0 ? H(b, t - 1, d, n) : T(0);
          dh[size_t(n)] += C[bn] * g;
          r.dC[bn] += g * H(b, t, d, n);
          r.dB[bn] += dh[size_t(n)] * dt * u[i];
          du += dh[size_t(n)] * dt * B[bn];
          ddt += dh[size_t(n)] * (B[bn] * u[i] + A[size_t(d * N + n)] * a * prev);
          r.dA[size_t(d * N + n)] += dh[size_t(n)] * dt * a * prev;
          dh[size_t(n)] *= a;
        }
        r.du[i] = du;
        r.ddelta[i] = ddt / (T(1) + std::exp(-x));
        r.dbias[size_t(d)] += r.ddelta[i];
      }
    }
  return r;
}

// Max |got - want| / max |want|.
double rel_diff(const Tensor& got, const std::vector<double>& want) {
  auto x = coil::core::to(got, DType::f64).to_vector<double>();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

// CPU seconds (all threads of the process) per call of fn over reps calls after one warm-up:
// {median, min}. On a shared, loaded machine wall time measures the neighbours, CPU time the
// kernel (the min the least disturbed call).
std::pair<double, double> cpu_seconds(int reps, const std::function<void()>& fn) {
  auto now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now();
    fn();
    t.push_back(now() - t0);
  }
  return {coil::bench::median(t), *std::min_element(t.begin(), t.end())};
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

void run(const Options& o) {
  const int64_t Bt = o.batch, L = o.length, D = o.channels, N = o.state;
  coil::Generator g(2026);
  const coil::TensorOptions f32{DType::f32, coil::Device::cpu()};
  Tensor u = coil::randn({Bt, L, D}, f32, &g), delta = coil::randn({Bt, L, D}, f32, &g);
  Tensor z = coil::randn({Bt, L, D}, f32, &g), B = coil::randn({Bt, L, 1, N}, f32, &g);
  Tensor C = coil::randn({Bt, L, 1, N}, f32, &g), Dv = coil::randn({D}, f32, &g);
  Tensor bias = coil::uniform({D}, -4.0, -1.0, f32, &g);  // dt about 0.02 .. 0.3, as Mamba's init
  Tensor gout = coil::randn({Bt, L, D}, f32, &g);
  std::vector<float> a_host(size_t(D * N));
  for (int64_t d = 0; d < D; ++d)
    for (int64_t n = 0; n < N; ++n) a_host[size_t(d * N + n)] = -float(n + 1);
  Tensor A = coil::from_vector(a_host, {D, N});

  auto host = [](const Tensor& t) { return coil::core::to(t, DType::f64).to_vector<double>(); };
  const Host h{Bt,      L,       D,       N,        host(u),    host(delta), host(z),
               host(B), host(C), host(A), host(Dv), host(bias), host(gout)};

  fmt::print("coil_bench_selective_scan_cpu on {}\n",
             coil::bench::device_name(coil::Device::cpu()));
  fmt::print("Bt {}, L {}, Dch {}, N {}, G 1, f32; z, delta_bias, softplus, D; load average {}\n",
             Bt, L, D, N, load_average());

  // Correctness: coil f32 against the reference in f64, outputs and every gradient.
  const RefResult<double> ref = reference<double>(h, true);
  std::vector<Tensor> leaves{u, delta, A, B, C, Dv, z, bias};
  for (Tensor& t : leaves) {
    t = coil::core::clone(t);
    coil::set_requires_grad(t);
  }
  {
    auto [out, fs] = coil::selective_scan(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4],
                                          leaves[5], leaves[6], leaves[7], true);
    coil::backward(out, gout);
    const std::vector<std::pair<const char*, std::pair<Tensor, const std::vector<double>*>>> checks{
        {"out", {out, &ref.out}},
        {"du", {coil::grad(leaves[0]), &ref.du}},
        {"ddelta", {coil::grad(leaves[1]), &ref.ddelta}},
        {"dA", {coil::grad(leaves[2]), &ref.dA}},
        {"dB", {coil::grad(leaves[3]), &ref.dB}},
        {"dC", {coil::grad(leaves[4]), &ref.dC}},
        {"dD", {coil::grad(leaves[5]), &ref.dD}},
        {"dz", {coil::grad(leaves[6]), &ref.dz}},
        {"ddelta_bias", {coil::grad(leaves[7]), &ref.dbias}}};
    double worst = 0;
    std::string line;
    for (const auto& [name, pair] : checks) {
      const double e = rel_diff(pair.first, *pair.second);
      worst = std::max(worst, e);
      line += fmt::format(" {} {:.1e}", name, e);
    }
    fmt::print("f32 vs f64 reference (max rel error):{}\n", line);
    if (!(worst < 1e-3)) throw std::runtime_error("coil's scan disagrees with the reference");
  }

  // Timings.
  Tensor gfin = coil::zeros({Bt, D, N}, f32);
  auto op_forward = [&] {
    coil::NoGradGuard no_grad;
    (void)coil::selective_scan(u, delta, A, B, C, Dv, z, bias, true);
  };
  auto op_forward_backward = [&] {
    for (const Tensor& t : leaves) coil::zero_grad(t);
    auto [out, fs] = coil::selective_scan(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4],
                                          leaves[5], leaves[6], leaves[7], true);
    coil::backward(out, gout);
  };
  coil::SelectiveScanParams p;
  p.batch = Bt, p.length = L, p.channels = D, p.state = N, p.groups = 1;
  p.u = u.data_ptr(), p.delta = delta.data_ptr(), p.z = z.data_ptr();
  p.B = B.data_ptr(), p.C = C.data_ptr(), p.A = A.data_ptr(), p.D = Dv.data_ptr();
  p.delta_bias = bias.data_ptr(), p.delta_softplus = true;
  p.u_sb = p.delta_sb = p.z_sb = L * D, p.u_st = p.delta_st = p.z_st = D;
  p.B_sb = p.C_sb = L * N, p.B_st = p.C_st = N;
  Tensor out = coil::empty({Bt, L, D}, f32), fs = coil::empty({Bt, D, N}, f32);
  const coil::SelectiveScanGrads grads{
      coil::empty({Bt, L, D}, f32),    coil::empty({Bt, L, D}, f32),    coil::empty({D, N}, f32),
      coil::empty({Bt, L, 1, N}, f32), coil::empty({Bt, L, 1, N}, f32), coil::empty({D}, f32),
      coil::empty({Bt, L, D}, f32),    coil::empty({D}, f32),           Tensor()};
  auto kernel_forward = [&] { coil::cpu::selective_scan_forward(p, out, fs, nullptr); };
  auto kernel_forward_backward = [&] {
    Tensor ck;
    coil::cpu::selective_scan_forward(p, out, fs, &ck);
    coil::cpu::selective_scan_backward(p, ck, gout, Tensor(), grads);
  };
  auto ref_forward = [&] { (void)reference<float>(h, false); };
  auto ref_forward_backward = [&] { (void)reference<float>(h, true); };

  // The kernels also run on one thread in the same process, after the threaded runs (not
  // interleaved with them: the first threaded call after a 1-thread one would pay for waking
  // the sleeping threads), for the threads' speed-up of the same run.
  const int threads = omp_get_max_threads();
  std::vector<double> t = coil::bench::time_all(
      coil::Device::cpu(), o.reps,
      {kernel_forward, kernel_forward_backward, op_forward, op_forward_backward}, 0);
  omp_set_num_threads(1);
  for (double s : coil::bench::time_all(coil::Device::cpu(), o.reps,
                                        {kernel_forward, kernel_forward_backward}, 0))
    t.push_back(s);
  omp_set_num_threads(threads);
  const double ref_f = coil::bench::time_fn(coil::Device::cpu(), 5, ref_forward);
  const double ref_fb = coil::bench::time_fn(coil::Device::cpu(), 5, ref_forward_backward);
  const auto [cpu_f, min_f] = cpu_seconds(o.reps, kernel_forward);
  const auto [cpu_fb, min_fb] = cpu_seconds(o.reps, kernel_forward_backward);
  const auto [cpu_ref_f, min_ref_f] = cpu_seconds(5, ref_forward);
  const auto [cpu_ref_fb, min_ref_fb] = cpu_seconds(5, ref_forward_backward);
  fmt::print("wall time, median:\n");
  fmt::print("{:<38} {:>10} {:>10}\n", "", "forward", "fwd+bwd");
  fmt::print("{:<38} {:>7.3f} ms {:>7.3f} ms\n", "plain sequential reference (1 thread)",
             ref_f * 1e3, ref_fb * 1e3);
  fmt::print("{:<38} {:>7.3f} ms {:>7.3f} ms   ({:.0f}x / {:.0f}x the reference)\n",
             fmt::format("coil cpu:: kernels ({} threads)", threads), t[0] * 1e3, t[1] * 1e3,
             ref_f / t[0], ref_fb / t[1]);
  fmt::print("{:<38} {:>7.3f} ms {:>7.3f} ms   target <= 1.5 / <= 5 ms\n",
             fmt::format("coil selective_scan op ({} threads)", threads), t[2] * 1e3, t[3] * 1e3);
  fmt::print("{:<38} {:>7.3f} ms {:>7.3f} ms   ({:.2f}x / {:.2f}x from {} threads)\n",
             "coil cpu:: kernels (1 thread, same run)", t[4] * 1e3, t[5] * 1e3, t[4] / t[0],
             t[5] / t[1], threads);
  const double updates = double(Bt * L * D * N);
  fmt::print(
      "CPU time (all threads), median: reference {:.3f} / {:.3f} ms, coil kernels {:.3f} / "
      "{:.3f} ms; coil kernels / {} threads = {:.3f} / {:.3f} ms\n",
      cpu_ref_f * 1e3, cpu_ref_fb * 1e3, cpu_f * 1e3, cpu_fb * 1e3, threads, cpu_f * 1e3 / threads,
      cpu_fb * 1e3 / threads);
  fmt::print(
      "CPU time (all threads), min: reference {:.3f} / {:.3f} ms, coil kernels {:.3f} / "
      "{:.3f} ms\n",
      min_ref_f * 1e3, min_ref_fb * 1e3, min_f * 1e3, min_fb * 1e3);
  fmt::print("kernel forward: {:.2f} ns of CPU time per state update (median)\n",
             cpu_f * 1e9 / updates);
  fmt::print("load average after: {}\n", load_average());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const int status =
      coil::bench::parse_args(argc, argv, "coil_bench_selective_scan_cpu",
                              "[--reps N>=20] [--batch B] [--length L] [--channels D] [--state N]",
                              o, [&](const std::string& arg, auto value) {
                                if (arg == "--batch") o.batch = std::stoll(value());
                                else if (arg == "--length") o.length = std::stoll(value());
                                else if (arg == "--channels") o.channels = std::stoll(value());
                                else if (arg == "--state") o.state = std::stoll(value());
                                else return false;
                                return true;
                              });
  if (status >= 0) return status;
  return coil::bench::run_on_devices("coil_bench_selective_scan_cpu", "cpu", false,
                                     [&](const auto&) { run(o); });
}
