// Storage allocation: aligned host memory, or stream-ordered device memory from the CUDA pool.
#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/backend.h"
#include "core/error.h"

namespace coil {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (nbytes == 0) return;
  if (device.is_cpu()) {
    size_t rounded = (nbytes + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded);
    COIL_CHECK(data_ != nullptr, "[alloc] out of host memory allocating {} bytes", nbytes);
  } else {
    COIL_CUDA_ONLY("alloc", data_ = cuda::malloc_async(nbytes, device.index));
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_.is_cpu()) std::free(data_);
#if defined(COIL_WITH_CUDA)
  else cuda::free_async(data_, device_.index);
#endif
}

std::shared_ptr<Storage> make_storage(size_t nbytes, Device device) {
  return std::make_shared<Storage>(nbytes, device);
}

}  // namespace coil
