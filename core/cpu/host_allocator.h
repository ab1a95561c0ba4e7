// Host memory for CPU tensors: 64-byte aligned, with freed large blocks kept for reuse so that a
// training step's same-sized temporaries do not pay fresh page faults every time (glibc returns
// blocks above its mmap threshold to the kernel on free).
#pragma once
#include <cstddef>

namespace coil::cpu {

void* host_alloc(size_t nbytes);
void host_free(void* ptr, size_t nbytes) noexcept;
size_t host_cached_bytes();  // held for reuse right now
void host_cache_clear();     // returns every cached block to the system

}  // namespace coil::cpu
