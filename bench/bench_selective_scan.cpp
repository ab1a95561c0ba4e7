// Kernel lab of the CUDA selective scan (ops/selective_scan/cuda.cu), llm.c dev/cuda style:
// a correctness check of each kernel version against the float64 CPU kernels on fresh random
// inputs, then the four workloads timed with cudaEvents (median after warm-up), the
// same-run device-to-device copy bandwidth, and each time as a multiple of its floor (bytes
// moved once at that bandwidth; exponentials at 16 per SM per clock on the special-function
// units). Versions: v1 = 16 lanes x 1 state per (b, d), v2 = 8 lanes x 2 states (forward, N <= 16);
// both chunk L when Bt x channel blocks cannot fill the GPU (the default path); "unchunked" turns
// that off (the first round's kernels' parallelism); the check also runs v2 with chunks of 2 tiles.
// Rounds (COIL_SELECTIVE_SCAN_FWD / _BWD): r3 = the round-3 kernels; r4 = the f32 8-lane forward
// with u, delta, z staged in shared memory, and the 8 lanes x 2 states backward (256 threads,
// inputs staged in shared memory); r5 = the 4 lanes x 4 states forward and backward (blocks of
// 4 warps); r6 = r5 with r4's forward staging (f32). The check runs v1-v3 with r3, v4 (v2
// with r4) and v5 (v4 in chunks of 2 tiles), v6 (r5), v7 (v6 in chunks of 2 tiles) and v8 (r6);
// the table times fwd v2 and fwd+bwd with r3 and r4, fwd r4-r6, fwd+bwd r5, and fwd+bwd r4
// with the backward alone in chunks of 32 tiles ("r4 c32": 2 chunks at L 2048, so 2x the
// blocks).
// --profile W runs only workload W (0-3 of the table): two rounds of the forward alone, then the
// forward with checkpoints and the backward, for a profiler (ncu --launch-skip 3 --launch-count 3
// --kernel-name regex:"forward_kernel|backward_kernel" sees the second round); the kernels are the
// op's defaults unless COIL_SELECTIVE_SCAN_FWD / _BWD / _LANES are set.
//   coil_bench_selective_scan [--reps N] [--check-only] [--profile W]
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "bench/bench_util.h"
#include "core/copy.h"
#include "core/factory.h"
#include "ops/selective_scan/kernels.h"

// The lab calls the cuda:: kernels directly; a CPU-only build gets a main that says so.
#if defined(COIL_WITH_CUDA)
using namespace coil;

namespace {

constexpr int64_t kN = 16;

struct Scan {
  int64_t Bt, L, Dch, N, G;
  DType dt;
  Tensor u, delta, z, A, B, C, D, bias, h0, dout, reset;
  SelectiveScanParams p;
};

// Mamba-like inputs: A = -(1..N) per channel, delta_bias the inverse softplus of a log-uniform
// dt in [1e-3, 0.1], everything else normal. Host-generated, then converted and moved.
Scan make_scan(int64_t Bt, int64_t L, int64_t Dch, int64_t G, DType dt, DType param_dt, Device dev,
               bool extras, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> ud(std::log(1e-3), std::log(0.1));
  auto normal = [&](Shape s, double scale) {
    std::vector<double> v(size_t(shape_numel(s)));
    for (auto& x : v) x = scale * nd(rng);
    return v;
  };
  auto put = [&](const std::vector<double>& v, Shape s, DType t) {
    return core::to(core::to(from_vector<double>(v, s), t), dev);
  };
  Scan s{Bt, L, Dch, kN, G, dt, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  std::vector<double> A(static_cast<size_t>(Dch * kN)), bias(static_cast<size_t>(Dch));
  for (int64_t d = 0; d < Dch; ++d) {
    for (int64_t n = 0; n < kN; ++n) A[size_t(d * kN + n)] = -double(n + 1);
    const double t = std::exp(ud(rng));
    bias[size_t(d)] = t + std::log(-std::expm1(-t));
  }
  s.u = put(normal({Bt, L, Dch}, 1), {Bt, L, Dch}, dt);
  s.delta = put(normal({Bt, L, Dch}, 0.5), {Bt, L, Dch}, dt);
  s.z = put(normal({Bt, L, Dch}, 1), {Bt, L, Dch}, dt);
  s.B = put(normal({Bt, L, G, kN}, 1), {Bt, L, G, kN}, dt);
  s.C = put(normal({Bt, L, G, kN}, 1), {Bt, L, G, kN}, dt);
  s.dout = put(normal({Bt, L, Dch}, 1), {Bt, L, Dch}, dt);
  s.A = put(A, {Dch, kN}, param_dt);
  s.D = put(normal({Dch}, 1), {Dch}, param_dt);
  s.bias = put(bias, {Dch}, param_dt);
  if (extras) {
    s.h0 = put(normal({Bt, Dch, kN}, 1), {Bt, Dch, kN}, param_dt);
    std::vector<uint8_t> r(size_t(Bt * L));
    for (auto& x : r) x = nd(rng) > 1.6;  // about 5% of steps start a new sequence
    s.reset = core::to(core::to(from_vector<uint8_t>(r, {Bt, L}), DType::boolean), dev);
  }
  SelectiveScanParams& p = s.p;
  p.batch = Bt, p.length = L, p.channels = Dch, p.state = kN, p.groups = G;
  p.dtype = dt, p.param_dtype = param_dt, p.device = dev;
  p.u = s.u.data_ptr(), p.delta = s.delta.data_ptr(), p.z = s.z.data_ptr();
  p.B = s.B.data_ptr(), p.C = s.C.data_ptr();
  p.u_sb = p.delta_sb = p.z_sb = L * Dch, p.u_st = p.delta_st = p.z_st = Dch;
  p.B_sb = p.C_sb = L * G * kN, p.B_st = p.C_st = G * kN;
  p.A = s.A.data_ptr(), p.D = s.D.data_ptr(), p.delta_bias = s.bias.data_ptr();
  p.delta_softplus = true;
  if (extras) {
    p.initial_state = s.h0.data_ptr();
    p.reset = static_cast<const bool*>(s.reset.data_ptr()), p.reset_sb = L, p.reset_st = 1;
  }
  return s;
}

struct Outputs {
  Tensor out, final_state, ckpt;
  SelectiveScanGrads g;
};

Outputs alloc_outputs(const Scan& s, DType param_dt, Device dev) {
  Outputs o;
  const TensorOptions act{s.dt, dev}, par{param_dt, dev};
  o.out = empty({s.Bt, s.L, s.Dch}, act);
  o.final_state = empty({s.Bt, s.Dch, s.N}, par);
  o.g = {empty({s.Bt, s.L, s.Dch}, act),    empty({s.Bt, s.L, s.Dch}, act),
         empty({s.Dch, s.N}, par),          empty({s.Bt, s.L, s.G, s.N}, act),
         empty({s.Bt, s.L, s.G, s.N}, act), empty({s.Dch}, par),
         empty({s.Bt, s.L, s.Dch}, act),    empty({s.Dch}, par),
         empty({s.Bt, s.Dch, s.N}, par)};
  return o;
}

void forward(const Scan& s, Outputs& o, bool ckpt) {
  if (s.p.device.is_cpu())
    cpu::selective_scan_forward(s.p, o.out, o.final_state, ckpt ? &o.ckpt : nullptr);
  else cuda::selective_scan_forward(s.p, o.out, o.final_state, ckpt ? &o.ckpt : nullptr);
}
void backward(const Scan& s, Outputs& o, const Tensor& dfinal) {
  if (s.p.device.is_cpu()) cpu::selective_scan_backward(s.p, o.ckpt, s.dout, dfinal, o.g);
  else cuda::selective_scan_backward(s.p, o.ckpt, s.dout, dfinal, o.g);
}

// Forward and backward round 3 ... 6 (see the top); 0: the op's defaults.
void set_round(int round) {
  for (const char* var : {"COIL_SELECTIVE_SCAN_FWD", "COIL_SELECTIVE_SCAN_BWD"}) {
    if (round) setenv(var, std::to_string(round).c_str(), 1);
    else unsetenv(var);
  }
}
// Forward 1: 16 lanes x 1 state; 2: 8 lanes x 2 states; 3: version 2 with L in chunks of 2
// tiles; round 3 for those, round 4 for 4 (= 2) and 5 (= 3); 6: round 5 (4 lanes x 4 states),
// 7: version 6 in chunks of 2 tiles; 8: round 6.
void set_version(int v) {
  const int round = v == 8 ? 6 : v >= 6 ? 5 : v >= 4 ? 4 : 3;
  setenv("COIL_SELECTIVE_SCAN_LANES", v == 1 ? "16" : round >= 5 ? "4" : "8", 1);
  if (v == 3 || v == 5 || v == 7) setenv("COIL_SELECTIVE_SCAN_CHUNK_TILES", "2", 1);
  else unsetenv("COIL_SELECTIVE_SCAN_CHUNK_TILES");
  set_round(round);
}
// Chunks over L on (the kernels' own choice) or off (one chunk: every tile in one block);
// bwd_tiles > 0 forces the backward's chunks to that many tiles.
void set_chunking(bool on, int round = 0, int bwd_tiles = 0) {
  unsetenv("COIL_SELECTIVE_SCAN_LANES");
  set_round(round);
  if (bwd_tiles > 0)
    setenv("COIL_SELECTIVE_SCAN_BWD_CHUNK_TILES", std::to_string(bwd_tiles).c_str(), 1);
  else unsetenv("COIL_SELECTIVE_SCAN_BWD_CHUNK_TILES");
  if (on) unsetenv("COIL_SELECTIVE_SCAN_CHUNK_TILES");
  else setenv("COIL_SELECTIVE_SCAN_CHUNK_TILES", "1000000000", 1);
}

double max_rel(const Tensor& a, const Tensor& b) {
  auto x = core::to(core::to(a, Device::cpu()), DType::f64).to_vector<double>();
  auto y = core::to(core::to(b, Device::cpu()), DType::f64).to_vector<double>();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

// Each version on fresh random inputs (odd L past a tile, G = 2, resets, initial state, a final-
// state gradient), f32 and bf16, against the CPU kernels in f64 on the same (rounded) values.
bool check(Device gpu) {
  bool ok = true;
  fmt::print("correctness vs the f64 CPU kernels (max |diff| / max |ref|):\n");
  for (DType dt : {DType::f32, DType::bf16})
    for (int v : {1, 2, 3, 4, 5, 6, 7, 8}) {
      set_version(v);
      const uint64_t seed = std::random_device{}();
      const int64_t Bt = 3, L = 301, Dch = 96, G = 2;
      // Same seed: the same draws; the CPU reference then takes the GPU's (possibly
      // bf16-rounded) activations exactly, in f64.
      Scan g = make_scan(Bt, L, Dch, G, dt, DType::f32, gpu, true, seed);
      Scan c = make_scan(Bt, L, Dch, G, DType::f64, DType::f64, Device::cpu(), true, seed);
      const std::vector<std::pair<Tensor*, const Tensor*>> acts = {
          {&c.u, &g.u}, {&c.delta, &g.delta}, {&c.z, &g.z},
          {&c.B, &g.B}, {&c.C, &g.C},         {&c.dout, &g.dout}};
      for (auto [dst, src] : acts) core::copy_(*dst, core::to(*src, Device::cpu()));
      Outputs og = alloc_outputs(g, DType::f32, gpu);
      Outputs oc = alloc_outputs(c, DType::f64, Device::cpu());
      const Tensor dfin_c = c.h0;  // any non-zero state gradient
      const Tensor dfin_g = core::to(core::to(c.h0, DType::f32), gpu);
      forward(g, og, true);
      backward(g, og, dfin_g);
      forward(c, oc, true);
      backward(c, oc, dfin_c);
      const std::vector<std::pair<const char*, std::pair<Tensor, Tensor>>> cmp = {
          {"out", {og.out, oc.out}},
          {"final", {og.final_state, oc.final_state}},
          {"du", {og.g.du, oc.g.du}},
          {"ddelta", {og.g.ddelta, oc.g.ddelta}},
          {"dA", {og.g.dA, oc.g.dA}},
          {"dB", {og.g.dB, oc.g.dB}},
          {"dC", {og.g.dC, oc.g.dC}},
          {"dD", {og.g.dD, oc.g.dD}},
          {"dz", {og.g.dz, oc.g.dz}},
          {"dbias", {og.g.ddelta_bias, oc.g.ddelta_bias}},
          {"dinit", {og.g.dinitial_state, oc.g.dinitial_state}}};
      const double tol = dt == DType::bf16 ? 2e-2 : 2e-4;
      std::string line;
      for (const auto& [name, pr] : cmp) {
        const double e = max_rel(pr.first, pr.second);
        ok = ok && e <= tol;
        line += fmt::format(" {} {:.1e}", name, e);
      }
      fmt::print("  {} v{} (seed {}):{}\n", dtype_name(dt), v, seed, line);
    }
  set_chunking(true);
  fmt::print("correctness: {}\n\n", ok ? "PASS" : "FAIL");
  return ok;
}

struct Workload {
  const char* name;
  int64_t Bt, Dch, L;
  DType dt;
  double anchor_fwd, anchor_fb, target_fwd, target_fb;  // ms, from the issue
};
const Workload kWorkloads[] = {
    {"Bt 8, Dch 1536, L 2048, f32", 8, 1536, 2048, DType::f32, 0.905, 2.956, 0.23, 0.99},
    {"Bt 8, Dch 1536, L 2048, bf16", 8, 1536, 2048, DType::bf16, 0.468, 2.235, 0.16, 0.90},
    {"Bt 1, Dch 1536, L 65536, f32", 1, 1536, 65536, DType::f32, 3.960, 12.61, 1.0, 4.2},
    {"Bt 64, Dch 128, L 256, f32", 64, 128, 256, DType::f32, 0.086, 0.314, 0.029, 0.105}};

}  // namespace

int main(int argc, char** argv) {
  coil::bench::CommonOptions opt;
  bool check_only = false;
  int profile = -1;
  const int rc = coil::bench::parse_args(argc, argv, "coil_bench_selective_scan",
                                         "[--reps N] [--check-only] [--profile W]", opt,
                                         [&](const std::string& a, auto&& value) {
                                           if (a == "--check-only") check_only = true;
                                           else if (a == "--profile") profile = std::stoi(value());
                                           else return false;
                                           return true;
                                         });
  if (rc >= 0) return rc;
  return coil::bench::run_on_devices("coil_bench_selective_scan", "cuda", false, [&](auto devs) {
    const Device gpu = devs.front();
    fmt::print("device: {}\n", coil::bench::device_name(gpu));
    if (profile >= 0) {
      const Workload& w = kWorkloads[std::min(profile, 3)];
      Scan s = make_scan(w.Bt, w.L, w.Dch, 1, w.dt, DType::f32, gpu, false, 42);
      Outputs o = alloc_outputs(s, DType::f32, gpu);
      for (int round = 0; round < 2; ++round) {
        forward(s, o, false);
        forward(s, o, true);
        backward(s, o, Tensor());
      }
      COIL_CUDA_CHECK(cudaDeviceSynchronize());
      fmt::print("profiled: {}\n", w.name);
      return;
    }
    const bool ok = check(gpu);
    if (check_only) {
      if (!ok) std::exit(1);
      return;
    }
    // Copy bandwidth in this run: 1 GiB device-to-device, bytes read plus bytes written.
    const size_t cb = size_t(1) << 30;
    Storage src(cb, gpu), dst(cb, gpu);
    const double tcopy = coil::bench::time_fn(
        gpu, opt.reps, [&] { coil::bench::raw_copy(gpu, dst.data(), src.data(), cb); });
    const double bw = 2.0 * double(cb) / tcopy;
    int sms = 0, khz = 0;
    COIL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, gpu.index));
    COIL_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, gpu.index));
    const double exp_rate = double(sms) * 16 * khz * 1e3;  // ex2 per second on the SFUs
    fmt::print("copy bandwidth {:.2f} TB/s; SFU exp rate {:.2f} T/s ({} SMs, {} MHz)\n\n",
               bw * 1e-12, exp_rate * 1e-12, sms, khz / 1000);

    std::string table =
        "| workload (N 16, G 1, z, bias, softplus, D) | fwd v1 ms | fwd v2 ms | fwd v2 r4 ms | "
        "fwd r5 ms | fwd r6 ms | fwd+bwd r3 ms | fwd+bwd r4 ms | fwd+bwd r5 ms | "
        "fwd+bwd r4 c32 ms | unchunked fwd / fwd+bwd ms | fwd floor ms (bytes / exp) | "
        "best fwd / floor | fwd+bwd floor ms | best fwd+bwd / floor | anchor / coil fwd | "
        "anchor / coil fwd+bwd | target fwd / fwd+bwd met |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const Workload& w : kWorkloads) {
      Scan s = make_scan(w.Bt, w.L, w.Dch, 1, w.dt, DType::f32, gpu, false, 42);
      Outputs o = alloc_outputs(s, DType::f32, gpu);
      auto fwd_v = [&](int v) {
        return [&, v] {
          set_version(v);
          forward(s, o, false);
        };
      };
      auto fwd_bwd = [&](bool chunks, int round, int bwd_tiles = 0) {
        return [&, chunks, round, bwd_tiles] {
          set_chunking(chunks, round, bwd_tiles);
          forward(s, o, true);
          backward(s, o, Tensor());
        };
      };
      auto fwd_plain = [&] {
        set_chunking(false);
        forward(s, o, false);
      };
      const auto t = coil::bench::time_all(
          gpu, opt.reps,
          {fwd_v(1), fwd_v(2), fwd_bwd(true, 3), fwd_plain, fwd_bwd(false, 0), fwd_bwd(true, 4),
           fwd_v(4), fwd_bwd(true, 4, 32), fwd_v(6), fwd_v(8), fwd_bwd(true, 5)},
          3);
      set_chunking(true);
      const double act = double(w.Bt * w.L * w.Dch), bcn = double(w.Bt * w.L * kN);
      const double es = double(dtype_size(w.dt));
      const double exps = act * kN;
      const double fwd_bytes = (4 * act + 2 * bcn) * es;             // u, delta, z, B, C; out
      const double fb_bytes = fwd_bytes + (7 * act + 4 * bcn) * es;  // + u, delta, z, dout, B,
                                                                     // C; du, ddelta, dz, dB, dC
      const double f_floor = std::max(fwd_bytes / bw, exps / exp_rate);
      const double fb_floor = std::max(fb_bytes / bw, 2 * exps / exp_rate);
      const double fwd = std::min({t[0], t[1], t[6], t[8], t[9]});
      const double fb = std::min({t[2], t[5], t[7], t[10]});
      table += fmt::format(
          "| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | "
          "{:.3f} / {:.3f} | {:.3f} ({:.3f} / {:.3f}) | {:.2f} | {:.3f} | {:.2f} | {:.1f}x | "
          "{:.1f}x | {} / {} |\n",
          w.name, t[0] * 1e3, t[1] * 1e3, t[6] * 1e3, t[8] * 1e3, t[9] * 1e3, t[2] * 1e3,
          t[5] * 1e3, t[10] * 1e3, t[7] * 1e3, t[3] * 1e3, t[4] * 1e3, f_floor * 1e3,
          fwd_bytes / bw * 1e3, exps / exp_rate * 1e3, fwd / f_floor, fb_floor * 1e3, fb / fb_floor,
          w.anchor_fwd / (fwd * 1e3), w.anchor_fb / (fb * 1e3),
          fwd * 1e3 <= w.target_fwd ? "yes" : "NO", fb * 1e3 <= w.target_fb ? "yes" : "NO");
    }
    fmt::print("{}", table);
    if (!ok) std::exit(1);
  });
}

#else
int main() {
  fmt::print("coil_bench_selective_scan: this build has no CUDA backend\n");
  return 0;
}
#endif  // COIL_WITH_CUDA
