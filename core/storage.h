// Storage: one refcounted allocation on one device. Tensors view into it.
#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace coil {

class Storage {
 public:
  // CPU memory: 16-byte aligned (64 for blocks >= 256 KiB); CUDA memory comes stream-ordered
  // from the device's pool (256-byte aligned).
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

std::shared_ptr<Storage> make_storage(size_t nbytes, Device device);

}  // namespace coil
