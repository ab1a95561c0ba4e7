// Data and trainer throughput: tokens/s of each synthetic task's generator (with collation) on
// one core, of the prefetching loader, and `coil train`'s steps against the bare training step
// of the same model (the trainer's overhead). Usage: coil_bench_loader [--steps N]
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "autograd/autograd.h"
#include "bench/bench_util.h"
#include "core/random.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "optim/clip.h"
#include "train/metrics.h"
#include "train/setup.h"
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
  for (int r = 0; r < 5; ++r) reps.push_back(bench::seconds([&] {
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

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 40;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--steps")) steps = std::atoll(argv[i + 1]);

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

  // Trainer overhead: the same model, data and optimizer, stepped bare and by run_training.
  train::Config cfg = train::Config::parse(
      "task: {name: selective_copying, seq_len: 64, vocab: 16, num_tokens: 8}\n"
      "model: {layer: mamba, d_model: 32, n_layer: 2, d_state: 8}\n",
      "bench",
      {fmt::format("train.steps={}", steps), "train.batch_size=16",
       fmt::format("train.log_every={}", steps), "train.eval_every=0", "train.eval_batches=1",
       "train.checkpoint_every=0", "train.progress=none"});
  double bare_tps = 0;
  {
    auto ds = data::make_task(train::task_options(cfg, false));
    data::Loader loader(ds, {.batch_size = 16, .prefetch = 2});
    manual_seed(0);
    auto model = nn::make_model(train::model_options(cfg, *ds));
    optim::Optimizer opt(train::algorithm(cfg), train::param_groups(*model, 0), train::hyper(cfg));
    auto params = opt.params();
    auto step = [&] {
      data::Batch b = loader.next();
      Tensor loss = cross_entropy(model->forward(b.input), b.target);
      backward(loss);
      optim::clip_grad_norm_(params, INFINITY);
      opt.step();
      opt.zero_grad();
    };
    step();
    double s = bench::seconds([&] {
      for (int64_t k = 0; k < steps; ++k) step();
    });
    bare_tps = double(steps * 16 * 64) / s;
  }
  fs::path dir = fs::temp_directory_path() / "coil-bench-loader";
  fs::remove_all(dir);
  fs::create_directories(dir);
  train::run_training(cfg, {dir.string(), Device::cpu(), false, stdout});
  double coil_tps = 0;
  for (const auto& m : train::read_metrics((dir / "metrics.jsonl").string()))
    if (m.split == "train") coil_tps = m.tokens_per_s.value_or(0);
  fs::remove_all(dir);
  fmt::print("\n## trainer overhead (mamba 2 x 32, B 16, L 64, {} steps, cpu)\n", steps);
  fmt::print("bare step loop: {:.0f} tokens/s; coil train: {:.0f} tokens/s; coil / bare = {:.3f}\n",
             bare_tps, coil_tps, coil_tps / bare_tps);
  return 0;
}
