// core/cuda/device_error.h: the per-device error records with their pinned host mirrors, the
// table of message formats, and the check that rides along with every host synchronisation.
#include <array>
#include <mutex>
#include <vector>

#include "core/backend.h"
#include "core/cuda/context.h"
#include "core/cuda/device_error.h"

namespace coil::cuda {
namespace {

constexpr int kMaxDevices = 64;

struct Slot {
  std::once_flag once;
  DeviceErrorRecord* record = nullptr;  // device memory, written by kernels
  DeviceErrorRecord* mirror = nullptr;  // pinned host memory: the copy read after a sync
  std::mutex mu;                        // one check at a time: the mirror is shared
};

// Allocated once per device and kept for the process: at exit the driver may already be gone.
Slot& slot(int device) {
  static std::array<Slot, kMaxDevices> slots;
  cudaStream_t s = stream(device);  // validates the device index
  Slot& sl = slots[size_t(device)];
  std::call_once(sl.once, [&] {
    DeviceGuard guard(device);
    COIL_CUDA_CHECK(cudaMalloc(&sl.record, sizeof(DeviceErrorRecord)));
    // On the compute stream, so every kernel launched later sees the zeros.
    COIL_CUDA_CHECK(cudaMemsetAsync(sl.record, 0, sizeof(DeviceErrorRecord), s));
    COIL_CUDA_CHECK(cudaHostAlloc(&sl.mirror, sizeof(DeviceErrorRecord), cudaHostAllocDefault));
  });
  return sl;
}

struct Formats {
  std::mutex mu;
  std::vector<DeviceErrorFormat> list;
};

Formats& formats() {
  static Formats f;
  return f;
}

std::string message_of(const DeviceErrorRecord& r) {
  DeviceErrorFormat format = nullptr;
  {
    std::lock_guard<std::mutex> lock(formats().mu);
    if (r.kind >= 0 && size_t(r.kind) < formats().list.size())
      format = formats().list[size_t(r.kind)];
  }
  // Only a kernel writing past its own memory could leave an unregistered kind here.
  std::string what = format ? format(r.values)
                            : fmt::format(
                                  "[cuda] a kernel reported error kind {}, which no op "
                                  "registered",
                                  r.kind);
  return what + "\n  (found by a CUDA kernel; reported at the next host synchronisation)";
}

}  // namespace

int register_device_error(DeviceErrorFormat format) {
  std::lock_guard<std::mutex> lock(formats().mu);
  formats().list.push_back(format);
  return int(formats().list.size()) - 1;
}

DeviceErrorRecord* device_error_record(int device) { return slot(device).record; }

void synchronize_and_check(int device) {
  Slot& sl = slot(device);
  cudaStream_t s = stream(device);
  std::lock_guard<std::mutex> lock(sl.mu);
  DeviceGuard guard(device);
  // Queued behind all earlier work, so the one wait below covers both: no extra sync.
  COIL_CUDA_CHECK(
      cudaMemcpyAsync(sl.mirror, sl.record, sizeof(DeviceErrorRecord), cudaMemcpyDeviceToHost, s));
  COIL_CUDA_CHECK(cudaStreamSynchronize(s));
  note_host_sync();
  if (sl.mirror->claim == 0) return;
  const DeviceErrorRecord found = *sl.mirror;
  // Stream-ordered: kernels queued from now on report into a clean record.
  COIL_CUDA_CHECK(cudaMemsetAsync(sl.record, 0, sizeof(DeviceErrorRecord), s));
  throw Error(message_of(found));
}

}  // namespace coil::cuda
