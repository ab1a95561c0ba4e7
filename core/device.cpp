// Device names and parsing.
#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace coil {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(std::string_view s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.starts_with("cuda:")) {
    int idx = -1;
    auto tail = s.substr(5);
    auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), idx);
    if (ec == std::errc() && p == tail.data() + tail.size() && idx >= 0) return cuda(idx);
  }
  COIL_FAIL("[device] cannot parse device '{}': expected 'cpu', 'cuda' or 'cuda:N'", s);
}

#if !defined(COIL_WITH_CUDA)
int cuda_device_count() { return 0; }
#endif

}  // namespace coil
