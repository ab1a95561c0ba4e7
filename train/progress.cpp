// Progress bar and plain progress lines.
#include "train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace coil::train {

ProgressMode parse_progress_mode(const std::string& name, FILE* out) {
  if (name == "bar") return ProgressMode::bar;
  if (name == "lines") return ProgressMode::lines;
  if (name == "none") return ProgressMode::none;
  return ::isatty(::fileno(out)) ? ProgressMode::bar : ProgressMode::lines;
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = int64_t(std::llround(s));
  if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

static std::string rate(double tokens_per_s) {
  if (tokens_per_s >= 1e6) return fmt::format("{:.2f}M", tokens_per_s / 1e6);
  if (tokens_per_s >= 1e3) return fmt::format("{:.1f}k", tokens_per_s / 1e3);
  return fmt::format("{:.0f}", tokens_per_s);
}

Progress::Progress(ProgressMode mode, int64_t total_steps, FILE* out)
    : mode_(mode), total_(total_steps), out_(out) {}

Progress::~Progress() {
  if (bar_shown_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void Progress::clear_bar() {
  if (!bar_shown_) return;
  std::fputs("\r\033[2K", out_);
  bar_shown_ = false;
}

void Progress::update(int64_t step, double loss, std::optional<double> accuracy, double lr,
                      double grad_norm, double tokens_per_s, double elapsed_s, double eta_s) {
  std::string acc = accuracy ? fmt::format(" acc {:5.1f}%", 100 * *accuracy) : "";
  if (mode_ == ProgressMode::bar) {
    constexpr int kWidth = 24;
    int filled = int(double(kWidth) * double(step) / double(total_));
    std::string bar(size_t(filled), '#');
    bar.resize(kWidth, '.');
    clear_bar();
    fmt::print(out_, "step {}/{} [{}] loss {:.4f}{} {} tok/s ETA {}", step, total_, bar, loss, acc,
               rate(tokens_per_s), format_duration(eta_s));
    std::fflush(out_);
    bar_shown_ = true;
  } else if (mode_ == ProgressMode::lines) {
    fmt::print(out_,
               "step {}/{} loss {:.4f}{} lr {:.3g} grad_norm {:.3g} {} tok/s elapsed {} ETA {}\n",
               step, total_, loss, acc, lr, grad_norm, rate(tokens_per_s),
               format_duration(elapsed_s), format_duration(eta_s));
    std::fflush(out_);
  }
}

void Progress::line(const std::string& text) {
  clear_bar();
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
}

}  // namespace coil::train
