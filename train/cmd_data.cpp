// `coil data listops --out DIR` and `coil data pathfinder --resolution 32|128 --out DIR`.
#include "train/cmd_data.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "data/lra/generate.h"

namespace fs = std::filesystem;

namespace coil::train {

struct DataCommands::State {
  CLI::App* data = nullptr;
  CLI::App* listops = nullptr;
  CLI::App* pathfinder = nullptr;
  data::lra::ListOpsGenOptions lo;
  data::lra::PathfinderGenOptions pf;
  bool force = false;
};

DataCommands::DataCommands(CLI::App& app) : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.data = app.add_subcommand(
      "data", "Generate the synthetic Long Range Arena tasks in their released layouts.");
  s.data->require_subcommand(1);
  s.listops = s.data->add_subcommand(
      "listops", "ListOps: basic_{train,val,test}.tsv (96k/2k/2k, lengths in (500, 2000)).");
  s.listops->add_option("--out", s.lo.out, "output directory")->required();
  s.listops->add_option("--seed", s.lo.seed, "generator seed")->capture_default_str();
  s.listops->add_option("--train", s.lo.train, "training examples")->capture_default_str();
  s.listops->add_option("--val", s.lo.val, "validation examples")->capture_default_str();
  s.listops->add_option("--test", s.lo.test, "test examples")->capture_default_str();
  s.listops->add_option("--threads", s.lo.threads, "threads (0: all)");
  s.listops->add_flag("--force", s.force, "write into a non-empty directory");
  s.pathfinder = s.data->add_subcommand(
      "pathfinder", "Pathfinder (32) or Path-X (128): imgs/k/sample_i.png + metadata/k.npy.");
  s.pathfinder->add_option("--resolution", s.pf.resolution, "32 or 128")
      ->check(CLI::IsMember({32, 128}))
      ->capture_default_str();
  s.pathfinder->add_option("--out", s.pf.out, "output directory")->required();
  s.pathfinder->add_option("--count", s.pf.count, "images")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s.pathfinder->add_option("--seed", s.pf.seed, "generator seed")->capture_default_str();
  s.pathfinder->add_option("--threads", s.pf.threads, "threads (0: all)");
  s.pathfinder->add_flag("--force", s.force, "write into a non-empty directory");
}

DataCommands::~DataCommands() = default;

bool DataCommands::parsed() const { return s_->data->parsed(); }

int DataCommands::run() const {
  const State& s = *s_;
  const std::string& out = s.listops->parsed() ? s.lo.out : s.pf.out;
  std::error_code ec;
  if (!s.force && fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    fmt::print(stderr, "coil: error: {} is not empty (--force writes into it anyway)\n", out);
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  try {
    if (s.listops->parsed()) {
      auto stats = data::lra::generate_listops(s.lo);
      fmt::print("listops: {} examples ({} candidates, {} duplicates dropped) in {:.1f} s -> {}\n",
                 stats.kept, stats.candidates, stats.duplicates, seconds(), out);
    } else {
      data::lra::generate_pathfinder(s.pf);
      double t = seconds();
      fmt::print("pathfinder{}: {} images in {:.1f} s ({:.0f} images/s) -> {}\n", s.pf.resolution,
                 s.pf.count, t, double(s.pf.count) / t, out);
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    fmt::print(stderr, "coil: error: {}\n", what.substr(0, what.find("\n  (")));
    return 1;
  }
  return 0;
}

}  // namespace coil::train
