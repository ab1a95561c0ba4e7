// The one place every config key is declared: type, default, range, whether it may change on
// resume, and what it means (docs/configs.md lists the same table for users).
#include <limits>

#include "train/config.h"

namespace coil::train {
namespace {

constexpr double kBig = double(std::numeric_limits<int64_t>::max());

KeySpec integer(std::string key, int64_t def, double min, double max, std::string help,
                bool resume_safe = false) {
  return {std::move(key), KeyType::integer, std::to_string(def), min, max, false, {},
          resume_safe,    std::move(help)};
}
KeySpec number(std::string key, std::string def, double min, double max, bool min_exclusive,
               std::string help, bool resume_safe = false) {
  return {std::move(key), KeyType::number, std::move(def), min, max, min_exclusive, {},
          resume_safe,    std::move(help)};
}
KeySpec boolean(std::string key, bool def, std::string help, bool resume_safe = false) {
  return {std::move(key), KeyType::boolean, def ? "true" : "false", 0, 0, false, {},
          resume_safe,    std::move(help)};
}
KeySpec choice(std::string key, std::vector<std::string> choices, std::string help,
               bool resume_safe = false) {
  std::string def = choices.front();
  return {std::move(key), KeyType::string, def, 0, 0, false, std::move(choices),
          resume_safe,    std::move(help)};
}
KeySpec text(std::string key, std::string def, std::string help, bool resume_safe = false) {
  return {std::move(key), KeyType::string, std::move(def), 0, 0, false, {},
          resume_safe,    std::move(help)};
}
KeySpec int_list(std::string key, std::string def, double min, double max, std::string help,
                 bool resume_safe = false) {
  return {std::move(key), KeyType::int_list, std::move(def), min, max, false, {},
          resume_safe,    std::move(help)};
}

}  // namespace

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> keys = {
      // ---- task: the synthetic task (data/synthetic.h has each recipe)
      choice("task.name",
             {"selective_copying", "copying", "induction_heads", "mqar", "lra_listops", "lra_text",
              "lra_retrieval", "lra_image", "lra_pathfinder", "lra_pathx"},
             "the synthetic task, or an LRA task read from task.root"),
      integer("task.seq_len", 64, 4, double(int64_t(1) << 28), "input length the model sees"),
      integer("task.vocab", 16, 3, 1 << 20, "vocabulary size (inputs and targets)"),
      integer("task.num_tokens", 16, 1, kBig,
              "copying tasks: data tokens to memorise (s4's L is seq_len - 2 * num_tokens)"),
      choice("task.loss", {"final", "all"},
             "induction heads: loss on the final token only, or next-token loss everywhere"),
      integer("task.num_pairs", 8, 1, kBig, "mqar: key-value pairs per example"),
      number("task.power_a", "0.01", 0, 1e300, true, "mqar: query gap power law exponent"),
      boolean("task.random_non_queries", true, "mqar: fill non-query positions with random tokens"),
      text("task.root", "\"\"",
           "lra_*: the directory of the task's released files (data/lra/lra.h)"),
      choice("task.on_bad_input", {"stop", "skip"},
             "lra_*: a bad record stops with file and line, or is skipped and counted"),
      // ---- model: mapped onto nn::ModelOptions (nn/options.h), built by nn's layer table
      choice("model.layer", {"mamba", "s6", "s4d", "s4"}, "sequence layer of every block"),
      choice("model.ssm", {"s6", "s4d", "s4"}, "mamba: the inner SSM (Table 1's Mamba + S4 rows)"),
      integer("model.d_model", 64, 1, 1 << 16, "model width H"),
      integer("model.n_layer", 2, 1, 1024, "number of residual blocks"),
      integer("model.d_state", 16, 1, kBig, "SSM state size N"),
      integer("model.d_conv", 4, 1, 1024, "mamba: causal convolution width"),
      integer("model.expand", 2, 1, 64, "mamba: inner width = expand * d_model"),
      integer("model.dt_rank", 0, 0, 1 << 16, "s6 / mamba: rank of dt's projection (0: auto)"),
      choice("model.norm", {"rms", "layer", "batch"}, "normalisation of every block"),
      boolean("model.prenorm", true, "normalise before (true) or after (false) each block"),
      number("model.dropout", "0", 0, 0.99, false, "dropout probability"),
      boolean("model.tie_dropout", false, "one dropout mask per channel along the sequence"),
      boolean("model.bidirectional", false, "s4 / s4d: kernels in both directions (not causal)"),
      choice("model.pool", {"mean", "last"},
             "lra_*: classifier input, mean over valid positions or the last one"),
      boolean("model.tie_embeddings", true, "LM head weight = embedding weight"),
      choice("model.init", {"legs", "lin", "inv", "real", "legt", "fout"}, "s4 / s4d: A init"),
      choice("model.disc", {"zoh", "bilinear"}, "s4d: discretisation"),
      number("model.dt_min", "0.001", 0, 1e300, true, "SSM: smallest initial step size"),
      number("model.dt_max", "0.1", 0, 1e300, true, "SSM: largest initial step size"),
      number("model.ssm_lr", "0.001", 0, 1e300, true, "s4 / s4d: own learning rate of dt, A, B, P"),
      // ---- optim
      choice("optim.name", {"adamw", "adam", "sgd"}, "optimizer"),
      number("optim.lr", "0.001", 0, 1e300, true, "peak learning rate"),
      number("optim.weight_decay", "0", 0, 1e300, false, "decoupled (adamw) or L2 weight decay"),
      number("optim.beta1", "0.9", 0, 1, false, "adam: first moment decay"),
      number("optim.beta2", "0.999", 0, 1, false, "adam: second moment decay"),
      number("optim.eps", "1e-8", 0, 1, true, "adam: denominator epsilon"),
      number("optim.momentum", "0", 0, 1, false, "sgd: momentum"),
      choice("optim.schedule", {"constant", "cosine", "linear"},
             "learning rate after warmup: constant, cosine to min_lr, linear to min_lr"),
      integer("optim.warmup_steps", 0, 0, kBig, "linear warmup from 0"),
      number("optim.min_lr", "0", 0, 1e300, false, "cosine / linear: final learning rate"),
      number("optim.grad_clip", "0", 0, 1e300, false, "clip the global gradient norm (0: off)"),
      // ---- train
      integer("train.steps", 1000, 1, kBig, "optimizer steps (unless train.epochs is set)"),
      integer("train.epochs", 0, 0, kBig,
              "finite datasets (lra_*): passes over the training split; sets the step count "
              "(0: train.steps)"),
      integer("train.batch_size", 8, 1, kBig, "examples per optimizer step"),
      integer("train.grad_accum", 1, 1, 4096,
              "micro-batches per step (batch_size must divide by it)"),
      integer("train.seed", 0, 0, kBig, "model init and data stream"),
      choice("train.precision", {"f32"}, "parameter and compute dtype"),
      integer("train.eval_every", 100, 0, kBig, "evaluate every k steps (0: only at the end)",
              true),
      integer("train.eval_batches", 8, 0, kBig,
              "held-out batches per evaluation (0: the whole split of a finite dataset)", true),
      integer("train.log_every", 10, 1, kBig, "metrics line every k steps", true),
      integer("train.checkpoint_every", 200, 0, kBig, "checkpoint every k steps (0: at the end)",
              true),
      number("train.time_limit", "0", 0, 1e300, false,
             "stop (checkpoint, final evaluation) after this many seconds of this process, "
             "for runs made of pieces; continue with --resume (0: no limit)",
             true),
      integer("train.keep_checkpoints", 3, 1, 1000, "checkpoints kept (older ones are deleted)",
              true),
      choice("train.progress", {"auto", "bar", "lines", "none"},
             "progress bar (auto: on a terminal) or plain lines", true),
      // ---- eval (coil eval; also the trainer's held-out evaluation)
      int_list("eval.lengths", "[]", 1, double(int64_t(1) << 28),
               "coil eval: sequence lengths to evaluate (empty: task.seq_len)", true),
      integer("eval.batch_size", 0, 0, kBig, "evaluation batch size (0: train.batch_size)", true),
      integer("eval.chunk", 4096, 1, double(int64_t(1) << 28),
              "causal LM models: evaluate longer sequences in chunks of this many positions, "
              "carrying the recurrent state (memory stays bounded)",
              true),
      choice("eval.split", {"val", "test"},
             "lra_*: the held-out split of the trainer's evaluations and of coil eval", true),
      text("eval.checkpoint", "latest", "coil eval: checkpoint file name in RUN_DIR/checkpoints",
           true),
  };
  return keys;
}

}  // namespace coil::train
