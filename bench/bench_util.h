// What every coil benchmark shares: timing (cudaEvents on coil's compute stream on a GPU,
// steady_clock on the CPU, the median of the reps), the device's name, the raw copy each
// bandwidth is judged against, and the common command line (--device, --reps) and main loop.
// Header-only: bench/CMakeLists.txt makes an executable of every bench_*.cpp, not of this.
#pragma once
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/device.h"

#if defined(COIL_WITH_CUDA)
#include <cuda_runtime.h>

#include "core/cuda/context.h"
#endif

namespace coil::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Wall-clock seconds of one call of fn.
inline double seconds(const std::function<void()>& fn) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  fn();
  return std::chrono::duration<double>(clock::now() - t0).count();
}

#if defined(COIL_WITH_CUDA)
// t[j][i]: seconds of rep i of fns[j] on the GPU dev, from cudaEvents on coil's compute stream.
// Waits for the stream first (warm-up is the caller's); the fns run interleaved (rep 0 of each,
// then rep 1 of each, ...).
inline std::vector<std::vector<double>> cuda_event_times(
    Device dev, int reps, const std::vector<std::function<void()>>& fns) {
  const size_t nf = fns.size();
  std::vector<std::vector<double>> t(nf);
  cudaStream_t s = coil::cuda::stream(dev.index);
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
  return t;
}
#endif

// Seconds per call of each fn, median over reps, on `dev`. The fns run interleaved (rep 0 of
// each, then rep 1 of each, ...), so clock drift and noisy neighbours hit all of them alike.
// GPU: gpu_warmup untimed rounds of all fns first (pool growth, library heuristics, clocks).
// CPU: one timed warm-up round (page faults, thread start-up); reps shrink so a slow case stays
// within a few seconds, but never below 5.
inline std::vector<double> time_all([[maybe_unused]] Device dev, int reps,
                                    const std::vector<std::function<void()>>& fns,
                                    [[maybe_unused]] int gpu_warmup) {
  const size_t nf = fns.size();
  std::vector<std::vector<double>> t(nf);
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    for (int i = 0; i < gpu_warmup; ++i)
      for (auto& fn : fns) fn();
    t = cuda_event_times(dev, reps, fns);
  }
#endif
  if (dev.is_cpu()) {
    double first = 0;
    for (auto& fn : fns) first += seconds(fn);
    int n = std::clamp(int(4.0 / std::max(first, 1e-9)), 5, reps);
    for (int i = 0; i < n; ++i)
      for (size_t j = 0; j < nf; ++j) t[j].push_back(seconds(fns[j]));
  }
  std::vector<double> med(nf);
  for (size_t j = 0; j < nf; ++j) med[j] = median(t[j]);
  return med;
}

// Median seconds per call of fn on dev over exactly reps calls, after two warm-up calls.
inline double time_fn([[maybe_unused]] Device dev, int reps, const std::function<void()>& fn) {
  fn();
  fn();
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) return median(cuda_event_times(dev, reps, {fn})[0]);
#endif
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(seconds(fn));
  return median(t);
}

// "NVIDIA H100 ... (132 SMs, 79 GiB)" or "<CPU model name> (N threads)".
inline std::string device_name([[maybe_unused]] Device dev) {
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    cudaDeviceProp p{};
    COIL_CUDA_CHECK(cudaGetDeviceProperties(&p, dev.index));
    return fmt::format("{} ({} SMs, {:.0f} GiB)", p.name, p.multiProcessorCount,
                       double(p.totalGlobalMem) / (1ull << 30));
  }
#endif
  std::ifstream f("/proc/cpuinfo");
  std::string line, name = "unknown CPU";
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      name = line.substr(line.find(':') + 2);
      break;
    }
  return fmt::format("{} ({} threads)", name, omp_get_max_threads());
}

// The floor every bandwidth-bound kernel is judged against: moving the same bytes with no math,
// on the GPU a device-to-device copy on coil's compute stream.
inline void raw_copy([[maybe_unused]] Device dev, void* dst, const void* src, size_t nbytes) {
#if defined(COIL_WITH_CUDA)
  if (dev.is_cuda()) {
    COIL_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, coil::cuda::stream(dev.index)));
    return;
  }
#endif
  // One memcpy per thread, so the copy gets the same cores the OpenMP kernels get.
#pragma omp parallel
  {
    size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
    size_t chunk = (nbytes / nt + 63) / 64 * 64;
    size_t lo = std::min(nbytes, id * chunk), hi = std::min(nbytes, lo + chunk);
    if (hi > lo)
      std::memcpy(static_cast<char*>(dst) + lo, static_cast<const char*>(src) + lo, hi - lo);
  }
}

// The options every bench takes; a bench's Options derives from it.
struct CommonOptions {
  std::string device = "all";  // cpu, cuda or all
  int reps = 20;
};

// Parses argv into o: --device and --reps (at least 20) here, any other argument through
// extra(arg, value), which returns false for one it does not know; value() returns the next
// argument, or prints "<prog>: <arg> needs a value" and exits with 2 where there is none.
// Returns -1 once all is parsed; else, having printed "usage: <prog> <usage>", the status main
// should return: 0 for -h or --help, 2 for an unknown argument.
template <class Extra>
int parse_args(int argc, char** argv, const char* prog, const char* usage, CommonOptions& o,
               Extra&& extra) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{}: {} needs a value\n", prog, arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--device") o.device = value();
    else if (arg == "--reps") o.reps = std::max(20, std::stoi(value()));
    else if (!extra(arg, value)) {
      fmt::print(stderr, "usage: {} {}\n", prog, usage);
      return arg == "-h" || arg == "--help" ? 0 : 2;
    }
  }
  return -1;
}

// Runs body(devices) over the devices `which` names (cpu, cuda: every CUDA device, all: both,
// the CPU first unless cpu_last) and returns main's status: 1, with "<prog>: ..." on stderr,
// where no device matches or body throws, else 0.
template <class Body>
int run_on_devices(const char* prog, const std::string& which, bool cpu_last, Body&& body) {
  try {
    const bool cpu = which == "all" || which == "cpu";
    std::vector<Device> devices;
    if (cpu && !cpu_last) devices.push_back(Device::cpu());
    if (which == "all" || which == "cuda")
      for (int i = 0; i < coil::cuda_device_count(); ++i) devices.push_back(Device::cuda(i));
    if (cpu && cpu_last) devices.push_back(Device::cpu());
    if (devices.empty()) {
      fmt::print(stderr, "{}: no device matches --device {}\n", prog, which);
      return 1;
    }
    body(devices);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", prog, e.what());
    return 1;
  }
  return 0;
}

}  // namespace coil::bench
