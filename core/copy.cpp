// copy_/fill_/contiguous/clone/to: the one place where data crosses strides, dtypes and devices.
#include "core/copy.h"

#include "core/kernels.h"
#include "core/views.h"

namespace coil::core {

void copy_(const Tensor& dst, const Tensor& src) {
  COIL_CHECK(dst.defined() && src.defined(), "[copy_] undefined tensor");
  COIL_CHECK(src.shape() == dst.shape() ||
                 broadcast_shapes(src.shape(), dst.shape(), "copy_") == dst.shape(),
             "[copy_] cannot broadcast source {} to destination {}", shape_str(src.shape()),
             shape_str(dst.shape()));
  Tensor s = src.shape() == dst.shape() ? src : expand(src, dst.shape());
  if (dst.numel() == 0) return;
  if (s.device() == dst.device()) {
    COIL_DEVICE_CALL("copy_", dst.device(), copy, dst, s);
    return;
  }
  // Across devices: make a dense block in dst's dtype on the source device, move the bytes,
  // then scatter into dst's strides on its own device if needed.
  Tensor dense = contiguous(to(s, dst.dtype()));
  if (dst.is_contiguous()) {
    COIL_CUDA_ONLY("copy_", cuda::memcpy(dst.data_ptr(), dst.device(), dense.data_ptr(),
                                         dense.device(), dst.nbytes()));
    return;
  }
  Tensor staged = empty(dst.shape(), dst.options());
  COIL_CUDA_ONLY("copy_", cuda::memcpy(staged.data_ptr(), staged.device(), dense.data_ptr(),
                                       dense.device(), dst.nbytes()));
  COIL_DEVICE_CALL("copy_", dst.device(), copy, dst, staged);
}

void fill_(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  COIL_DEVICE_CALL("fill_", dst.device(), fill, dst, value);
}

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  return clone(t);
}

Tensor clone(const Tensor& t) {
  Tensor out = empty_like(t);
  copy_(out, t);
  return out;
}

Tensor to(const Tensor& t, Device d) {
  if (t.device() == d) return t;
  Tensor out = empty(t.shape(), {t.dtype(), d});
  copy_(out, t);
  return out;
}

Tensor to(const Tensor& t, DType dt) {
  if (t.dtype() == dt) return t;
  Tensor out = empty(t.shape(), {dt, t.device()});
  copy_(out, t);
  return out;
}

}  // namespace coil::core
