// The `coil` command end to end, run as a real process (fork/exec of the built binary next to
// the test binary): outputs of a run, exact reproduction from the resolved config, bitwise
// resume after SIGKILL, and every bad input of the trainer issue with its exit status.
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/random.h"
#include "core/safetensors.h"
#include "data/lra/generate.h"
#include "tests/test_train_support.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/setup.h"
#include "train/task_model.h"

namespace fs = std::filesystem;
using namespace coil;
using namespace coil::testing;

TEST_CASE(
    "coil train writes the resolved config, metrics, checkpoints and a summary; plot and "
    "eval read the run") {
  REQUIRE(fs::exists(coil_binary()));
  TempDir tmp;
  fs::path run = tmp.path / "run";
  Result r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu"}, tmp.path);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("done: 8 steps") != std::string::npos);
  CHECK(r.output.find("held-out accuracy") != std::string::npos);
  CHECK(fs::exists(run / "config.yaml"));
  auto records = train::read_metrics((run / "metrics.jsonl").string());
  int train_lines = 0, eval_lines = 0;
  for (const auto& m : records) {
    if (m.split == "train") {
      ++train_lines;
      CHECK(m.lr.has_value());
      CHECK(m.grad_norm.has_value());
      CHECK(m.tokens_per_s.value_or(0) > 0);
      CHECK(m.accuracy.has_value());
    } else {
      ++eval_lines;
    }
  }
  CHECK(train_lines == 4);  // log_every 2 over 8 steps
  CHECK(eval_lines == 2);   // step 4 and the end
  CHECK(fs::exists(final_checkpoint(run, 4)));
  CHECK(fs::exists(final_checkpoint(run, 8)));
  std::ifstream latest(run / "checkpoints" / "latest");
  std::string name;
  latest >> name;
  CHECK(name == train::checkpoint_name(8));

  Result p = run_coil({"plot", run.string()}, tmp.path);
  CHECK(p.status == 0);
  for (const char* f : {"loss.svg", "accuracy.svg", "lr.svg"}) {
    std::ifstream svg(run / "plots" / f);
    std::stringstream ss;
    ss << svg.rdbuf();
    CHECK(ss.str().find("<polyline") != std::string::npos);
  }
  Result e = run_coil({"eval", run.string(), "--device", "cpu", "eval.lengths=[16,32]"}, tmp.path);
  INFO(e.output);
  CHECK(e.status == 0);
  CHECK(fs::exists(run / "eval.json"));
  CHECK(e.output.find("        32") != std::string::npos);
}

TEST_CASE("re-running from RUN_DIR/config.yaml reproduces the run bitwise") {
  TempDir tmp;
  fs::path a = tmp.path / "a", b = tmp.path / "b";
  REQUIRE(run_coil({"train", tiny(), "--run-dir", a.string(), "--device", "cpu", "optim.lr=0.01"},
                   tmp.path)
              .status == 0);
  Result r =
      run_coil({"train", (a / "config.yaml").string(), "--run-dir", b.string(), "--device", "cpu"},
               tmp.path);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(bitwise_equal(weights(final_checkpoint(a, 8)), weights(final_checkpoint(b, 8))));
}

TEST_CASE(
    "a run killed with SIGKILL at a random moment and resumed ends bitwise equal to the "
    "uninterrupted run") {
  TempDir tmp;
  const std::vector<std::string> common = {"--device",          "cpu",
                                           "train.steps=150",   "train.checkpoint_every=3",
                                           "train.log_every=1", "train.eval_every=0"};
  auto args = [&](const fs::path& run, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", tiny(), "--run-dir", run.string()};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  KillResume k = kill_and_resume(args, tmp.path, 400);
  MESSAGE("killed " << k.delay_ms << " ms after the first checkpoint: status " << k.first.status);
  INFO(k.resumed.output);
  REQUIRE(k.resumed.status == 0);
  if (k.first.status == 128 + SIGKILL)
    CHECK(k.resumed.output.find("resumed from") != std::string::npos);
  CHECK(bitwise_equal(weights(final_checkpoint(k.whole, 150)),
                      weights(final_checkpoint(k.killed, 150))));
  // The resumed run's metrics hold each step once.
  auto records = train::read_metrics((k.killed / "metrics.jsonl").string());
  std::vector<int64_t> train_steps;
  for (const auto& m : records)
    if (m.split == "train") train_steps.push_back(m.step);
  CHECK(train_steps.size() == 150);
  CHECK(std::is_sorted(train_steps.begin(), train_steps.end()));
}

TEST_CASE(
    "bad input: missing config, existing run dir, resume without checkpoint, bad device, "
    "bad override: exit 2 with a clear message, nothing trained") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  Result r = run_coil({"train", "no/such.yaml", "--run-dir", run.string()}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("no/such.yaml: cannot read the config file") != std::string::npos);
  CHECK_FALSE(fs::exists(run));
  r = run_coil({"train", tmp.path.string(), "--run-dir", run.string()}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("cannot read the config file: it is a directory") != std::string::npos);
  CHECK_FALSE(fs::exists(run));

  r = run_coil({"train", tiny(), "--run-dir", run.string(), "model.d_state=abc"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("model.d_state: expected a positive integer, got \"abc\"") !=
        std::string::npos);

  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cuda:7"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("--device cuda:7") != std::string::npos);

  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--resume"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("no checkpoint to resume from") != std::string::npos);

  fs::create_directories(run);
  std::ofstream(run / "notes.txt") << "mine";
  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("exists; use --resume") != std::string::npos);
  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "--force"},
               tmp.path);
  CHECK(r.status == 0);
  CHECK(fs::exists(run / "notes.txt"));  // --force removes run files only

  r = run_coil({"train"}, tmp.path);
  CHECK(r.status == 2);
}

TEST_CASE("resume refuses a changed config naming the key, and accepts logging changes") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  REQUIRE(
      run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu"}, tmp.path).status ==
      0);
  Result r = run_coil(
      {"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "--resume", "optim.lr=0.5"},
      tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("optim.lr (checkpoint: 0.003, now: 0.5)") != std::string::npos);
  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "--resume",
                "train.log_every=1", "train.eval_every=2"},
               tmp.path);
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE(
    "a corrupted newest checkpoint is named and the previous one is used; none valid is a "
    "failure naming the files") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  REQUIRE(run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "train.steps=8"},
                   tmp.path)
              .status == 0);
  fs::path newest = final_checkpoint(run, 8), older = final_checkpoint(run, 4);
  {  // flip one byte in the data area (the end of the file)
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-5, std::ios::end);
    char c;
    f.read(&c, 1);
    c ^= 0x40;
    f.seekp(-5, std::ios::end);
    f.write(&c, 1);
  }
  Result r = run_coil({"eval", run.string(), "--device", "cpu"}, tmp.path);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find(newest.string() + " is unusable") != std::string::npos);
  CHECK(r.output.find("checksum mismatch") != std::string::npos);
  CHECK(r.output.find("falling back to " + older.string()) != std::string::npos);
  fs::resize_file(older, fs::file_size(older) / 2);  // truncated
  r = run_coil({"eval", run.string(), "--device", "cpu"}, tmp.path);
  CHECK(r.status == 1);
  CHECK(r.output.find("no valid checkpoint") != std::string::npos);
}

TEST_CASE(
    "a full disk while writing a checkpoint fails the run and leaves the previous "
    "checkpoint intact") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  REQUIRE(
      run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu"}, tmp.path).status ==
      0);
  // Go back to step 4 as if the run had been killed there, then resume on a "full disk".
  fs::remove(final_checkpoint(run, 8));
  std::ofstream(run / "checkpoints" / "latest") << train::checkpoint_name(4) << "\n";
  std::string before;
  {
    std::ifstream in(final_checkpoint(run, 4), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    before = ss.str();
  }
  REQUIRE(before.size() > 4096);
  Result r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "--resume"},
                      tmp.path, /*file_limit=*/4096);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find(final_checkpoint(run, 8).string()) != std::string::npos);
  CHECK_FALSE(fs::exists(final_checkpoint(run, 8)));
  std::ifstream in(final_checkpoint(run, 4), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == before);
  std::ifstream latest(run / "checkpoints" / "latest");
  std::string name;
  latest >> name;
  CHECK(name == train::checkpoint_name(4));
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    CHECK(e.path().extension() != ".tmp");
}

// Fixture data in every LRA layout under root/<task> (the tiny generators' output for listops
// and pathfinder, hand-written files for the rest), so each lra config can run.
static void write_lra_fixtures(const fs::path& root) {
  data::lra::ListOpsGenOptions lo;
  lo.out = (root / "listops").string();
  lo.train = 8, lo.val = 4, lo.test = 4, lo.min_len = 20, lo.max_len = 200, lo.threads = 1;
  data::lra::generate_listops(lo);
  for (auto [name, res, count] : {std::tuple{"pathfinder", 32, 40}, {"pathx", 128, 20}}) {
    data::lra::PathfinderGenOptions pf;
    pf.out = (root / name).string();
    pf.resolution = res, pf.count = count, pf.per_dir = count, pf.threads = 1;
    data::lra::generate_pathfinder(pf);
  }
  auto write = [](const fs::path& f, const std::string& bytes) {
    fs::create_directories(f.parent_path());
    std::ofstream(f, std::ios::binary) << bytes;
  };
  for (const char* split : {"train", "test"})
    for (int i = 0; i < 4; ++i)
      write(root / "text" / split / (i % 2 ? "pos" : "neg") / fmt::format("{}_7.txt", i),
            fmt::format("review {} of a film, {}", i, i % 2 ? "great" : "dull"));
  for (const char* part : {"train", "eval", "test"}) {
    std::string rows;
    for (int i = 0; i < 4; ++i)
      rows += fmt::format("{}\tid{}\tid{}x\tpaper {} text\tcited text {}\n", i % 2, i, i, i, i);
    write(root / "retrieval" / fmt::format("new_aan_pairs.{}.tsv", part), rows);
  }
  auto records = [](int n) {
    std::string out;
    for (int r = 0; r < n; ++r) {
      out += char(r % 10);
      for (int k = 0; k < 3072; ++k) out += char((k * 7 + r * 31) % 256);
    }
    return out;
  };
  for (int b = 1; b <= 5; ++b)
    write(root / "image" / fmt::format("data_batch_{}.bin", b), b == 1 ? records(8) : "");
  write(root / "image" / "test_batch.bin", records(4));
}

TEST_CASE(
    "every config under configs/ (LRA ones on fixture data) builds its model and trains "
    "a few steps") {
  TempDir tmp;
  write_lra_fixtures(tmp.path / "lra");
  int n = 0, lra = 0;
  for (const auto& e : fs::recursive_directory_iterator(source_root() / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    INFO(e.path().string());
    // The model at the config's own size is built (options, shapes, initialisation) ...
    train::Config cfg = train::Config::load(e.path().string());
    const bool is_lra = train::is_lra(cfg);
    if (is_lra)
      cfg.apply_override("task.root=" + (tmp.path / "lra" / train::lra_task(cfg)).string());
    manual_seed(0);
    auto task = train::make_dataset(cfg, train::Split::train);
    train::TaskModel model(cfg, *task);
    CHECK(model.module().num_parameters() > 0);
    // ... and trained for two steps by `coil train`: LRA models narrowed to 2 layers of width
    // 16 (6 layers of width 512 over 16384 pixels take minutes a step on one core).
    fs::path run = tmp.path / e.path().parent_path().filename() / e.path().stem();
    std::vector<std::string> args = {"train",
                                     e.path().string(),
                                     "--run-dir",
                                     run.string(),
                                     "--device",
                                     "cpu",
                                     "train.steps=2",
                                     "train.log_every=1",
                                     "train.eval_batches=1",
                                     "train.batch_size=2",
                                     "train.grad_accum=1",
                                     "optim.warmup_steps=0"};
    if (is_lra) {
      for (std::string o : {"train.epochs=0", "model.n_layer=2", "model.d_model=16"})
        args.push_back(o);
      args.push_back("task.root=" + (tmp.path / "lra" / train::lra_task(cfg)).string());
      // CIFAR's val split is the training batches' last 5000 records: none in the fixture.
      if (train::lra_task(cfg) == "image") args.push_back("eval.split=test");
      ++lra;
    }
    Result r = run_coil(args, tmp.path);
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(fs::exists(final_checkpoint(run, 2)));
    ++n;
  }
  CHECK(n >= 30);
  CHECK(lra == 12);
}

TEST_CASE(
    "coil eval: a table of accuracy per length, printed and written as eval.json and "
    "eval.md; bad input is named and writes nothing") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  std::string ih = (source_root() / "configs" / "induction_heads" / "mamba_small.yaml").string();
  REQUIRE(run_coil({"train", ih, "--run-dir", run.string(), "--device", "cpu", "train.steps=3",
                    "train.log_every=1", "train.eval_batches=1", "model.d_model=16"},
                   tmp.path)
              .status == 0);
  // Bad input first: each exits 2 naming the problem, and no eval file appears.
  Result r = run_coil({"eval", run.string(), "--device", "cpu", "eval.lengths=[64,0]"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("eval.lengths: expected a list of integers in [1,") != std::string::npos);
  r = run_coil({"eval", run.string(), "--device", "cpu", "eval.lengths=[-64]"}, tmp.path);
  CHECK(r.status == 2);
  r = run_coil({"eval", run.string(), "--device", "cpu", "task.vocab=32"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("the task does not match the checkpoint's model: task induction_heads "
                      "(vocab 32, 32 outputs) vs model mamba x 2, d_model 16") !=
        std::string::npos);
  r = run_coil({"eval", run.string(), "--device", "cpu", "--task-config",
                (source_root() / "configs" / "mqar" / "mamba_small.yaml").string()},
               tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("task mqar (vocab 256") != std::string::npos);
  CHECK(r.output.find("trained on induction_heads (vocab 16") != std::string::npos);
  fs::create_directories(tmp.path / "empty");
  r = run_coil({"eval", (tmp.path / "empty").string(), "--device", "cpu"}, tmp.path);
  CHECK(r.status == 2);
  CHECK(r.output.find("has no checkpoint to evaluate") != std::string::npos);
  r = run_coil({"eval", run.string(), "--device", "cpu", "model.d_model=32"}, tmp.path);
  CHECK(r.status == 2);
  CHECK_FALSE(fs::exists(run / "eval.json"));
  CHECK_FALSE(fs::exists(run / "eval.md"));

  // Lengths past the chunk size run in chunks; every length gets a row.
  r = run_coil({"eval", run.string(), "--device", "cpu", "eval.lengths=[16,64,300]",
                "eval.chunk=50", "train.eval_batches=1"},
               tmp.path);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("       300") != std::string::npos);
  auto json = nlohmann::json::parse(std::ifstream(run / "eval.json"));
  REQUIRE(json.size() == 3);
  CHECK(json[2]["length"] == 300);
  CHECK(json[2]["examples"] == 8);
  std::ifstream md(run / "eval.md");
  std::stringstream text;
  text << md.rdbuf();
  CHECK(text.str().find("| 300 | ") != std::string::npos);
  CHECK(text.str().find("step-00000003.safetensors") != std::string::npos);
}

TEST_CASE("gradient accumulation over micro-batches matches one batch of the same examples") {
  TempDir tmp;
  fs::path one = tmp.path / "one", two = tmp.path / "two";
  std::vector<std::string> common = {"--device", "cpu", "train.steps=3", "train.batch_size=8"};
  auto args = [&](const fs::path& run, const std::string& accum) {
    std::vector<std::string> a = {"train", tiny(), "--run-dir", run.string(), accum};
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  REQUIRE(run_coil(args(one, "train.grad_accum=1"), tmp.path).status == 0);
  REQUIRE(run_coil(args(two, "train.grad_accum=2"), tmp.path).status == 0);
  // Same examples in the same order; the loss is the mean of the two micro-batch means, which
  // equals the batch mean here (every example has num_tokens targets): equal up to rounding.
  TensorDict a = weights(final_checkpoint(one, 3)), b = weights(final_checkpoint(two, 3));
  REQUIRE(a.size() == b.size());
  for (const auto& [k, t] : a) {
    auto x = t.to_vector<float>(), y = b.at(k).to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(x[i] - y[i]) < 1e-4f);
  }
}

TEST_CASE(
    "a loss that turns NaN at step 2 stops the run there, naming the first bad gradient, with "
    "the finite weights of step 1 saved under another name") {
  TempDir tmp;
  fs::path run = tmp.path / "run", one = tmp.path / "one";
  // SGD at lr 1e30: step 1's update is finite but huge, so step 2's loss is not.
  const std::vector<std::string> blowup = {"--device", "cpu", "optim.name=sgd", "optim.lr=1e30",
                                           "optim.schedule=constant"};
  auto args = [&](const fs::path& dir, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", tiny(), "--run-dir", dir.string()};
    a.insert(a.end(), blowup.begin(), blowup.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  Result r = run_coil(args(run, {}), tmp.path);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.find("non-finite loss at step 2") != std::string::npos);
  CHECK(r.output.find("first non-finite gradient: backbone.") != std::string::npos);
  fs::path saved = run / "checkpoints" / "nonfinite-step-00000002.safetensors";
  REQUIRE(fs::exists(saved));
  CHECK_FALSE(fs::exists(run / "checkpoints" / "latest"));

  // The saved checkpoint is the run after step 1: same weights, step, data cursor, optimizer.
  REQUIRE(run_coil(args(one, {"train.steps=1"}), tmp.path).status == 0);
  train::Checkpoint bad = train::read_checkpoint(saved.string());
  train::Checkpoint ref = train::read_checkpoint(final_checkpoint(one, 1).string());
  CHECK(bad.meta.step == 1);
  CHECK(bad.meta.data_position == ref.meta.data_position);
  CHECK(bitwise_equal(bad.model, ref.model));
  CHECK(bitwise_equal(bad.optimizer, ref.optimizer));
  for (const auto& [name, t] : bad.model)
    for (float x : t.to_vector<float>()) REQUIRE(std::isfinite(x));
}

TEST_CASE("train.time_limit ends a piece with a checkpoint; --resume finishes the run") {
  TempDir tmp;
  fs::path run = tmp.path / "run";
  Result r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu",
                       "train.steps=100000", "train.time_limit=0.5", "train.checkpoint_every=0"},
                      tmp.path);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("stopped by train.time_limit: ") != std::string::npos);
  auto ckpts = train::list_checkpoints((run / "checkpoints").string());
  REQUIRE(ckpts.size() == 1);
  const int64_t stopped_at = train::read_checkpoint(ckpts.back()).meta.step;
  CHECK(stopped_at > 0);
  CHECK(stopped_at < 100000);
  r = run_coil({"train", tiny(), "--run-dir", run.string(), "--device", "cpu", "--resume",
                "train.steps=100000", "train.time_limit=0.5", "train.checkpoint_every=0"},
               tmp.path);
  CHECK(r.status == 0);
  CHECK(train::read_checkpoint(train::list_checkpoints((run / "checkpoints").string()).back())
            .meta.step > stopped_at);
}
