// The seam between device-independent front ends and the CUDA backend. Every function here
// throws "[op] coil was built without CUDA" in a CPU-only build (see COIL_CUDA_ONLY).
#pragma once
#include <cstddef>

#include "core/device.h"
#include "core/error.h"

namespace coil::cuda {

void* malloc_async(size_t nbytes, int device);   // on the device's compute stream
void free_async(void* ptr, int device) noexcept;  // never throws: called from destructors
// Copies between host and device or device and device. Host-bound copies synchronise the
// stream (the caller reads the host buffer right after).
void memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);
void synchronize(int device);                     // waits for the device's compute stream

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
