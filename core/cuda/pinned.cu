// core/pinned.h on CUDA: cudaHostAlloc'd buffers, events, and a lazily created copy stream per
// device (non-blocking, like the compute stream, so neither waits on the legacy default stream).
#include <array>
#include <mutex>
#include <utility>

#include "core/cuda/context.h"
#include "core/device.h"
#include "core/pinned.h"

namespace coil {
namespace {

constexpr int kMaxDevices = 64;

cudaStream_t stream_of(int device, StreamKind s) {
  if (s == StreamKind::compute) return cuda::stream(device);
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<cudaStream_t, kMaxDevices> copy{};
  COIL_CHECK(device >= 0 && device < cuda_device_count() && device < kMaxDevices,
             "[pinned] device cuda:{} does not exist ({} visible)", device, cuda_device_count());
  std::call_once(once[size_t(device)], [&] {
    cuda::DeviceGuard guard(device);
    COIL_CUDA_CHECK(cudaStreamCreateWithFlags(&copy[size_t(device)], cudaStreamNonBlocking));
  });
  return copy[size_t(device)];
}

}  // namespace

PinnedBuffer::PinnedBuffer(size_t nbytes) : size_(nbytes) {
  if (nbytes == 0) return;
  cudaError_t err = cudaHostAlloc(&data_, nbytes, cudaHostAllocDefault);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    COIL_FAIL("[pinned] out of page-locked host memory allocating {} bytes", nbytes);
  }
  COIL_CUDA_CHECK(err);
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) (void)cudaFreeHost(data_);  // at process exit the driver may be gone: never throw
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  return *this;
}

DeviceEvent::DeviceEvent(int device) : device_(device) {
  cuda::DeviceGuard guard(device);
  cudaEvent_t e;
  COIL_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  event_ = e;
}

DeviceEvent::~DeviceEvent() {
  if (event_) (void)cudaEventDestroy(static_cast<cudaEvent_t>(event_));
}

void DeviceEvent::record(StreamKind s) {
  cuda::DeviceGuard guard(device_);
  COIL_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_), stream_of(device_, s)));
}

void DeviceEvent::block(StreamKind s) const {
  cuda::DeviceGuard guard(device_);
  COIL_CUDA_CHECK(cudaStreamWaitEvent(stream_of(device_, s), static_cast<cudaEvent_t>(event_), 0));
}

// Waits for the mark only and never checks the device error record (core/cuda/device_error.h):
// the loader waits on events from its destructor (data::Loader::stop), which must not throw.
void DeviceEvent::synchronize() const {
  COIL_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_)));
  cuda::note_host_sync();
}

void upload_async(void* device_dst, const void* pinned_src, size_t nbytes, int device,
                  StreamKind s) {
  if (nbytes == 0) return;
  cuda::DeviceGuard guard(device);
  COIL_CUDA_CHECK(cudaMemcpyAsync(device_dst, pinned_src, nbytes, cudaMemcpyHostToDevice,
                                  stream_of(device, s)));
}

void download_async(void* pinned_dst, const void* device_src, size_t nbytes, int device,
                    StreamKind s) {
  if (nbytes == 0) return;
  cuda::DeviceGuard guard(device);
  COIL_CUDA_CHECK(cudaMemcpyAsync(pinned_dst, device_src, nbytes, cudaMemcpyDeviceToHost,
                                  stream_of(device, s)));
}

}  // namespace coil
