// Tensor metadata accessors, allocation helpers and host read-back.
#include "core/tensor.h"

#include "core/copy.h"
#include "core/dispatch.h"

namespace coil {

TensorImpl& Tensor::impl() const {
  COIL_CHECK(impl_ != nullptr, "[tensor] use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, shape(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[normalize_dim(d, shape(), "stride")]; }

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  const auto& im = impl();
  if (!im.storage || !im.storage->data()) return nullptr;
  return static_cast<char*>(im.storage->data()) + im.offset * int64_t(dtype_size(im.dtype));
}

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->device = base.device();
  impl->storage = base.storage();
  return Tensor(std::move(impl));
}

Tensor empty(const Shape& shape, TensorOptions opts) {
  // A size product that wraps around would allocate too little and let kernels write past it.
  int64_t numel = 1, nbytes = 0;
  bool overflow = false, has_zero = false;
  for (int64_t d : shape) {
    COIL_CHECK(d >= 0, "[empty] negative dimension in shape {}", shape_str(shape));
    overflow |= __builtin_mul_overflow(numel, d, &numel);
    has_zero |= d == 0;
  }
  overflow |= __builtin_mul_overflow(numel, int64_t(dtype_size(opts.dtype)), &nbytes);
  COIL_CHECK(!overflow || has_zero, "[empty] shape {} of {} is too large to allocate",
             shape_str(shape), dtype_name(opts.dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  impl->device = opts.device;
  impl->storage = make_storage(size_t(has_zero ? 0 : nbytes), opts.device);
  return Tensor(std::move(impl));
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.options()); }

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return fmt::format("{} {} on {}", dtype_name(t.dtype()), shape_str(t.shape()), t.device().str());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = core::contiguous(core::to(core::to(*this, Device::cpu()), dtype_of<T>));
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

template <class T>
T Tensor::item() const {
  COIL_CHECK(numel() == 1, "[item] needs a tensor with one element, got shape {}",
             shape_str(shape()));
  return to_vector<T>()[0];
}

#define COIL_INSTANTIATE_READBACK(T)                  \
  template std::vector<T> Tensor::to_vector<T>() const; \
  template T Tensor::item<T>() const;
COIL_INSTANTIATE_READBACK(float)
COIL_INSTANTIATE_READBACK(double)
COIL_INSTANTIATE_READBACK(int32_t)
COIL_INSTANTIATE_READBACK(int64_t)
COIL_INSTANTIATE_READBACK(uint8_t)
COIL_INSTANTIATE_READBACK(bool)
#undef COIL_INSTANTIATE_READBACK

}  // namespace coil
