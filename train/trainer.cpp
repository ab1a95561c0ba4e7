// The training loop. Host synchronisation happens only at logging steps, at evaluation and
// checkpoints. Non-finite values are caught by optim/nonfinite.h's device flag: the update of a
// bad step is skipped on the device, and the host reads the flag every step on the CPU (free
// there) and a step late on CUDA (an async copy into pinned memory, waited for while the next
// step is already queued).
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <limits>

#include "autograd/autograd.h"
#include "core/factory.h"
#include "core/pinned.h"
#include "core/random.h"
#include "data/loader.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/elementwise/elementwise.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "optim/clip.h"
#include "optim/kernels.h"
#include "optim/nonfinite.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/setup.h"

namespace fs = std::filesystem;

namespace coil::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Correct predictions and scored targets, as device tensors: logits (B, L, V) against (B, L)
// targets or (B, C) against (B,) labels.
std::pair<Tensor, Tensor> hits(const Tensor& logits, const Tensor& target) {
  NoGradGuard no_grad;
  Tensor pred = argmax(detach(logits), -1);
  Tensor ignore = scalar_tensor(data::kIgnore, {DType::i64, target.device()});
  return {sum(eq(pred, target)), sum(ne(target, ignore))};  // ignored targets never equal pred
}

// Where the run stands before a step: what a checkpoint of the weights at that moment records.
struct Position {
  int64_t step = 0;  // steps done
  data::LoaderCursor cursor;
  uint64_t rng_offset = 0;
  int64_t tokens = 0;
};

Checkpoint snapshot(const nn::Module& model, const optim::Optimizer& opt, const Config& config,
                    const Position& at, double wall) {
  Checkpoint c;
  c.model = model.state_dict();
  c.optimizer = opt.state_dict();
  c.meta.step = at.step;
  c.meta.rng_seed = default_generator().seed();
  c.meta.rng_offset = at.rng_offset;
  c.meta.data_epoch = at.cursor.epoch;
  c.meta.data_position = at.cursor.position;
  c.meta.tokens = at.tokens;
  c.meta.wall_time = wall;
  c.meta.config_hash = config.hash();
  c.meta.config_yaml = config.to_yaml();
  return c;
}

// Reads the non-finite flag back to the host: directly on the CPU; on CUDA issue() queues a copy
// into pinned memory behind the work queued so far and read() waits for it, so reading the copy
// issued a step earlier costs no GPU idle time.
class FlagReader {
 public:
  explicit FlagReader(const Tensor& flag) : flag_(flag) {
    if (flag.device().is_cpu()) return;
    host_ = PinnedBuffer(size_t(flag.nbytes()));
    done_.emplace(flag.device().index);
  }
  bool pending() const { return pending_; }
  int64_t issued_at() const { return issued_at_; }
  // `step`: the steps done when issued (what a clean read vouches for).
  void issue(int64_t step) {
    issued_at_ = step;
    if (done_) {
      download_async(host_.data(), flag_.data_ptr(), host_.size(), flag_.device().index,
                     StreamKind::compute);
      done_->record(StreamKind::compute);
    }
    pending_ = true;
  }
  optim::NonfiniteRecord read() {
    pending_ = false;
    if (!done_) return optim::decode_nonfinite(flag_.data<int64_t>());
    done_->synchronize();
    return optim::decode_nonfinite(static_cast<const int64_t*>(host_.data()));
  }

 private:
  Tensor flag_;
  PinnedBuffer host_;
  std::optional<DeviceEvent> done_;
  bool pending_ = false;
  int64_t issued_at_ = 0;
};

}  // namespace

EvalResult evaluate(TaskModel& model, const Config& config, Device device, Split split,
                    int64_t seq_len, int64_t batches) {
  NoGradGuard no_grad;
  model.module().eval();
  int64_t bs = config.integer("eval.batch_size");
  if (bs == 0) bs = config.integer("train.batch_size");
  auto ds = make_dataset(config, split, seq_len);
  const bool finite_set = ds->size() != data::kInfinite;
  if (batches == 0) {
    if (!finite_set)
      throw ConfigError(
          fmt::format("train.eval_batches: 0 means the whole split, but {} is an "
                      "endless stream; give a number of batches",
                      ds->name()));
    batches = (ds->size() + bs - 1) / bs;
  }
  if (finite_set) batches = std::min(batches, (ds->size() + bs - 1) / bs);
  data::Loader loader(ds, {.batch_size = bs,
                           .seed = 0,
                           .shuffle = false,
                           .drop_last = false,
                           .prefetch = 2,
                           .device = device});
  const int64_t chunk = config.integer("eval.chunk");
  Tensor loss_sum = scalar_tensor(0, {DType::f64, device});
  Tensor correct = scalar_tensor(0, {DType::i64, device}), count = correct;
  int64_t examples = 0;
  auto score = [&](const Tensor& logits, const Tensor& target) {
    loss_sum = add(loss_sum, cross_entropy(logits, target, {.reduction = Reduction::sum}));
    auto [c, n] = hits(logits, target);
    correct = add(correct, c);
    count = add(count, n);
  };
  for (int64_t b = 0; b < batches; ++b) {
    data::Batch batch = loader.next();
    examples += batch.input.size(0);
    const int64_t L = batch.input.size(1);
    if (!model.chunkable() || L <= chunk) {
      score(model.forward(batch), batch.target);
      continue;
    }
    nn::State state;  // the whole model's recurrent state, carried from chunk to chunk
    for (int64_t start = 0; start < L; start += chunk) {
      const int64_t len = std::min(chunk, L - start);
      Tensor logits = model.forward_chunk(contiguous(narrow(batch.input, 1, start, len)), state);
      score(logits, contiguous(narrow(batch.target, 1, start, len)));
    }
  }
  EvalResult r;
  r.positions = count.item<int64_t>();
  r.loss = loss_sum.item<double>() / double(std::max<int64_t>(r.positions, 1));
  r.accuracy = double(correct.item<int64_t>()) / double(std::max<int64_t>(r.positions, 1));
  r.examples = examples;
  return r;
}

RunSummary run_training(const Config& cfg, const RunOptions& opts) {
  const int64_t accum = cfg.integer("train.grad_accum");
  const int64_t batch_size = cfg.integer("train.batch_size");
  if (batch_size % accum != 0)
    throw ConfigError(fmt::format("train.batch_size: {} is not divisible by train.grad_accum = {}",
                                  batch_size, accum));
  if (cfg.number("optim.min_lr") > cfg.number("optim.lr"))
    throw ConfigError(fmt::format("optim.min_lr: {} is larger than optim.lr = {}",
                                  cfg.number("optim.min_lr"), cfg.number("optim.lr")));
  const int64_t log_every = cfg.integer("train.log_every"),
                eval_every = cfg.integer("train.eval_every"),
                eval_batches = cfg.integer("train.eval_batches"),
                ckpt_every = cfg.integer("train.checkpoint_every"),
                keep = cfg.integer("train.keep_checkpoints");
  const double clip = cfg.number("optim.grad_clip");
  const double time_limit = cfg.number("train.time_limit");
  bool stopped_early = false;
  const Device device = opts.device;
  const std::string ckpt_dir = (fs::path(opts.run_dir) / "checkpoints").string();

  // Data and model. The model is initialised from the run seed on the CPU, then moved.
  auto train_set = make_dataset(cfg, Split::train);
  const int64_t steps = total_steps(cfg, *train_set);
  if (eval_batches == 0 && train_set->size() == data::kInfinite)
    throw ConfigError(
        fmt::format("train.eval_batches: 0 means the whole split, but {} is an "
                    "endless stream; give a number of batches",
                    train_set->name()));
  Progress progress(parse_progress_mode(cfg.string("train.progress"), opts.out), steps, opts.out);
  data::Loader loader(train_set, {.batch_size = batch_size / accum,
                                  .seed = uint64_t(cfg.integer("train.seed")),
                                  .prefetch = 2,
                                  .device = device});
  manual_seed(uint64_t(cfg.integer("train.seed")));
  TaskModel net(cfg, *train_set);
  nn::Module* model = &net.module();
  model->to(device);
  optim::Optimizer opt(algorithm(cfg), param_groups(*model, cfg.number("optim.weight_decay")),
                       hyper(cfg));
  const optim::Schedule sched = schedule(cfg, steps);
  try {
    optim::check_schedule(sched);
  } catch (const Error& e) {  // a config error: optim.* against train.steps
    std::string m = e.what();
    throw ConfigError("optim.schedule: " + m.substr(0, m.find("\n  (")));
  }
  std::vector<Tensor> params = opt.params();

  progress.line(fmt::format(
      "task {} ({}, vocab {}); model {}; {} steps of batch {} on {}", train_set->name(),
      train_set->size() == data::kInfinite
          ? fmt::format("seq_len {}", cfg.integer("task.seq_len"))
          : fmt::format("{} examples, up to {} tokens", train_set->size(), train_set->max_len()),
      train_set->vocab_size(), net.describe(), steps, batch_size, device.str()));
  int64_t step = 0, tokens = 0;
  double wall_before = 0;  // training seconds of earlier (resumed-from) processes
  if (opts.resume) {
    Checkpoint ck = load_latest_checkpoint(
        ckpt_dir, [&](const std::string& w) { progress.line("warning: " + w); });
    Config old = Config::parse(ck.meta.config_yaml, ck.path);
    std::vector<std::string> diff = cfg.differences(old, /*unsafe_only=*/true);
    if (!diff.empty()) {
      std::string what;
      for (const std::string& k : diff)
        what += fmt::format("{}{} (checkpoint: {}, now: {})", what.empty() ? "" : "; ", k,
                            old.value_text(k), cfg.value_text(k));
      throw ConfigError(fmt::format(
          "cannot resume {}: the config differs in {}; only evaluation, logging and checkpoint "
          "keys may change on resume (start a new run instead)",
          opts.run_dir, what));
    }
    model->load_state_dict(ck.model);
    opt.load_state_dict(ck.optimizer);
    default_generator().set_state(ck.meta.rng_seed, ck.meta.rng_offset);
    loader.set_cursor({ck.meta.data_epoch, ck.meta.data_position});
    step = ck.meta.step;
    tokens = ck.meta.tokens;
    wall_before = ck.meta.wall_time;
    progress.line(fmt::format("resumed from {} at step {}", ck.path, step));
  }
  MetricsWriter metrics((fs::path(opts.run_dir) / "metrics.jsonl").string(),
                        opts.resume ? step : -1);

  const auto t_start = Clock::now();
  auto wall = [&] { return wall_before + seconds_since(t_start); };
  auto position = [&] {
    return Position{step, loader.cursor(), default_generator().offset(), tokens};
  };
  auto save = [&](const std::string& name, bool latest, const Position& at) {
    save_checkpoint(ckpt_dir, name, snapshot(*model, opt, cfg, at, wall()), latest);
    if (latest) prune_checkpoints(ckpt_dir, keep);
  };
  auto run_eval = [&] {
    EvalResult r = evaluate(net, cfg, device, heldout_split(cfg), 0, eval_batches);
    model->train();
    metrics.write(
        {step, "eval", r.loss, r.accuracy, std::nullopt, std::nullopt, std::nullopt, wall()});
    progress.line(
        fmt::format("eval at step {}: loss {:.4f}, accuracy {:.2f}% ({} held-out "
                    "examples)",
                    step, r.loss, 100 * r.accuracy, r.examples));
    return r;
  };

  model->train();
  // Since the last log line: summed step losses (device), tokens and time.
  Tensor loss_acc = scalar_tensor(0, {DType::f32, device});
  int64_t window_steps = 0, window_tokens = 0;
  auto window_start = Clock::now();
  int64_t last_ckpt = opts.resume ? step : -1;

  // The first step with a non-finite loss or gradient norm: its update and every later one are
  // skipped on the device; once the host sees the flag it takes those steps back, saves the
  // weights from before that step under another name and stops.
  const Tensor flag = optim::nonfinite_flag(device);
  FlagReader reader(flag);
  const bool read_late = device.is_cuda();
  std::deque<Position> unchecked;  // positions before the steps whose flag is not read yet
  const std::vector<std::string> names = opt.names();
  auto check_flag = [&] {
    if (!reader.pending()) return;
    const optim::NonfiniteRecord bad = reader.read();
    if (bad.step == 0) {  // the steps up to the issue are clean: forget their positions
      while (!unchecked.empty() && unchecked.front().step < reader.issued_at())
        unchecked.pop_front();
      return;
    }
    opt.uncount_steps(step - bad.step + 1);
    auto before = std::find_if(unchecked.begin(), unchecked.end(),
                               [&](const Position& p) { return p.step == bad.step - 1; });
    COIL_CHECK(before != unchecked.end(), "[trainer] no position recorded before step {}",
               bad.step);
    std::string ck = fmt::format("nonfinite-step-{:08d}.safetensors", bad.step);
    save(ck, /*latest=*/false, *before);
    throw RunError(fmt::format(
        "non-finite {} at step {} ({}); the weights before this update are in {}",
        bad.loss ? "loss" : "gradient", bad.step,
        bad.param >= 0 ? fmt::format("first non-finite gradient: {}", names.at(size_t(bad.param)))
                       : std::string("every gradient is finite"),
        (fs::path(ckpt_dir) / ck).string()));
  };

  while (step < steps) {
    const bool log_now = (step + 1) % log_every == 0 || step + 1 == steps;
    unchecked.push_back(position());
    opt.set_lr_factor(optim::lr_factor(sched, step));
    Tensor step_loss = scalar_tensor(0, {DType::f32, device});
    Tensor correct, count;
    for (int64_t m = 0; m < accum; ++m) {
      data::Batch batch = loader.next();
      Tensor logits = net.forward(batch);
      Tensor loss = cross_entropy(logits, batch.target);
      backward(accum == 1 ? loss : mul(loss, 1.0 / double(accum)));
      step_loss = add(step_loss, detach(loss));
      if (log_now) {
        auto [c, n] = hits(logits, batch.target);
        correct = correct.defined() ? add(correct, c) : c;
        count = count.defined() ? add(count, n) : n;
      }
      tokens += batch.tokens;
      window_tokens += batch.tokens;
    }
    if (accum > 1) step_loss = mul(step_loss, 1.0 / double(accum));
    Tensor first_bad;
    Tensor gnorm = optim::clip_grad_norm_(params, clip > 0 ? clip : INFINITY, &first_bad);
    optim::record_nonfinite(flag, step_loss, gnorm, first_bad, step + 1);
    opt.step(flag);
    opt.zero_grad();
    ++step;
    ++window_steps;
    loss_acc = add(loss_acc, step_loss);
    // On CUDA: wait for the previous step's flag while this step runs, then queue this one's.
    if (read_late) check_flag();
    reader.issue(step);
    const bool eval_now = eval_every > 0 && step % eval_every == 0 && step < steps;
    const bool ckpt_now = ckpt_every > 0 && step % ckpt_every == 0 && step < steps;
    if (!read_late || log_now || eval_now || ckpt_now) check_flag();
    if (log_now) {
      double secs = seconds_since(window_start), tps = double(window_tokens) / std::max(secs, 1e-9);
      double avg_loss = loss_acc.item<double>() / double(window_steps);
      double acc =
          double(correct.item<int64_t>()) / double(std::max<int64_t>(count.item<int64_t>(), 1));
      double gnorm_now = gnorm.item<double>();
      double lr = opt.lr(0);
      double eta = double(steps - step) * secs / double(window_steps);
      metrics.write({step, "train", avg_loss, acc, lr, gnorm_now, tps, wall()});
      progress.update(step, avg_loss, acc, lr, gnorm_now, tps, wall(), eta);
      loss_acc = scalar_tensor(0, {DType::f32, device});
      window_steps = window_tokens = 0;
      window_start = Clock::now();
    }
    // Evaluation and checkpoints are not training time: keep them out of tokens/s and ETA.
    const auto t_aside = Clock::now();
    if (eval_now) run_eval();
    if (ckpt_now) {
      save(checkpoint_name(step), true, position());
      last_ckpt = step;
    }
    window_start += Clock::now() - t_aside;
    // A piece of a longer run (a device command has a wall-time limit): stop cleanly here.
    if (time_limit > 0 && seconds_since(t_start) >= time_limit && step < steps) {
      stopped_early = true;
      progress.line(
          fmt::format("train.time_limit ({} s) reached at step {} of {}; continue "
                      "with --resume",
                      time_limit, step, steps));
      break;
    }
  }
  check_flag();
  if (last_ckpt != step) save(checkpoint_name(step), true, position());
  EvalResult final_eval = run_eval();
  RunSummary s;
  s.steps = step;
  s.total_steps = steps;
  s.stopped_early = stopped_early;
  s.wall_s = wall();
  s.tokens_per_s = double(tokens) / std::max(s.wall_s, 1e-9);
  s.eval_loss = final_eval.loss;
  s.eval_accuracy = final_eval.accuracy;
  s.eval_examples = final_eval.examples;
  return s;
}

}  // namespace coil::train
