// Data and trainer throughput: tokens/s of each synthetic task's generator (with collation) on
// one core and of the prefetching loader, then the trainer's overhead: `coil train`'s steps/s
// against the bare model step of the nn benchmark (forward + cross-entropy + backward + clip +
// AdamW on a pre-built batch) of the same model, warmed, timed over windows of N steps in
// alternating reps. The model is the Mamba induction-heads model (2 x d64, vocab 16, L 256;
// B 8 on the CPU as the nn bench's CPU row, B 64 on CUDA as its H200 row).
//
//   OMP_WAIT_POLICY=passive coil_bench_loader [--device cpu|cuda] [--steps N] [--reps R]
//       [--batch B] [--no-generators]
// `coil train` always runs with passive OpenMP waiting (train/main.cpp); give the bench the same,
// or spinning threads make the CPU figures (and on a busy machine the wall figures) meaningless.
#include <fmt/format.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/autograd.h"
#include "bench/bench_util.h"
#include "core/random.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "optim/clip.h"
#include "train/metrics.h"
#include "train/setup.h"
#include "train/task_model.h"
#include "train/trainer.h"

using namespace coil;
namespace fs = std::filesystem;

namespace {

double generator_tokens_per_s(const data::TaskOptions& o, int64_t batch) {
  auto ds = data::make_task(o);
  std::vector<data::Example> ex(size_t(batch), data::Example{});
  int64_t next = 0;
  auto one_batch = [&] {
    for (auto& e : ex) ds->get(next++, e);
    data::collate(ex, 0);
  };
  one_batch();
  std::vector<double> reps;
  for (int r = 0; r < 5; ++r)
    reps.push_back(bench::seconds([&] {
      for (int k = 0; k < 20; ++k) one_batch();
    }));
  return double(20 * batch * o.seq_len) / bench::median(reps);
}

double loader_tokens_per_s(const data::TaskOptions& o, int64_t batch) {
  data::Loader loader(data::make_task(o), {.batch_size = batch, .prefetch = 4});
  loader.next();
  double s = bench::seconds([&] {
    for (int k = 0; k < 100; ++k) loader.next();
  });
  return double(100 * batch * o.seq_len) / s;
}

void bench_generators() {
  fmt::print("## generators (one thread, generate + collate)\n");
  fmt::print("{:<34} {:>14} {:>14}\n", "task", "gen tok/s", "loader tok/s");
  struct Case {
    const char* label;
    data::TaskOptions o;
  };
  auto opts = [](std::string name, int64_t len, int64_t vocab) {
    data::TaskOptions o;
    o.name = std::move(name);
    o.seq_len = len;
    o.vocab = vocab;
    return o;
  };
  data::TaskOptions mq = opts("mqar", 256, 8192);
  mq.num_pairs = 16;
  std::vector<Case> cases = {{"copying L 4128 M 16", opts("copying", 4128, 16)},
                             {"selective_copying L 4128 M 16", opts("selective_copying", 4128, 16)},
                             {"induction_heads L 256", opts("induction_heads", 256, 16)},
                             {"mqar L 256 pairs 16 V 8192", mq}};
  for (const Case& c : cases) {
    int64_t batch = c.o.seq_len > 1024 ? 8 : 64;
    fmt::print("{:<34} {:>13.2f}M {:>13.2f}M\n", c.label, generator_tokens_per_s(c.o, batch) / 1e6,
               loader_tokens_per_s(c.o, batch) / 1e6);
  }
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Steps per second (wall) and CPU seconds per step (or, for train_run, in all).
struct Rate {
  double steps_per_s = 0, cpu_per_step = 0;
};

// The trainer-overhead model and run: `windows` logging windows of `steps` steps.
train::Config overhead_config(int64_t batch, int64_t steps, int64_t windows) {
  return train::Config::parse(
      "task: {name: induction_heads, seq_len: 256, vocab: 16}\n"
      "model: {layer: mamba, d_model: 64, n_layer: 2, d_state: 16, expand: 2, d_conv: 4}\n"
      "optim: {name: adamw, lr: 0.001, weight_decay: 0.1, grad_clip: 1.0, schedule: constant}\n",
      "bench",
      {fmt::format("train.steps={}", windows * steps), fmt::format("train.batch_size={}", batch),
       fmt::format("train.log_every={}", steps), "train.eval_every=0", "train.eval_batches=1",
       "train.checkpoint_every=0", "train.progress=none"});
}

void synchronize(Device dev) {
  if (dev.is_cuda()) COIL_CUDA_ONLY("bench", cuda::synchronize(dev.index));
}

// The bare step: the trainer's model, optimizer and clipping on one pre-built batch.
class BareStep {
 public:
  BareStep(const train::Config& cfg, Device dev) : dev_(dev) {
    auto ds = train::make_dataset(cfg, train::Split::train);
    data::Loader loader(
        ds, {.batch_size = cfg.integer("train.batch_size"), .prefetch = 0, .device = dev});
    batch_ = loader.next();
    manual_seed(uint64_t(cfg.integer("train.seed")));
    net_ = std::make_unique<train::TaskModel>(cfg, *ds);
    net_->module().to(dev);
    net_->module().train();
    opt_ = std::make_unique<optim::Optimizer>(
        train::algorithm(cfg),
        train::param_groups(net_->module(), cfg.number("optim.weight_decay")), train::hyper(cfg));
    params_ = opt_->params();
    clip_ = cfg.number("optim.grad_clip");
  }
  void step() {
    backward(cross_entropy(net_->forward(batch_), batch_.target));
    optim::clip_grad_norm_(params_, clip_);
    opt_->step();
    opt_->zero_grad();
  }
  // Steps per second over n steps (the device drained before and after, as the trainer's
  // log steps drain it), and the process CPU seconds per step.
  Rate rate(int64_t n) {
    synchronize(dev_);
    const double cpu0 = cpu_seconds();
    double s = bench::seconds([&] {
      for (int64_t k = 0; k < n; ++k) step();
      synchronize(dev_);
    });
    return {double(n) / s, (cpu_seconds() - cpu0) / double(n)};
  }

 private:
  Device dev_;
  data::Batch batch_;
  std::unique_ptr<train::TaskModel> net_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::vector<Tensor> params_;
  double clip_ = 0;
};

// One `coil train` run: the steps/s of its last window and the process CPU seconds it took.
Rate train_run(const train::Config& cfg, Device dev, int64_t tokens_per_step) {
  fs::path dir = fs::temp_directory_path() / fmt::format("coil-bench-loader-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  FILE* quiet = std::fopen("/dev/null", "w");
  const double cpu0 = cpu_seconds();
  train::run_training(cfg, {dir.string(), dev, false, quiet});
  const double cpu = cpu_seconds() - cpu0;
  std::fclose(quiet);
  double tps = 0;
  for (const auto& m : train::read_metrics((dir / "metrics.jsonl").string()))
    if (m.split == "train") tps = m.tokens_per_s.value_or(0);
  fs::remove_all(dir);
  return {tps / double(tokens_per_step), cpu};
}

// `coil train` over windows of `steps`: the wall steps/s of the second (warm) window and, on
// the CPU, the CPU seconds per step of that window: a run of two windows less a run of one
// (set-up, the final evaluation and checkpoint cancel), which a busy machine hardly changes.
Rate train_rate(int64_t batch, int64_t steps, Device dev) {
  Rate two = train_run(overhead_config(batch, steps, 2), dev, batch * 256);
  if (dev.is_cuda()) return {two.steps_per_s, 0};
  Rate one = train_run(overhead_config(batch, steps, 1), dev, batch * 256);
  return {two.steps_per_s, (two.cpu_per_step - one.cpu_per_step) / double(steps)};
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

void bench_overhead(Device dev, int64_t batch, int64_t steps, int reps) {
  fmt::print(
      "\n## trainer overhead: Mamba 2 x d64, vocab 16, induction heads, B {}, L 256, AdamW + "
      "clip, on {} ({})\n",
      batch, dev.str(), bench::device_name(dev));
  fmt::print("windows of {} steps, {} alternating reps; load average before: {}\n", steps, reps,
             loadavg());
  BareStep bare(overhead_config(batch, steps, 2), dev);
  for (int64_t k = 0; k < std::max<int64_t>(5, steps / 5); ++k) bare.step();  // warm-up
  std::vector<double> wall_ratio, cpu_ratio, b, t;
  for (int r = 0; r < reps; ++r) {
    Rate rb = bare.rate(steps), rt = train_rate(batch, steps, dev);
    b.push_back(rb.steps_per_s);
    t.push_back(rt.steps_per_s);
    wall_ratio.push_back(rt.steps_per_s / rb.steps_per_s);
    std::string cpu;
    if (dev.is_cpu()) {
      cpu_ratio.push_back(rb.cpu_per_step / rt.cpu_per_step);
      cpu = fmt::format("; CPU s/step bare {:.4f}, train {:.4f}, bare / train {:.4f}",
                        rb.cpu_per_step, rt.cpu_per_step, cpu_ratio.back());
    }
    fmt::print("rep {}: bare {:.2f} steps/s, coil train {:.2f} steps/s, coil / bare {:.4f}{}\n", r,
               rb.steps_per_s, rt.steps_per_s, wall_ratio.back(), cpu);
  }
  auto range = [](const std::vector<double>& v) {
    return fmt::format("{:.4f} (reps {:.4f} .. {:.4f})", bench::median(v),
                       *std::min_element(v.begin(), v.end()),
                       *std::max_element(v.begin(), v.end()));
  };
  const double tokens = double(batch * 256);
  fmt::print(
      "median: bare step loop {:.2f} steps/s ({:.0f} tokens/s); coil train {:.2f} steps/s "
      "({:.0f} tokens/s); wall coil / bare = {}\n",
      bench::median(b), bench::median(b) * tokens, bench::median(t), bench::median(t) * tokens,
      range(wall_ratio));
  if (dev.is_cpu())
    fmt::print("CPU time per step, bare / coil train = {} (1 = no overhead)\n", range(cpu_ratio));
  fmt::print("load average after: {}\n", loadavg());
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu";
  int64_t steps = 0, batch = 0;
  int reps = 3;
  bool generators = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "coil_bench_loader: {} needs a value\n", arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--device") device = value();
    else if (arg == "--steps") steps = std::stoll(value());
    else if (arg == "--reps") reps = std::stoi(value());
    else if (arg == "--batch") batch = std::stoll(value());
    else if (arg == "--no-generators") generators = false;
    else {
      fmt::print(stderr,
                 "usage: coil_bench_loader [--device cpu|cuda] [--steps N] [--reps R] "
                 "[--batch B] [--no-generators]\n");
      return arg == "-h" || arg == "--help" ? 0 : 2;
    }
  }
  try {
    const Device dev = Device::parse(device);
    if (dev.is_cuda() && dev.index >= cuda_device_count()) {
      fmt::print(stderr, "coil_bench_loader: no device {}\n", dev.str());
      return 1;
    }
    if (batch <= 0) batch = dev.is_cuda() ? 64 : 8;
    if (steps <= 0) steps = dev.is_cuda() ? 500 : 100;
    if (!std::getenv("OMP_WAIT_POLICY"))
      fmt::print(
          "note: OMP_WAIT_POLICY is unset (spinning waits); `coil train` runs with "
          "OMP_WAIT_POLICY=passive\n");
    if (generators) bench_generators();
    bench_overhead(dev, batch, steps, std::max(1, reps));
  } catch (const std::exception& e) {
    fmt::print(stderr, "coil_bench_loader: {}\n", e.what());
    return 1;
  }
  return 0;
}
