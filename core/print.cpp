// fmt support for Tensor: a header line, then nested brackets, eliding the middle of long dims.
#include <string>

#include "core/copy.h"
#include "core/tensor.h"

namespace coil {
namespace {

constexpr int64_t kEdgeItems = 3;    // shown at each end of a long dimension
constexpr int64_t kSummarise = 1000;  // tensors larger than this are elided

void append_dim(std::string& out, const std::vector<std::string>& vals, const Shape& shape,
                size_t d, int64_t base, bool elide, int indent) {
  if (d == shape.size()) {
    out += vals[size_t(base)];
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
    append_dim(out, vals, shape, d + 1, base + i * stride, elide, indent + 1);
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
  std::vector<std::string> vals(size_t(host.numel()));
  if (is_floating(host.dtype())) {
    auto v = host.to_vector<double>();
    for (size_t i = 0; i < v.size(); ++i) vals[i] = fmt::format("{:.6g}", v[i]);
  } else {
    auto v = host.to_vector<int64_t>();
    for (size_t i = 0; i < v.size(); ++i) vals[i] = fmt::format("{}", v[i]);
  }
  append_dim(out, vals, host.shape(), 0, 0, host.numel() > kSummarise, 7);
  out += ")";
  return fmt::format_to(ctx.out(), "{}", out);
}
