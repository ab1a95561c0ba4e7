// The trainer on CUDA: a NaN loss stops the run at its step with the clean weights saved (the
// flag is read a step late there), and a run killed with SIGKILL and resumed ends bitwise equal
// to the uninterrupted one for the Mamba induction-heads model (every kernel deterministic).
#include <doctest/doctest.h>

#include <cmath>

#include "tests/test_train_support.h"
#include "train/config.h"
#include "train/trainer.h"

using namespace coil;
using namespace coil::testing;

namespace {

train::Checkpoint blowup_run(const fs::path& dir, const std::vector<std::string>& extra,
                             std::string* error) {
  // SGD at lr 1e30: step 1's update is finite but huge, so step 2's loss is not. Logging only
  // at the end, so step 2's flag is read a step late, as in a real run.
  std::vector<std::string> o = {
      "optim.name=sgd",    "optim.lr=1e30",      "optim.schedule=constant",  "train.steps=8",
      "train.log_every=8", "train.eval_every=0", "train.checkpoint_every=0", "train.progress=none"};
  o.insert(o.end(), extra.begin(), extra.end());
  train::Config cfg = train::Config::load(tiny(), o);
  fs::create_directories(dir);
  try {
    train::run_training(cfg, {dir.string(), Device::cuda(), false, stdout});
  } catch (const train::RunError& e) {
    *error = e.what();
  }
  fs::path nonfinite = dir / "checkpoints" / "nonfinite-step-00000002.safetensors";
  return train::read_checkpoint(fs::exists(nonfinite) ? nonfinite.string()
                                                      : final_checkpoint(dir, 1).string());
}

}  // namespace

TEST_CASE(
    "on CUDA a loss that turns NaN at step 2 stops the run there; the saved weights are finite "
    "and equal the weights after step 1") {
  TempDir tmp;
  std::string error, none;
  train::Checkpoint bad = blowup_run(tmp.path / "bad", {}, &error);
  INFO(error);
  CHECK(error.find("non-finite loss at step 2") != std::string::npos);
  CHECK(error.find("first non-finite gradient: backbone.") != std::string::npos);
  CHECK(bad.path.find("nonfinite-step-00000002") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path / "bad" / "checkpoints" / "latest"));

  train::Checkpoint one =
      blowup_run(tmp.path / "one", {"train.steps=1", "train.log_every=1"}, &none);
  CHECK(none.empty());
  CHECK(bad.meta.step == 1);
  CHECK(bad.meta.data_position == one.meta.data_position);
  CHECK(bitwise_equal(bad.model, one.model));
  CHECK(bitwise_equal(bad.optimizer, one.optimizer));
  for (const auto& [name, t] : bad.model)
    for (float x : t.to_vector<float>()) REQUIRE(std::isfinite(x));
}

TEST_CASE(
    "on CUDA a Mamba induction-heads run killed with SIGKILL at a random moment and resumed "
    "ends bitwise equal to the uninterrupted run") {
  INFO("the test runs " << coil_binary() << ": build the coil target too");
  REQUIRE(fs::exists(coil_binary()));
  TempDir tmp;
  const std::string config =
      (source_root() / "configs" / "induction_heads" / "mamba.yaml").string();
  const std::vector<std::string> common = {"--device",
                                           "cuda",
                                           "train.steps=600",
                                           "train.batch_size=64",
                                           "train.log_every=10",
                                           "train.eval_every=0",
                                           "train.eval_batches=1",
                                           "train.checkpoint_every=25",
                                           "train.progress=lines"};
  auto args = [&](const fs::path& run, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", config, "--run-dir", run.string()};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  KillResume k = kill_and_resume(args, tmp.path, 1500);
  MESSAGE("killed " << k.delay_ms << " ms after the first checkpoint: status " << k.first.status);
  INFO(k.first.output);
  INFO(k.resumed.output);
  REQUIRE(k.resumed.status == 0);
  CHECK(k.first.status == 128 + SIGKILL);  // killed mid-run, or the check proves nothing
  CHECK(k.resumed.output.find("resumed from") != std::string::npos);
  CHECK(bitwise_equal(weights(final_checkpoint(k.whole, 600)),
                      weights(final_checkpoint(k.killed, 600))));
  CHECK(bitwise_equal(train::read_checkpoint(final_checkpoint(k.whole, 600).string()).optimizer,
                      train::read_checkpoint(final_checkpoint(k.killed, 600).string()).optimizer));
}
