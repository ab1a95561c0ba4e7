// fmt support for Tensor: a header line, then nested brackets, eliding the middle of long dims.
#include <string>

#include "core/copy.h"
#include "core/dispatch.h"
#include "core/tensor.h"

namespace coil {
namespace {

constexpr int64_t kEdgeItems = 3;    // shown at each end of a long dimension
constexpr int64_t kSummarise = 1000;  // tensors larger than this are elided

// Element i of a contiguous host tensor as text. Formatted on demand: an elided tensor shows
// only a few of its elements, so formatting all of them would make printing O(numel).
std::string format_element(const Tensor& host, int64_t i) {
  return dispatch<COIL_ALL_DTYPES>(host.dtype(), "print", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = static_cast<const T*>(host.data_ptr())[i];
    if constexpr (std::is_same_v<T, bf16>) return fmt::format("{:.6g}", double(float(v)));
    else if constexpr (std::is_floating_point_v<T>) return fmt::format("{:.6g}", double(v));
    else return fmt::format("{}", int64_t(v));
  });
}

void append_dim(std::string& out, const Tensor& host, const Shape& shape, size_t d, int64_t base,
                bool elide, int indent) {
  if (d == shape.size()) {
    out += format_element(host, base);
    return;
  }
  int64_t n = shape[d], stride = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) stride *= shape[i];
  out += "[";
  for (int64_t i = 0; i < n; ++i) {
    if (elide && n > 2 * kEdgeItems && i == kEdgeItems) {
      out += d + 1 == shape.size() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - kEdgeItems - 1;
      continue;
    }
    append_dim(out, host, shape, d + 1, base + i * stride, elide, indent + 1);
    if (i + 1 < n) out += d + 1 == shape.size() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += "]";
}

}  // namespace
}  // namespace coil

auto fmt::formatter<coil::Tensor>::format(const coil::Tensor& t, format_context& ctx) const
    -> format_context::iterator {
  using namespace coil;
  if (!t.defined()) return fmt::format_to(ctx.out(), "tensor(undefined)");
  std::string out = fmt::format("tensor({}, ", describe(t));
  Tensor host = core::contiguous(core::to(t, Device::cpu()));
  append_dim(out, host, host.shape(), 0, 0, host.numel() > kSummarise, 7);
  out += ")";
  return fmt::format_to(ctx.out(), "{}", out);
}
