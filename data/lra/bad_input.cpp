// The stop-or-skip policy of the LRA readers.
#include "data/lra/bad_input.h"

#include "core/error.h"

namespace coil::data::lra {

OnBadInput parse_on_bad_input(const std::string& text) {
  if (text == "stop") return OnBadInput::stop;
  if (text == "skip") return OnBadInput::skip;
  COIL_FAIL("[lra] on_bad_input: expected stop or skip, got \"{}\"", text);
}

void BadInputLog::bad(const std::string& file, int64_t line, const std::string& what) {
  std::string where = line > 0 ? fmt::format("{}:{}", file, line) : file;
  if (policy_ == OnBadInput::stop)
    COIL_FAIL("[{}] {}: {} (set on_bad_input=skip to skip bad records)", dataset_, where, what);
  std::lock_guard<std::mutex> lock(mu_);
  if (skipped_++ == 0) first_ = fmt::format("{}: {}", where, what);
}

int64_t BadInputLog::skipped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_;
}

std::string BadInputLog::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (skipped_ == 0) return "";
  return fmt::format("[{}] skipped {} bad record{} (first: {})", dataset_, skipped_,
                     skipped_ == 1 ? "" : "s", first_);
}

}  // namespace coil::data::lra
