// Tensor: a cheap handle to shared metadata (shape, strides, offset, dtype, device) that points at
// a refcounted Storage. Copying a Tensor shares everything; views share the Storage only.
//
// "Contiguous" means: the elements form one dense row-major block starting at data_ptr(), i.e.
// stride[i] == product of shape[i+1:] for every dimension of size > 1 (size-1 dimensions may
// carry any stride, and the offset into the storage may be anything).
#pragma once
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace coil {

struct AutogradMeta;  // defined by autograd/; core only carries the pointer

struct TensorImpl {
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  Device device;
  std::shared_ptr<Storage> storage;
  std::shared_ptr<AutogradMeta> autograd;
};

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;  // likewise
  int64_t offset() const { return impl().offset; }
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  TensorOptions options() const { return {dtype(), device()}; }
  size_t itemsize() const { return dtype_size(dtype()); }
  size_t nbytes() const { return size_t(numel()) * itemsize(); }
  bool is_contiguous() const;

  // Address of the first element (storage base + offset). Device memory for CUDA tensors.
  void* data_ptr() const;
  template <class T>
  T* data() const {
    COIL_CHECK(dtype_of<T> == dtype(), "[data] tensor has dtype {}, not {}", dtype_name(dtype()),
               dtype_name(dtype_of<T>));
    return static_cast<T*>(data_ptr());
  }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  // The one element of a tensor with numel()==1, converted to T. Synchronises with the device.
  template <class T>
  T item() const;
  // All elements in row-major order, converted to T. Synchronises with the device.
  template <class T>
  std::vector<T> to_vector() const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A new tensor over existing storage (views) or fresh storage (empty).
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);

// Short description for error messages: "f32 (2, 3) on cuda:0".
std::string describe(const Tensor& t);

}  // namespace coil

// fmt::print("{}", t) prints dtype, device, shape and the values (abbreviated when large).
template <>
struct fmt::formatter<coil::Tensor> : fmt::formatter<std::string_view> {
  auto format(const coil::Tensor& t, format_context& ctx) const -> format_context::iterator;
};
