// What a reader does with a bad record (malformed line, bad image, missing file, label out of
// range): stop with the file and line (the default), or skip it and report the count at the end.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

namespace coil::data::lra {

enum class OnBadInput { stop, skip };

// Parses "stop" / "skip" (coil::Error naming the key otherwise).
OnBadInput parse_on_bad_input(const std::string& text);

// Collects the bad records of one dataset; safe to call from several threads.
class BadInputLog {
 public:
  BadInputLog(OnBadInput policy, std::string dataset)
      : policy_(policy), dataset_(std::move(dataset)) {}
  // One bad record at file:line (line 0: the whole file). Throws coil::Error "[dataset]
  // file:line: what" when stopping; otherwise counts it and keeps the first message.
  void bad(const std::string& file, int64_t line, const std::string& what);
  int64_t skipped() const;
  // "[lra listops train] skipped 3 bad records (first: file:12: ...)", or "" when none.
  std::string summary() const;

 private:
  OnBadInput policy_;
  std::string dataset_;
  mutable std::mutex mu_;
  int64_t skipped_ = 0;
  std::string first_;
};

}  // namespace coil::data::lra
