// The seam between device-independent front ends and the CUDA backend. Every function here
// throws "[op] coil was built without CUDA" in a CPU-only build (see COIL_CUDA_ONLY).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/error.h"

namespace coil::cuda {

void* malloc_async(size_t nbytes, int device);    // on the device's compute stream
void free_async(void* ptr, int device) noexcept;  // never throws: called from destructors
// Copies between host and device or device and device. Host-bound copies (and copies between
// two devices) synchronise with the source's compute stream through synchronize(): the caller
// reads the host buffer right after.
void memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);
// Waits for the device's compute stream. Errors that kernels found on their inputs (an
// out-of-range class target or embedding index) are deferred to here: kernels never make the
// host wait, so synchronize() and therefore every host-bound memcpy (item(), to(cpu),
// to_vector()) throw coil::Error for the first such error queued before them, after the wait
// has completed (the copied data is valid). Neither DeviceEvent::synchronize (core/pinned.h;
// the loader's destructor waits on events) nor free_async checks: destructors must not throw.
void synchronize(int device);
// Host waits core/cuda has performed so far, over all devices: synchronize(), the memcpys that
// call it, and DeviceEvent::synchronize. Tests use it to prove a training step waits nowhere.
uint64_t host_sync_count();

}  // namespace coil::cuda

#if defined(COIL_WITH_CUDA)
#define COIL_CUDA_ONLY(op, ...) \
  do {                          \
    (void)(op);                 \
    __VA_ARGS__;                \
  } while (0)
#else
#define COIL_CUDA_ONLY(op, ...) COIL_FAIL("[{}] coil was built without CUDA", op)
#endif

// For an op's cuda:: kernel function that does not exist yet: fail loudly, never fall back.
#define COIL_NO_CUDA_KERNEL(op) COIL_FAIL("[{}] has no CUDA implementation", op)
