// Helpers of the `coil` process tests (CPU suite test_train_cli.cpp, GPU suite gpu/test_train.cpp):
// run the real binary next to the test binary's directory, compare checkpoints bitwise, and
// kill a run with SIGKILL at a random moment and resume it.
#pragma once
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/safetensors.h"
#include "train/checkpoint.h"

namespace coil::testing {

namespace fs = std::filesystem;

inline fs::path coil_binary() {
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "coil";
}
inline fs::path source_root() { return fs::path(__FILE__).parent_path().parent_path(); }

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string output;
};

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "coil-train-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline pid_t spawn(const std::vector<std::string>& args, const fs::path& log,
                   rlim_t file_limit = 0) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    ::dup2(::fileno(f), 1);
    ::dup2(::fileno(f), 2);
    if (file_limit) {  // a disk that fills up: writes past the limit fail with EFBIG
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit r{file_limit, file_limit};
      ::setrlimit(RLIMIT_FSIZE, &r);
    }
    ::setenv("OMP_NUM_THREADS", "1", 1);
    std::vector<char*> argv;
    std::string bin = coil_binary().string();
    argv.push_back(bin.data());
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    std::_Exit(127);
  }
  return pid;
}

inline Result finish(pid_t pid, const fs::path& log) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  Result r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

inline Result run_coil(const std::vector<std::string>& args, const fs::path& tmp,
                       rlim_t file_limit = 0) {
  fs::path log = tmp / "log.txt";
  return finish(spawn(args, log, file_limit), log);
}

inline std::string tiny() { return (source_root() / "configs" / "tiny.yaml").string(); }

inline TensorDict weights(const fs::path& file) {
  return train::read_checkpoint(file.string()).model;
}

inline bool bitwise_equal(const TensorDict& a, const TensorDict& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, t] : a) {
    auto it = b.find(k);
    if (it == b.end() || t.nbytes() != it->second.nbytes() ||
        std::memcmp(t.data_ptr(), it->second.data_ptr(), t.nbytes()) != 0)
      return false;
  }
  return true;
}

inline fs::path final_checkpoint(const fs::path& run, int64_t step) {
  return run / "checkpoints" / train::checkpoint_name(step);
}

// What a `coil train` command line is for a run directory, plus extra arguments.
using TrainArgs =
    std::function<std::vector<std::string>(const fs::path& run, std::vector<std::string> extra)>;

struct KillResume {
  fs::path whole, killed;  // run directories: uninterrupted, and killed then resumed
  int delay_ms = 0;        // after the first checkpoint
  Result first, resumed;   // the killed process (128 + SIGKILL unless it had finished) and resume
};

// Runs args(tmp/whole) to the end, then args(tmp/killed), killed with SIGKILL a random
// 0..max_delay_ms after its first checkpoint appears (at most 60% of the whole run's wall time,
// so a fast device still gets killed mid-run), then resumed with --resume.
inline KillResume kill_and_resume(const TrainArgs& args, const fs::path& tmp, int max_delay_ms) {
  KillResume k;
  k.whole = tmp / "whole";
  k.killed = tmp / "killed";
  const auto t0 = std::chrono::steady_clock::now();
  Result whole = run_coil(args(k.whole, {}), tmp);
  const auto whole_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  INFO(whole.output);
  REQUIRE(whole.status == 0);
  std::mt19937 rng(std::random_device{}());
  const int cap = int(std::min<int64_t>(max_delay_ms, whole_ms * 6 / 10));
  k.delay_ms = std::uniform_int_distribution<int>(0, cap)(rng);
  fs::path log = tmp / "killed.txt";
  pid_t pid = spawn(args(k.killed, {}), log);
  for (int i = 0; i < 20000 && !fs::exists(k.killed / "checkpoints" / "latest"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(k.delay_ms));
  ::kill(pid, SIGKILL);
  k.first = finish(pid, log);
  k.resumed = run_coil(args(k.killed, {"--resume"}), tmp);
  return k;
}

}  // namespace coil::testing
