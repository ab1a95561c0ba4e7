// Page-locked host memory, CUDA events and a second (copy) stream per device: the pieces of
// asynchronous copies between host and device (the loader's uploads overlap compute; the
// trainer reads a device flag a step late without stalling). CPU-only builds throw on use.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace coil {

// A page-locked host allocation (cudaHostAlloc): copies from and to it are truly asynchronous.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t nbytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// A device's streams: the one every kernel runs on, and one for uploads that overlap it.
enum class StreamKind : uint8_t { compute, copy };

// A CUDA event of one device (timing off).
class DeviceEvent {
 public:
  explicit DeviceEvent(int device);
  ~DeviceEvent();
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;

  void record(StreamKind s);       // marks the work queued on that stream so far
  void block(StreamKind s) const;  // later work on that stream waits for the mark (host free)
  void synchronize() const;        // the host waits for the mark
  int device() const { return device_; }

 private:
  void* event_ = nullptr;
  int device_ = 0;
};

// Stream-ordered copies between pinned host memory and memory of cuda:`device`. The host must
// keep the pinned side untouched until an event recorded after the copy has completed.
void upload_async(void* device_dst, const void* pinned_src, size_t nbytes, int device,
                  StreamKind s);
void download_async(void* pinned_dst, const void* device_src, size_t nbytes, int device,
                    StreamKind s);

}  // namespace coil
