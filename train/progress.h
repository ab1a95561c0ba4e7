// What a run prints: a progress bar redrawn in place on a terminal (step/total, loss, accuracy,
// tokens/s, ETA), plain lines otherwise, eval lines and messages that never tear the bar.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace coil::train {

enum class ProgressMode { bar, lines, none };

// "auto" -> bar when `out` is a terminal, else lines.
ProgressMode parse_progress_mode(const std::string& name, FILE* out);

// "1:02:03" / "2:03".
std::string format_duration(double seconds);

class Progress {
 public:
  Progress(ProgressMode mode, int64_t total_steps, FILE* out = stdout);
  ~Progress();
  // The state after `step` steps (called at logging steps).
  void update(int64_t step, double loss, std::optional<double> accuracy, double lr,
              double grad_norm, double tokens_per_s, double elapsed_s, double eta_s);
  // A line of its own (eval results, warnings, the summary).
  void line(const std::string& text);

 private:
  void clear_bar();
  ProgressMode mode_;
  int64_t total_;
  FILE* out_;
  bool bar_shown_ = false;
};

}  // namespace coil::train
