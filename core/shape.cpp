// Shape arithmetic shared by views, broadcasting and kernels.
#include "core/shape.h"

#include "core/error.h"

namespace coil {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i] > 0 ? s[i] : 1;
  }
  return st;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

int64_t normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  COIL_CHECK(dim >= lo && dim <= hi, "[{}] dimension {} is out of range for a tensor of rank {}",
             op, dim, ndim);
  return dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim;
}

int64_t normalize_dim(int64_t dim, const Shape& shape, const char* op) {
  int64_t n = int64_t(shape.size());
  COIL_CHECK(dim >= -n && dim < n, "[{}] dimension {} is out of range for shape {}", op, dim,
             shape_str(shape));
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    COIL_CHECK(da == db || da == 1 || db == 1, "[{}] cannot broadcast shapes {} vs {}", op,
               shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace coil
