// Throughput of the LRA generators (issue 12's targets: all 100k ListOps examples in under a
// minute on 2 cores; Pathfinder-32 >= 2000 images/s on 2 cores), files written to a temp dir;
// Pathfinder also timed rendering alone, without the PNG encoding and file system.
// Usage: coil_bench_lra_gen [--threads N] [--images N] [--listops-only|--pathfinder-only]
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/lra/generate.h"

namespace fs = std::filesystem;
using namespace coil::data::lra;

namespace {

double cpu_seconds() {  // user + system time of the whole process
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  auto s = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return s(r.ru_utime) + s(r.ru_stime);
}

// Wall and CPU seconds of fn: on a shared machine the wall time depends on the other jobs; the
// CPU time divided by the threads is what the run takes on that many idle cores.
struct Timing {
  double wall, cpu;
};
Timing time_of(const auto& fn) {
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_seconds();
  fn();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          cpu_seconds() - c0};
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  int64_t images = 20000;
  bool listops = true, pathfinder = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--images") && i + 1 < argc) images = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--listops-only")) pathfinder = false;
    else if (!std::strcmp(argv[i], "--pathfinder-only")) listops = false;
  }
  fs::path root = fs::temp_directory_path() / fmt::format("coil_bench_lra_{}", ::getpid());
  fmt::print("threads {}, load average before: {}\n", threads, load_average());
  if (listops) {
    ListOpsGenOptions o;
    o.out = (root / "listops").string();
    o.threads = threads;
    ListOpsGenStats st;
    Timing t = time_of([&] { st = generate_listops(o); });
    fmt::print(
        "listops: {} examples ({} candidates, {} duplicates): wall {:.2f} s, CPU {:.2f} s "
        "(CPU / threads = {:.2f} s)\n",
        st.kept, st.candidates, st.duplicates, t.wall, t.cpu, t.cpu / threads);
  }
  if (pathfinder) {
    for (int res : {32, 128}) {
      // Rendering alone (no PNG, no files): the generator's own cost.
      const SnakeParams p = snake_params(res);
      const int64_t count = res == 32 ? images : std::max<int64_t>(1, images / 10);
      Timing r = time_of([&] {
#pragma omp parallel num_threads(threads)
        {
          std::vector<uint8_t> px(size_t(res) * res);
#pragma omp for schedule(dynamic, 16)
          for (int64_t g = 0; g < count; ++g)
            render_pathfinder(p, res, 0, g, pathfinder_label_of(g), px.data());
        }
      });
      fmt::print(
          "pathfinder{} render only: {} images: wall {:.2f} s, CPU {:.2f} s = {:.0f} "
          "images/s on {} idle cores\n",
          res, count, r.wall, r.cpu, double(count) * threads / r.cpu, threads);
      PathfinderGenOptions o;
      o.out = (root / fmt::format("pf{}", res)).string();
      o.resolution = res;
      o.count = count;
      o.threads = threads;
      Timing t = time_of([&] { generate_pathfinder(o); });
      fmt::print(
          "pathfinder{}: {} images (PNG + metadata): wall {:.2f} s = {:.0f} images/s, CPU "
          "{:.2f} s = {:.0f} images/s on {} idle cores\n",
          res, o.count, t.wall, double(o.count) / t.wall, t.cpu, double(o.count) * threads / t.cpu,
          threads);
    }
  }
  fmt::print("load average after: {}\n", load_average());
  fs::remove_all(root);
  return 0;
}
