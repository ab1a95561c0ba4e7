// Storage allocation: cached aligned host memory, or stream-ordered device memory from the CUDA pool.
#include "core/storage.h"

#include "core/backend.h"
#include "core/cpu/host_allocator.h"
#include "core/error.h"

namespace coil {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (nbytes == 0) return;
  if (device.is_cpu()) {
    data_ = cpu::host_alloc(nbytes);
  } else {
    COIL_CUDA_ONLY("alloc", data_ = cuda::malloc_async(nbytes, device.index));
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_.is_cpu()) cpu::host_free(data_, nbytes_);
#if defined(COIL_WITH_CUDA)
  else cuda::free_async(data_, device_.index);
#endif
}

std::shared_ptr<Storage> make_storage(size_t nbytes, Device device) {
  return std::make_shared<Storage>(nbytes, device);
}

}  // namespace coil
