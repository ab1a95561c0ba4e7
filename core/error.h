// coil::Error and the check macros every layer uses to reject bad input with a clear message.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace coil {

// Every error coil raises. Messages start with "[op] " and show the shapes involved.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] void fail_check(const char* file, int line, const char* cond, const std::string& msg);
[[noreturn]] void fail_api(const char* api, const char* file, int line, const char* call,
                           const std::string& what);

}  // namespace detail

}  // namespace coil

// COIL_CHECK(cond, "[op] what went wrong: {} vs {}", a, b): throws coil::Error when cond is false.
#define COIL_CHECK(cond, ...)                                                               \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      ::coil::detail::fail_check(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__));    \
  } while (0)

// Unconditional failure with the same message format.
#define COIL_FAIL(...) ::coil::detail::fail_check(__FILE__, __LINE__, nullptr, ::fmt::format(__VA_ARGS__))
