// Builds the text of coil::Error: the caller's message, then where the check sits.
#include "core/error.h"

namespace coil::detail {

void fail_check(const char* file, int line, const char* cond, const std::string& msg) {
  if (cond) throw Error(fmt::format("{}\n  (check `{}` failed at {}:{})", msg, cond, file, line));
  throw Error(fmt::format("{}\n  (at {}:{})", msg, file, line));
}

void fail_api(const char* api, const char* file, int line, const char* call,
              const std::string& what) {
  throw Error(fmt::format("[{}] {} failed: {}\n  (at {}:{})", api, call, what, file, line));
}

}  // namespace coil::detail
