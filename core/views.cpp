// View construction: shape/stride arithmetic with bounds checks; storage is always shared.
#include "core/views.h"

#include <algorithm>

#include "core/copy.h"

namespace coil::core {

Shape infer_shape(const Shape& requested, const Shape& from, const char* op) {
  Shape out = requested;
  int64_t numel = shape_numel(from), known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      COIL_CHECK(infer_at < 0, "[{}] only one dimension can be -1, got {} for shape {}", op,
                 shape_str(requested), shape_str(from));
      infer_at = int64_t(i);
    } else {
      COIL_CHECK(out[i] >= 0, "[{}] invalid size {} in {} for shape {}", op, out[i],
                 shape_str(requested), shape_str(from));
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    COIL_CHECK(known != 0 && numel % known == 0,
               "[{}] cannot reshape {} ({} elements) into {}", op, shape_str(from), numel,
               shape_str(requested));
    out[size_t(infer_at)] = numel / known;
  }
  COIL_CHECK(shape_numel(out) == numel, "[{}] cannot reshape {} ({} elements) into {}", op,
             shape_str(from), numel, shape_str(requested));
  return out;
}

// Strides that let `shape` view the elements of t in row-major order without a copy, if any:
// each run of old dims that merges into new dims must itself be contiguous.
static bool view_strides(const Tensor& t, const Shape& shape, Strides& out) {
  const Shape& os = t.shape();
  const Strides& ot = t.strides();
  out.assign(shape.size(), 0);
  if (t.numel() == 0) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = ot.empty() ? 1 : ot.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ot[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = ot[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) {
    for (; view_d >= 0; --view_d) {  // trailing size-1 dims
      if (shape[view_d] != 1) return false;
      out[view_d] = 1;
    }
  }
  return true;
}

Tensor view(const Tensor& t, Shape shape) {
  shape = infer_shape(shape, t.shape(), "view");
  Strides st;
  COIL_CHECK(view_strides(t, shape, st),
             "[view] cannot view shape {} with strides {} as {} without a copy (use reshape)",
             shape_str(t.shape()), shape_str(t.strides()), shape_str(shape));
  return make_view(t, std::move(shape), std::move(st), t.offset());
}

Tensor reshape(const Tensor& t, Shape shape) {
  shape = infer_shape(shape, t.shape(), "reshape");
  Strides st;
  if (view_strides(t, shape, st)) return make_view(t, std::move(shape), std::move(st), t.offset());
  Tensor c = contiguous(t);
  return make_view(c, shape, contiguous_strides(shape), c.offset());
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t n = t.dim();
  COIL_CHECK(int64_t(dims.size()) == n, "[permute] got {} dims for a tensor of shape {}",
             dims.size(), shape_str(t.shape()));
  Shape sh(static_cast<size_t>(n));
  Strides st(static_cast<size_t>(n));
  std::vector<bool> seen(size_t(n), false);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = normalize_dim(dims[size_t(i)], t.shape(), "permute");
    COIL_CHECK(!seen[size_t(d)], "[permute] dimension {} repeated in {} for shape {}", d,
               shape_str(dims), shape_str(t.shape()));
    seen[size_t(d)] = true;
    sh[size_t(i)] = t.shape()[size_t(d)];
    st[size_t(i)] = t.strides()[size_t(d)];
  }
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  d0 = normalize_dim(d0, t.shape(), "transpose");
  d1 = normalize_dim(d1, t.shape(), "transpose");
  Shape sh = t.shape();
  Strides st = t.strides();
  std::swap(sh[size_t(d0)], sh[size_t(d1)]);
  std::swap(st[size_t(d0)], st[size_t(d1)]);
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  dim = normalize_dim(dim, t.shape(), "slice");
  int64_t size = t.shape()[size_t(dim)];
  COIL_CHECK(step > 0, "[slice] step must be positive, got {} for shape {}", step,
             shape_str(t.shape()));
  int64_t s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
  COIL_CHECK(s >= 0 && s <= size && e >= s && e <= size,
             "[slice] range [{}, {}) is out of bounds for dimension {} of shape {}", start, end, dim,
             shape_str(t.shape()));
  Shape sh = t.shape();
  Strides st = t.strides();
  sh[size_t(dim)] = (e - s + step - 1) / step;
  st[size_t(dim)] *= step;
  return make_view(t, std::move(sh), std::move(st), t.offset() + s * t.strides()[size_t(dim)]);
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  COIL_CHECK(length >= 0, "[narrow] negative length {} for shape {}", length, shape_str(t.shape()));
  dim = normalize_dim(dim, t.shape(), "narrow");
  int64_t size = t.shape()[size_t(dim)];
  int64_t s = start < 0 ? start + size : start;
  COIL_CHECK(s >= 0 && s + length <= size,
             "[narrow] start {} length {} is out of bounds for dimension {} of shape {}", start,
             length, dim, shape_str(t.shape()));
  return slice(t, dim, s, s + length);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  dim = normalize_dim(dim, t.shape(), "select");
  int64_t size = t.shape()[size_t(dim)];
  int64_t i = index < 0 ? index + size : index;
  COIL_CHECK(i >= 0 && i < size, "[select] index {} is out of bounds for dimension {} of shape {}",
             index, dim, shape_str(t.shape()));
  Shape sh = t.shape();
  Strides st = t.strides();
  int64_t off = t.offset() + i * st[size_t(dim)];
  sh.erase(sh.begin() + dim);
  st.erase(st.begin() + dim);
  return make_view(t, std::move(sh), std::move(st), off);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  COIL_CHECK(shape.size() >= size_t(t.dim()), "[expand] cannot expand {} to fewer dimensions {}",
             shape_str(t.shape()), shape_str(shape));
  size_t lead = shape.size() - size_t(t.dim());
  Shape sh(shape.size());
  Strides st(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      COIL_CHECK(shape[i] >= 0, "[expand] invalid size -1 for a new leading dimension in {}",
                 shape_str(shape));
      sh[i] = shape[i];
      st[i] = 0;
      continue;
    }
    int64_t have = t.shape()[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    COIL_CHECK(have == want || have == 1, "[expand] cannot expand shape {} to {}",
               shape_str(t.shape()), shape_str(shape));
    sh[i] = want;
    st[i] = have == want ? t.strides()[i - lead] : 0;
  }
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  COIL_CHECK(dim >= -t.dim() - 1 && dim <= t.dim(),
             "[unsqueeze] dimension {} is out of range [{}, {}] for shape {}", dim, -t.dim() - 1,
             t.dim(), shape_str(t.shape()));
  dim = normalize_dim(dim, t.dim() + 1, "unsqueeze");
  Shape sh = t.shape();
  Strides st = t.strides();
  int64_t s = dim < t.dim() ? st[size_t(dim)] * sh[size_t(dim)] : 1;
  sh.insert(sh.begin() + dim, 1);
  st.insert(st.begin() + dim, s);
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  if (t.dim() == 0) return t;
  dim = normalize_dim(dim, t.shape(), "squeeze");
  if (t.shape()[size_t(dim)] != 1) return t;
  Shape sh = t.shape();
  Strides st = t.strides();
  sh.erase(sh.begin() + dim);
  st.erase(st.begin() + dim);
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor squeeze(const Tensor& t) {
  Shape sh;
  Strides st;
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (t.shape()[size_t(i)] == 1) continue;
    sh.push_back(t.shape()[size_t(i)]);
    st.push_back(t.strides()[size_t(i)]);
  }
  return make_view(t, std::move(sh), std::move(st), t.offset());
}

Tensor flatten(const Tensor& t, int64_t start, int64_t end) {
  if (t.dim() == 0) return reshape(t, {1});
  start = normalize_dim(start, t.shape(), "flatten");
  end = normalize_dim(end, t.shape(), "flatten");
  COIL_CHECK(start <= end, "[flatten] start dim {} after end dim {} for shape {}", start, end,
             shape_str(t.shape()));
  Shape sh(t.shape().begin(), t.shape().begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= t.shape()[size_t(i)];
  sh.push_back(m);
  sh.insert(sh.end(), t.shape().begin() + end + 1, t.shape().end());
  return reshape(t, sh);
}

Tensor as_strided(const Tensor& t, Shape shape, Strides strides, int64_t offset) {
  COIL_CHECK(shape.size() == strides.size(), "[as_strided] shape {} and strides {} differ in rank",
             shape_str(shape), shape_str(strides));
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    COIL_CHECK(shape[i] >= 0 && strides[i] >= 0, "[as_strided] invalid shape {} / strides {}",
               shape_str(shape), shape_str(strides));
    if (shape[i] > 0) last += (shape[i] - 1) * strides[i];
  }
  size_t cap = t.storage() ? t.storage()->nbytes() / t.itemsize() : 0;
  COIL_CHECK(offset >= 0 && (shape_numel(shape) == 0 || size_t(last) < cap),
             "[as_strided] view {} strides {} offset {} reaches past the storage ({} elements)",
             shape_str(shape), shape_str(strides), offset, cap);
  return make_view(t, std::move(shape), std::move(strides), offset);
}

}  // namespace coil::core
