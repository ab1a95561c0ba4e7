// The training loop: gradient accumulation, held-out evaluation every k steps, progress output,
// metrics.jsonl, periodic and final checkpoints, exact resume, and a stop on NaN/Inf that names
// the step and the first offending parameter.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "core/device.h"
#include "train/config.h"
#include "train/setup.h"
#include "train/task_model.h"

namespace coil::train {

struct RunOptions {
  std::string run_dir;
  Device device = Device::cpu();
  bool resume = false;  // continue from the newest valid checkpoint in run_dir/checkpoints
  FILE* out = stdout;
};

struct RunSummary {
  int64_t steps = 0, total_steps = 0;
  bool stopped_early = false;  // train.time_limit ended this piece before total_steps
  double wall_s = 0, tokens_per_s = 0;
  double eval_loss = 0, eval_accuracy = 0;
  int64_t eval_examples = 0;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t examples = 0, positions = 0;  // positions: scored targets
};

// A run that must stop (non-finite values, I/O failures): the CLI exits with status 1.
class RunError : public Error {
 public:
  using Error::Error;
};

// Trains per `config` in opts.run_dir (which must exist), writing metrics.jsonl, checkpoints/
// and printing progress to opts.out. Throws ConfigError for a resume whose config differs in a
// key that matters, RunError / coil::Error for failures.
RunSummary run_training(const Config& config, const RunOptions& opts);

// Accuracy and loss of `model` on `batches` held-out batches (0: the whole split of a finite
// dataset) of the config's task: `split`, at length `seq_len` (0: task.seq_len; synthetic tasks
// only). Per-position causal models run sequences longer than eval.chunk in chunks that carry
// the recurrent state (scan state, conv window), so memory does not grow with the length.
// Leaves the model in eval mode.
EvalResult evaluate(TaskModel& model, const Config& config, Device device, Split split,
                    int64_t seq_len, int64_t batches);

}  // namespace coil::train
