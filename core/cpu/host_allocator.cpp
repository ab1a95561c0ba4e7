// Size-keyed cache of large host blocks in front of aligned_alloc/free.
#include "core/cpu/host_allocator.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace coil::cpu {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = size_t(256) << 10;  // smaller blocks: glibc's own bins are fast
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kCacheMax = 0;  // let ASan see every free
#else
constexpr size_t kCacheMax = size_t(8) << 30;  // never hold more than this for reuse
#endif

size_t rounded(size_t n) {
  size_t unit = n >= kCacheMin ? 4096 : kAlign;
  return (n + unit - 1) / unit * unit;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // leaked on purpose: storages may be freed during exit
  return *c;
}

}  // namespace

void* host_alloc(size_t nbytes) {
  size_t n = rounded(nbytes);
  if (n < kCacheMin) {  // small blocks: malloc's 16-byte alignment is enough for CPU kernels
    void* p = std::malloc(n);
    COIL_CHECK(p != nullptr, "[alloc] out of host memory allocating {} bytes", nbytes);
    return p;
  }
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(n);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.bytes -= n;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, n);
  COIL_CHECK(p != nullptr, "[alloc] out of host memory allocating {} bytes", nbytes);
  return p;
}

void host_free(void* ptr, size_t nbytes) noexcept {
  size_t n = rounded(nbytes);
  if (n >= kCacheMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.bytes + n <= kCacheMax) {
      try {
        c.free_blocks[n].push_back(ptr);
        c.bytes += n;
        return;
      } catch (...) {  // bookkeeping allocation failed: just free the block
      }
    }
  }
  std::free(ptr);
}

size_t host_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

void host_cache_clear() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [n, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.bytes = 0;
}

}  // namespace coil::cpu
