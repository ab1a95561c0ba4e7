// core/pinned.h in a CPU-only build: nothing can be created, so nothing else is ever called.
#include "core/pinned.h"

#include <utility>

#include "core/error.h"

namespace coil {
#if !defined(COIL_WITH_CUDA)

namespace {
[[noreturn]] void no_cuda() { COIL_FAIL("[pinned] coil was built without CUDA"); }
}  // namespace

PinnedBuffer::PinnedBuffer(size_t) { no_cuda(); }
PinnedBuffer::~PinnedBuffer() = default;
PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), size_(o.size_) {
  o.data_ = nullptr;
  o.size_ = 0;
}
PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  return *this;
}
DeviceEvent::DeviceEvent(int) { no_cuda(); }
DeviceEvent::~DeviceEvent() = default;
void DeviceEvent::record(StreamKind) { no_cuda(); }
void DeviceEvent::block(StreamKind) const { no_cuda(); }
void DeviceEvent::synchronize() const { no_cuda(); }
void upload_async(void*, const void*, size_t, int, StreamKind) { no_cuda(); }
void download_async(void*, const void*, size_t, int, StreamKind) { no_cuda(); }

#endif
}  // namespace coil
