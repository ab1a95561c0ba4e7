// Subcommands of `coil`. Each validates everything it was given (config, run directory, device)
// before any work, so a usage or config error never leaves a half-made run behind.
#include "train/cli.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/linalg.h"
#include "core/random.h"
#include "core/reduce.h"
#include "train/checkpoint.h"
#include "train/cmd_data.h"
#include "train/config.h"
#include "train/plot.h"
#include "train/progress.h"
#include "train/setup.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace coil::train {
namespace {

// coil::Error messages end with where the check sits; users need the first line only.
std::string headline(const std::exception& e) {
  std::string s = e.what();
  return s.substr(0, s.find("\n  ("));
}

Device parse_device(const std::string& text) {
  int n = cuda_device_count();
  if (text.empty()) return n > 0 ? Device::cuda(0) : Device::cpu();
  Device d;
  try {
    d = Device::parse(text);
  } catch (const Error&) {
    throw ConfigError(fmt::format("--device: expected cpu, cuda or cuda:N, got \"{}\"", text));
  }
  if (d.is_cuda() && d.index >= n)
    throw ConfigError(n == 0 ? fmt::format("--device {}: no CUDA device here{}", text,
#ifdef COIL_WITH_CUDA
                                           "")
#else
                                           " (coil was built without CUDA)")
#endif
                             : fmt::format("--device {}: no such device (this machine has {} CUDA "
                                           "device{}: cuda:0..cuda:{})",
                                           text, n, n > 1 ? "s" : "", n - 1));
  return d;
}

// The files a run directory holds; --force removes exactly these (never anything else).
const char* kRunEntries[] = {"config.yaml", "metrics.jsonl", "checkpoints",
                             "plots",       "eval.json",     "eval.md"};

bool has_entries(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && !fs::is_empty(dir, ec);
}

void write_text(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    COIL_CHECK(out.good(), "[coil] cannot write {}", tmp.string());
  }
  fs::rename(tmp, path);
}

int cmd_train(const std::string& config_path, const std::vector<std::string>& overrides,
              std::string run_dir, const std::string& device_text, bool resume, bool force) {
  Config cfg = Config::load(config_path, overrides);
  Device device = parse_device(device_text);
  if (resume && force) throw ConfigError("--resume and --force exclude each other");
  if (run_dir.empty()) {
    if (resume) throw ConfigError("--resume needs --run-dir (the run to continue)");
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    run_dir = (fs::path("runs") / (fs::path(config_path).stem().string() + "-" + stamp)).string();
  }
  fs::path dir(run_dir);
  if (resume) {
    if (list_checkpoints((dir / "checkpoints").string()).empty())
      throw ConfigError(fmt::format("--resume: {} has no checkpoint to resume from{}", run_dir,
                                    fs::exists(dir) ? "" : " (the directory does not exist)"));
  } else if (has_entries(dir)) {
    if (!force)
      throw ConfigError(
          fmt::format("run directory {} exists; use --resume to continue that run "
                      "or --force to start it over",
                      run_dir));
    for (const char* e : kRunEntries) fs::remove_all(dir / e);
  }
  fs::create_directories(dir);
  write_text(dir / "config.yaml",
             fmt::format("# coil {} resolved config: `coil train {}` repeats this run.\n{}",
                         COIL_VERSION, (dir / "config.yaml").string(), cfg.to_yaml()));
  RunSummary s = run_training(cfg, {run_dir, device, resume, stdout});
  std::string what = s.stopped_early ? fmt::format("stopped by train.time_limit: {} of {} steps",
                                                   s.steps, s.total_steps)
                                     : fmt::format("done: {} steps", s.steps);
  fmt::print(
      "{} in {} ({:.0f} tokens/s); held-out accuracy {:.2f}% (loss {:.4f}, {} examples); "
      "run directory {}\n",
      what, format_duration(s.wall_s), s.tokens_per_s, 100 * s.eval_accuracy, s.eval_loss,
      s.eval_examples, run_dir);
  return 0;
}

// The config `coil eval` evaluates with: the checkpoint's, with the task section of
// `task_config` (when given) and the overrides on top. Only task.*, eval.* and
// train.eval_batches may change: the model is the checkpoint's.
Config eval_config(const Checkpoint& ck, const std::string& task_config,
                   const std::vector<std::string>& overrides) {
  Config cfg = Config::parse(ck.meta.config_yaml, ck.path);
  if (!task_config.empty()) {
    Config other = Config::load(task_config);
    for (const KeySpec& k : config_schema())
      if (k.key.rfind("task.", 0) == 0) cfg.apply_override(k.key + "=" + other.value_text(k.key));
  }
  for (const std::string& o : overrides) cfg.apply_override(o);
  return cfg;
}

// The model's head and vocabulary must be the task's: names both sides otherwise.
void check_task_fits(const Config& model_cfg, const TaskModel& model, const Config& task_cfg,
                     const data::Dataset& task, const std::string& checkpoint) {
  const std::string trained = model_cfg.string("task.name"), asked = task_cfg.string("task.name");
  const bool lm = !is_lra(task_cfg);
  const int64_t want_vocab = pixel_input(task_cfg) ? 0 : task.vocab_size();
  const int64_t want_outputs = lm ? task.vocab_size() : task.num_classes();
  if (trained != asked || model.vocab_size() != want_vocab || model.num_outputs() != want_outputs)
    throw ConfigError(fmt::format(
        "the task does not match the checkpoint's model: task {} (vocab {}, {} outputs) vs model "
        "{} trained on {} (vocab {}, {} outputs) in {}",
        asked, want_vocab, want_outputs, model.describe(), trained, model.vocab_size(),
        model.num_outputs(), checkpoint));
}

std::string eval_markdown(const std::string& checkpoint, int64_t step, const Device& device,
                          const Config& cfg, const nlohmann::json& rows) {
  std::string out = fmt::format(
      "# coil eval\n\ncheckpoint `{}` (step {}), task {}, split {}, device {}, eval.chunk {}\n\n"
      "| length | accuracy (%) | loss | examples | seconds |\n|---:|---:|---:|---:|---:|\n",
      checkpoint, step, cfg.string("task.name"), cfg.string("eval.split"), device.str(),
      cfg.integer("eval.chunk"));
  for (const auto& r : rows) {
    const int64_t len = r["length"].get<int64_t>();  // 0: the data's own lengths (LRA)
    out += fmt::format("| {} | {:.2f} | {:.4f} | {} | {:.1f} |\n",
                       len == 0 ? "data" : std::to_string(len), 100 * r["accuracy"].get<double>(),
                       r["loss"].get<double>(), r["examples"].get<int64_t>(),
                       r["seconds"].get<double>());
  }
  return out;
}

int cmd_eval(const std::string& run_dir, const std::vector<std::string>& overrides,
             const std::string& task_config, const std::string& device_text) {
  // Everything the user gave is checked before the checkpoint is read or anything is written.
  Device device = parse_device(device_text);
  for (const std::string& o : overrides) {
    std::string key = o.substr(0, o.find('='));
    if (key.rfind("eval.", 0) != 0 && key.rfind("task.", 0) != 0 && key != "train.eval_batches")
      throw ConfigError(
          fmt::format("override \"{}\": coil eval takes task.*, eval.* and "
                      "train.eval_batches only (the model is the checkpoint's)",
                      o));
  }
  Config probe = Config::parse("", "command line", overrides);  // types and ranges
  if (!task_config.empty()) Config::load(task_config);
  if (!fs::is_directory(run_dir))
    throw ConfigError(fmt::format("{} is not a run directory (it does not exist)", run_dir));
  std::string ckpt_dir = (fs::path(run_dir) / "checkpoints").string();
  std::string which = probe.string("eval.checkpoint");
  Checkpoint ck;
  if (which == "latest") {
    if (list_checkpoints(ckpt_dir).empty())
      throw ConfigError(
          fmt::format("{} has no checkpoint to evaluate (expected {}/step-*."
                      "safetensors, written by coil train)",
                      run_dir, ckpt_dir));
    ck = load_latest_checkpoint(ckpt_dir,
                                [](const std::string& w) { fmt::print("warning: {}\n", w); });
  } else {
    std::string path = (fs::path(ckpt_dir) / which).string();
    if (!fs::exists(path))
      throw ConfigError(fmt::format("eval.checkpoint: {} does not exist", path));
    ck = read_checkpoint(path);
  }
  const Config model_cfg = Config::parse(ck.meta.config_yaml, ck.path);
  const Config cfg = eval_config(ck, task_config, overrides);
  std::vector<int64_t> lengths = cfg.int_list("eval.lengths");
  if (is_lra(cfg) && !lengths.empty())
    throw ConfigError(
        fmt::format("eval.lengths: {} has the lengths of its data; leave "
                    "eval.lengths empty",
                    cfg.string("task.name")));
  if (lengths.empty()) lengths.push_back(is_lra(cfg) ? 0 : cfg.integer("task.seq_len"));
  const Split split = heldout_split(cfg);

  auto model_task = make_dataset(model_cfg, Split::val);
  manual_seed(uint64_t(model_cfg.integer("train.seed")));
  TaskModel model(model_cfg, *model_task);
  check_task_fits(model_cfg, model, cfg, *make_dataset(cfg, split), ck.path);
  model.module().load_state_dict(ck.model);
  model.module().to(device);

  const int64_t batches = cfg.integer("train.eval_batches");
  fmt::print("{} at step {} on {}: {}; {} held-out batches per length\n", ck.path, ck.meta.step,
             device.str(), model.describe(), batches == 0 ? "all" : std::to_string(batches));
  fmt::print("{:>10}  {:>9}  {:>8}  {:>8}  {:>8}\n", "length", "accuracy", "loss", "examples",
             "seconds");
  nlohmann::json results = nlohmann::json::array();
  for (int64_t len : lengths) {
    auto t0 = std::chrono::steady_clock::now();
    EvalResult r = evaluate(model, cfg, device, split, len, batches);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("{:>10}  {:>8.2f}%  {:>8.4f}  {:>8}  {:>8.1f}\n",
               len == 0 ? "data" : std::to_string(len), 100 * r.accuracy, r.loss, r.examples, secs);
    std::fflush(stdout);
    results.push_back({{"length", len},
                       {"accuracy", r.accuracy},
                       {"loss", r.loss},
                       {"examples", r.examples},
                       {"positions", r.positions},
                       {"seconds", secs},
                       {"step", ck.meta.step},
                       {"checkpoint", fs::path(ck.path).filename().string()}});
  }
  // Written only once every length has been evaluated: a failure leaves the old files.
  write_text(fs::path(run_dir) / "eval.json", results.dump(2) + "\n");
  write_text(fs::path(run_dir) / "eval.md", eval_markdown(fs::path(ck.path).filename().string(),
                                                          ck.meta.step, device, cfg, results));
  return 0;
}

int cmd_plot(const std::string& run_dir) {
  for (const std::string& f : plot_run(run_dir)) fmt::print("wrote {}\n", f);
  return 0;
}

int cmd_info() {
  fmt::print("coil {}\n", COIL_VERSION);
#ifdef COIL_WITH_CUDA
  fmt::print("build: CUDA on (sm_90), OpenMP {} threads\n", omp_get_max_threads());
#else
  fmt::print("build: CUDA off, OpenMP {} threads\n", omp_get_max_threads());
#endif
  int n_gpu = cuda_device_count();
  fmt::print("devices: cpu{}\n", n_gpu > 0 ? fmt::format(", {} x cuda", n_gpu) : "");
  std::vector<Device> devices = {Device::cpu()};
  for (int i = 0; i < n_gpu; ++i) devices.push_back(Device::cuda(i));
  for (Device dev : devices) {
    // (64, 64) @ (64, 64) of normals: the mean of the product's squares is about 64.
    Tensor a = randn({64, 64}, {DType::f32, dev}), b = randn({64, 64}, {DType::f32, dev});
    Tensor c = core::matmul(a, b);
    double msq = core::mean(core::unary(UnaryOp::square, c)).item<double>();
    fmt::print("smoke on {}: mean((A @ B)^2) = {:.2f} (expected about 64)\n", dev.str(), msq);
  }
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"coil: train and evaluate state space models from YAML configs"};
  app.set_help_all_flag("--help-all", "help for every subcommand");
  app.require_subcommand(0, 1);

  std::string config, run_dir, device, eval_dir, plot_dir, eval_task_config;
  std::vector<std::string> overrides, eval_overrides;
  bool resume = false, force = false;
  CLI::App* train =
      app.add_subcommand("train",
                         "Train a model from a YAML config (keys: docs/configs.md). Writes RUN_DIR/"
                         "config.yaml, metrics.jsonl and checkpoints/.");
  train->add_option("config", config, "the config file (configs/*.yaml)")->required();
  train->add_option("overrides", overrides, "dotted key=value overrides, e.g. optim.lr=3e-4");
  train->add_option("--run-dir", run_dir, "run directory (default runs/<config>-<time>)");
  train->add_option("--device", device, "cpu, cuda or cuda:N (default: the GPU when there is one)");
  train->add_flag("--resume", resume, "continue the run in --run-dir from its latest checkpoint");
  train->add_flag("--force", force, "start over in an existing --run-dir (deletes its run files)");

  CLI::App* eval = app.add_subcommand(
      "eval",
      "Evaluate a run's latest (or eval.checkpoint=NAME) checkpoint on held-out data, "
      "at each of eval.lengths=[...] (long sequences in state-carrying chunks of "
      "eval.chunk); prints a table and writes RUN_DIR/eval.json and eval.md.");
  eval->add_option("run_dir", eval_dir, "the run directory")->required();
  eval->add_option("overrides", eval_overrides,
                   "task.*, eval.* and train.eval_batches key=value overrides");
  eval->add_option("--task-config", eval_task_config,
                   "evaluate on the task section of this config (the model stays the run's)");
  eval->add_option("--device", device, "cpu, cuda or cuda:N (default: the GPU when there is one)");

  CLI::App* plot = app.add_subcommand(
      "plot", "Draw loss, accuracy and learning-rate curves of a run as SVG in RUN_DIR/plots/.");
  plot->add_option("run_dir", plot_dir, "the run directory")->required();

  CLI::App* info = app.add_subcommand(
      "info", "Print the version, build options and devices, and run a smoke computation on each.");
  DataCommands data_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    if (train->parsed()) return cmd_train(config, overrides, run_dir, device, resume, force);
    if (eval->parsed()) return cmd_eval(eval_dir, eval_overrides, eval_task_config, device);
    if (plot->parsed()) return cmd_plot(plot_dir);
    if (info->parsed()) return cmd_info();
    if (data_commands.parsed()) return data_commands.run();
    fmt::print("{}", app.help());
    return 0;
  } catch (const ConfigError& e) {
    fmt::print(stderr, "coil: error: {}\n", headline(e));
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "coil: error: {}\n", headline(e));
    return 1;
  }
}

}  // namespace coil::train
