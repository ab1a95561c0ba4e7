// Per-device CUDA state (stream, cuBLAS handle, memory pool), memory and copies.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/backend.h"
#include "core/cuda/context.h"
#include "core/cuda/device_error.h"
#include "core/cuda/launch.cuh"

namespace coil {

int cuda_device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: a CPU-only machine
      return 0;
    }
    return n;
  }();
  return count;
}

namespace cuda {
namespace {

constexpr int kMaxDevices = 64;

std::atomic<uint64_t> host_syncs{0};  // every host wait core/cuda performs, all devices

struct DeviceState {
  std::once_flag once;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  int sm_count = 0;
};

std::array<DeviceState, kMaxDevices>& states() {
  static std::array<DeviceState, kMaxDevices> s;
  return s;
}

DeviceState& state(int device) {
  COIL_CHECK(device >= 0 && device < cuda_device_count() && device < kMaxDevices,
             "[cuda] device cuda:{} does not exist ({} visible)", device, cuda_device_count());
  DeviceState& st = states()[size_t(device)];
  std::call_once(st.once, [&] {
    DeviceGuard guard(device);
    COIL_CUDA_CHECK(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking));
    // Keep freed blocks in the pool instead of returning them to the driver at every sync.
    cudaMemPool_t pool;
    COIL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep_all = UINT64_MAX;
    COIL_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
    COIL_CUDA_CHECK(cudaDeviceGetAttribute(&st.sm_count, cudaDevAttrMultiProcessorCount, device));
    COIL_CUBLAS_CHECK(cublasCreate(&st.cublas));
    COIL_CUBLAS_CHECK(cublasSetStream(st.cublas, st.stream));
  });
  return st;
}

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  COIL_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) COIL_CUDA_CHECK(cudaSetDevice(device));
}
DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
}

cudaStream_t stream(int device) { return state(device).stream; }
cublasHandle_t cublas_handle(int device) { return state(device).cublas; }
int sm_count(int device) { return state(device).sm_count; }

void* malloc_async(size_t nbytes, int device) {
  DeviceGuard guard(device);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, nbytes, stream(device));
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    COIL_FAIL("[alloc] out of memory on cuda:{} allocating {} bytes", device, nbytes);
  }
  COIL_CUDA_CHECK(err);
  return p;
}

void free_async(void* ptr, int device) noexcept {
  // At process exit the driver may already be gone; a failed free must not throw.
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) return;
  if (prev != device) (void)cudaSetDevice(device);
  if (device < kMaxDevices && states()[size_t(device)].stream)
    (void)cudaFreeAsync(ptr, states()[size_t(device)].stream);
  if (prev != device) (void)cudaSetDevice(prev);
  (void)cudaGetLastError();
}

void memcpy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cuda() && src_dev.is_cuda()) {
    if (dst_dev.index != src_dev.index) synchronize(src_dev.index);
    DeviceGuard guard(dst_dev.index);
    COIL_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, nbytes,
                                        stream(dst_dev.index)));
  } else if (dst_dev.is_cuda()) {
    // From pageable host memory: the call returns once the source has been staged.
    DeviceGuard guard(dst_dev.index);
    COIL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream(dst_dev.index)));
  } else {
    DeviceGuard guard(src_dev.index);
    COIL_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream(src_dev.index)));
    synchronize(src_dev.index);  // the caller reads dst next (complete even when this throws)
  }
}

void synchronize(int device) { synchronize_and_check(device); }

void note_host_sync() { host_syncs.fetch_add(1, std::memory_order_relaxed); }
uint64_t host_sync_count() { return host_syncs.load(std::memory_order_relaxed); }

const char* cublas_status_name(cublasStatus_t s) { return cublasGetStatusName(s); }

const char* cufft_result_name(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    default: return "cufftResult error";
  }
}

}  // namespace cuda
}  // namespace coil
