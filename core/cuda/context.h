// Per-device CUDA state: one compute stream, one cuBLAS handle, the device's memory pool, and
// the check macros for CUDA, cuBLAS and cuFFT calls. Included only by CUDA-enabled code.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include "core/error.h"

namespace coil::cuda {

cudaStream_t stream(int device);           // the device's compute stream (created on first use)
cublasHandle_t cublas_handle(int device);  // bound to that stream
const char* cublas_status_name(cublasStatus_t s);
const char* cufft_result_name(cufftResult r);
// Counts one host wait for host_sync_count (core/backend.h); called where core/cuda waits.
void note_host_sync();

// Makes `device` current for the scope and restores the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace coil::cuda

#define COIL_CUDA_CHECK(expr)                                                                  \
  do {                                                                                         \
    cudaError_t coil_err_ = (expr);                                                            \
    if (coil_err_ != cudaSuccess) [[unlikely]]                                                 \
      ::coil::detail::fail_api("cuda", __FILE__, __LINE__, #expr,                              \
                               ::fmt::format("{} ({})", cudaGetErrorName(coil_err_),              \
                                          cudaGetErrorString(coil_err_)));                  \
  } while (0)

#define COIL_CUBLAS_CHECK(expr)                                                                \
  do {                                                                                         \
    cublasStatus_t coil_st_ = (expr);                                                          \
    if (coil_st_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]                                        \
      ::coil::detail::fail_api("cublas", __FILE__, __LINE__, #expr,                            \
                               ::coil::cuda::cublas_status_name(coil_st_));                    \
  } while (0)

#define COIL_CUFFT_CHECK(expr)                                                                 \
  do {                                                                                         \
    cufftResult coil_res_ = (expr);                                                            \
    if (coil_res_ != CUFFT_SUCCESS) [[unlikely]]                                               \
      ::coil::detail::fail_api("cufft", __FILE__, __LINE__, #expr,                             \
                               ::coil::cuda::cufft_result_name(coil_res_));                    \
  } while (0)

// After a kernel launch: surfaces launch-configuration errors at the launch site.
#define COIL_CUDA_CHECK_LAUNCH() COIL_CUDA_CHECK(cudaGetLastError())
