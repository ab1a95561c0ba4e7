// Errors found by CUDA kernels, reported without a host wait: a sticky per-device record in
// device memory that a kernel fills on bad input (a class target or an embedding index out of
// range), read back by the host at the synchronisations it performs anyway (core/backend.h
// lists them), which then throw coil::Error. Included only by CUDA-enabled code.
#pragma once
#include <cstdint>
#include <string>

namespace coil::cuda {

inline constexpr int kDeviceErrorValues = 6;

// One per device, in device memory; all zero while no error is pending.
struct DeviceErrorRecord {
  unsigned int claim;  // 0: free; the first report sets it to 1
  int kind;            // from register_device_error
  int64_t values[kDeviceErrorValues];
};

// Builds the message of one kind from the values its kernel reported. The message starts with
// "[op] " like every coil::Error.
using DeviceErrorFormat = std::string (*)(const int64_t* values);

// A new kind for `format` (thread-safe). An op calls it once, from a function-local static next
// to its launch: explicit, where a static initialiser at namespace scope could be dropped by the
// static library. Kinds are registered, not a fixed enum, because core must not name the ops.
int register_device_error(DeviceErrorFormat format);

// The record of `device` (allocated and zeroed on the device's first use).
DeviceErrorRecord* device_error_record(int device);

// Host: waits for the compute stream of `device` (one cudaStreamSynchronize, counted by
// host_sync_count) and brings the record back with it. If a kernel reported an error, clears the
// record and throws coil::Error with the formatted message; work queued before the call has
// completed either way.
void synchronize_and_check(int device);

#if defined(__CUDACC__)
// Device: the first report wins (atomicCAS on the claim word, then plain stores: the host reads
// them only after the kernel has finished); later reports are dropped. With several bad entries,
// which one is reported depends on scheduling.
template <class... V>
__device__ inline void report_device_error(DeviceErrorRecord* r, int kind, V... values) {
  static_assert(sizeof...(V) <= kDeviceErrorValues, "too many values for a DeviceErrorRecord");
  // A plain read first: once the record is claimed, later reporters leave without an atomic.
  if (*static_cast<volatile unsigned int*>(&r->claim) != 0u) return;
  if (atomicCAS(&r->claim, 0u, 1u) != 0u) return;
  r->kind = kind;
  int i = 0;
  ((r->values[i++] = int64_t(values)), ...);
}
#endif

}  // namespace coil::cuda
