// Short versions of the reproductions (docs/reproductions.md) as CI tests: chunked evaluation
// equals the one-shot evaluation, and shrunken induction heads, selective copying (S6 vs LTI)
// and MQAR runs really learn (held-out accuracy far above chance). Each run is a few seconds of
// one core; a regression that breaks learning fails here.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "autograd/autograd.h"
#include "core/random.h"
#include "ops/elementwise/elementwise.h"
#include "ops/shape/shape.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace coil;
using namespace coil::train;

namespace {

struct RunDir {
  fs::path path;
  RunDir() {
    static int n = 0;
    path = fs::temp_directory_path() /
           ("coil-repro-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~RunDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A finished run: its directory (removed at scope exit), config and summary.
struct Trained {
  RunDir dir;
  Config cfg;
  RunSummary summary;
  // The final checkpoint's model.
  std::unique_ptr<TaskModel> model() const {
    auto task = make_dataset(cfg, Split::val);
    auto m = std::make_unique<TaskModel>(cfg, *task);
    Checkpoint ck =
        load_latest_checkpoint((dir.path / "checkpoints").string(), [](const std::string&) {});
    m->module().load_state_dict(ck.model);
    return m;
  }
};

// Trains `yaml` quietly (checkpoint and evaluation at the end only).
std::unique_ptr<Trained> train_quietly(const std::string& yaml,
                                       const std::vector<std::string>& overrides = {}) {
  auto t = std::make_unique<Trained>();
  t->cfg = Config::parse(yaml, "test", overrides);
  for (const char* o : {"train.progress=none", "train.checkpoint_every=0", "train.eval_every=0"})
    t->cfg.apply_override(o);
  FILE* null = std::fopen("/dev/null", "w");
  t->summary = run_training(t->cfg, {t->dir.path.string(), Device::cpu(), false, null});
  std::fclose(null);
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  auto x = contiguous(a).to_vector<float>(), y = contiguous(b).to_vector<float>();
  REQUIRE(x.size() == y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, double(std::abs(x[i] - y[i])));
  return d;
}

}  // namespace

TEST_CASE("chunked forward carrying the recurrent state equals the one-shot forward") {
  // Every causal layer kind: Mamba (conv window + scan state), Mamba with an S4D core, S6 and
  // S4D blocks, and S4 (DPLR, whose recurrent form is exact at task.seq_len).
  for (std::string layer : {"mamba", "mamba_s4d", "s6", "s4d", "s4"}) {
    INFO(layer);
    std::string ssm = layer == "mamba_s4d" ? "s4d" : "s6";
    if (layer == "mamba_s4d") layer = "mamba";
    Config cfg = Config::parse(
        "task: {name: induction_heads, seq_len: 40, vocab: 8}\n"
        "model: {d_model: 16, n_layer: 2, d_state: 8}\n",
        "test", {"model.layer=" + layer, "model.ssm=" + ssm});
    auto task = make_dataset(cfg, Split::val);
    manual_seed(3);
    TaskModel model(cfg, *task);
    model.module().eval();
    REQUIRE(model.chunkable());
    data::Loader loader(task, {.batch_size = 3, .prefetch = 0});
    data::Batch batch = loader.next();
    NoGradGuard no_grad;
    Tensor whole = model.forward(batch);  // (3, 40, 8)
    for (int64_t chunk : {1, 7, 16}) {
      nn::State state;
      std::vector<Tensor> parts;
      for (int64_t s = 0; s < 40; s += chunk)
        parts.push_back(model.forward_chunk(
            contiguous(narrow(batch.input, 1, s, std::min<int64_t>(chunk, 40 - s))), state));
      Tensor joined = cat(parts, 1);
      CHECK(max_abs_diff(whole, joined) < 2e-4);
      CHECK(max_abs_diff(whole, mul(joined, 0.5)) > 1e-2);  // the comparison can fail
    }
  }
}

TEST_CASE("evaluate in chunks gives the one-shot loss and accuracy of a trained model") {
  auto t = train_quietly(
      "task: {name: induction_heads, seq_len: 24, vocab: 8}\n"
      "model: {layer: mamba, d_model: 16, n_layer: 2, d_state: 8}\n"
      "optim: {name: adam, lr: 0.003}\n"
      "train: {steps: 30, batch_size: 16}\n");
  auto model = t->model();
  Config one = t->cfg, chunked = t->cfg;
  one.apply_override("eval.chunk=100000");
  chunked.apply_override("eval.chunk=13");
  EvalResult a = evaluate(*model, one, Device::cpu(), Split::val, 96, 2);
  EvalResult b = evaluate(*model, chunked, Device::cpu(), Split::val, 96, 2);
  CHECK(a.positions == 32);  // 2 batches of 16, the final token of each
  CHECK(b.positions == 32);
  CHECK(a.loss > 0.05);
  CHECK(std::abs(a.loss - b.loss) < 1e-5 * a.loss);
  CHECK(a.accuracy == b.accuracy);
}

TEST_CASE(
    "induction heads (shrunken): a 2-layer Mamba learns it and extrapolates to 4x the "
    "training length") {
  // Train length 32, vocab 8 (6 content tokens: chance 1/6), final-token loss as the paper.
  // The long plateau ends around step 350 with these settings.
  auto t = train_quietly(
      "task: {name: induction_heads, seq_len: 32, vocab: 8, loss: final}\n"
      "model: {layer: mamba, d_model: 32, n_layer: 2, d_state: 8}\n"
      "optim: {name: adam, lr: 0.003}\n"
      "train: {steps: 450, batch_size: 32, eval_batches: 8}\n"
      "eval: {chunk: 40}\n");
  MESSAGE("induction heads: held-out accuracy at 32: " << t->summary.eval_accuracy);
  CHECK(t->summary.eval_accuracy > 0.9);
  EvalResult longer = evaluate(*t->model(), t->cfg, Device::cpu(), Split::val, 128, 4);
  MESSAGE("induction heads: at 128 (chunks of 40): " << longer.accuracy);
  CHECK(longer.accuracy > 0.9);
}

TEST_CASE(
    "selective copying (shrunken): the selective S6 layer learns it, the LTI S4D layer "
    "lags far behind at the same budget") {
  // Table 1's pattern at L 64 with 4 data tokens of 8 values (chance 1/8).
  const std::string yaml =
      "task: {name: selective_copying, seq_len: 64, vocab: 10, num_tokens: 4}\n"
      "model: {d_model: 32, n_layer: 2, d_state: 8}\n"
      "optim: {name: adamw, lr: 0.003}\n"
      "train: {steps: 500, batch_size: 32, eval_batches: 8}\n";
  double s6 = train_quietly(yaml, {"model.layer=s6"})->summary.eval_accuracy;
  double s4d = train_quietly(yaml, {"model.layer=s4d"})->summary.eval_accuracy;
  MESSAGE("selective copying: S6 " << s6 << ", S4D " << s4d);
  CHECK(s6 > 0.8);
  CHECK(s4d < s6 - 0.15);
}

TEST_CASE("MQAR (shrunken): a 2-layer Mamba learns the answer set far above chance") {
  // 4 pairs, vocab 32: values from [16, 32), so guessing a value is right 1/16 of the time. In
  // the CI budget the model learns that the answer is one of the 4 values of the context
  // (accuracy about 1/4, loss about ln 4); the recall itself takes thousands of steps more
  // (docs/reproductions.md). A regression that breaks learning stays near 1/16 and fails.
  auto t = train_quietly(
      "task: {name: mqar, seq_len: 24, vocab: 32, num_pairs: 4}\n"
      "model: {layer: mamba, d_model: 32, n_layer: 2, d_state: 16}\n"
      "optim: {name: adamw, lr: 0.01}\n"
      "train: {steps: 500, batch_size: 32, eval_batches: 8}\n");
  MESSAGE("MQAR: held-out accuracy " << t->summary.eval_accuracy << ", loss "
                                     << t->summary.eval_loss);
  CHECK(t->summary.eval_accuracy > 0.2);
  CHECK(t->summary.eval_loss < 2.0);  // chance over the 16 values: ln 16 = 2.77
}
