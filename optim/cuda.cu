// CUDA multi-tensor kernels: the descriptors of the tensors (each with the index of its first
// chunk) travel as a kernel parameter, up to Batch::kCap a launch, and one grid walks every chunk
// of the batch's tensors; a block finds its tensor by binary search over the chunk starts. A
// parameter needs no copy: copying descriptors from pageable host memory could make the host
// wait for the stream inside a training step. The norm is a fixed tree per chunk, then one block
// sums the chunk partials in order: bitwise reproducible, no atomics, however the list is batched.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/factory.h"
#include "optim/kernels.h"

namespace coil::cuda {
namespace {

using optim::kChunk;
constexpr int kThreads = 512;  // fixed: the norm's reduction tree depends on it

template <class Item>
struct Indexed {
  Item item;
  int64_t first_chunk;
};

// Descriptors of the non-empty tensors with their first chunk, and the total chunk count.
template <class Item>
std::vector<Indexed<Item>> index_chunks(const std::vector<Item>& list, int64_t& total) {
  std::vector<Indexed<Item>> out;
  total = 0;
  for (const Item& it : list) {
    if (it.numel == 0) continue;
    out.push_back({it, total});
    total += (it.numel + kChunk - 1) / kChunk;
  }
  return out;
}

// Descriptors of consecutive tensors as one kernel parameter (sm_70+ and CUDA 12.1+ allow
// 32764 bytes of parameters), covering the global chunks [chunk_begin, chunk_end).
template <class Item>
struct Batch {
  static constexpr int kCap = int((31 * 1024) / sizeof(Indexed<Item>));
  Indexed<Item> items[kCap];
  int n;
  int64_t chunk_begin, chunk_end;
};

// Calls launch(batch) for each run of up to kCap descriptors of `indexed` (total: its chunks).
template <class Item, class Launch>
void for_each_batch(const std::vector<Indexed<Item>>& indexed, int64_t total, Launch&& launch) {
  static thread_local Batch<Item> batch;  // ~31 KB: not on the stack
  for (size_t i = 0; i < indexed.size(); i += Batch<Item>::kCap) {
    batch.n = int(std::min<size_t>(Batch<Item>::kCap, indexed.size() - i));
    std::copy_n(indexed.begin() + std::ptrdiff_t(i), batch.n, batch.items);
    batch.chunk_begin = indexed[i].first_chunk;
    batch.chunk_end =
        i + size_t(batch.n) < indexed.size() ? indexed[i + size_t(batch.n)].first_chunk : total;
    launch(batch);
  }
}

// The tensor holding chunk c of the batch: the last one whose first chunk is <= c.
template <class Item>
__device__ __forceinline__ const Indexed<Item>& find_chunk(const Batch<Item>& b, int64_t c) {
  int lo = 0, hi = b.n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (b.items[mid].first_chunk <= c) lo = mid;
    else hi = mid - 1;
  }
  return b.items[lo];
}

template <class T>
__global__ void update_kernel(const __grid_constant__ Batch<optim::TensorUpdate> batch,
                              optim::Algorithm algorithm, const int64_t* skip) {
  if (skip && *skip != 0) return;  // a non-finite step: leave everything as it is
  for (int64_t c = batch.chunk_begin + blockIdx.x; c < batch.chunk_end; c += gridDim.x) {
    const auto& d = find_chunk(batch, c);
    const optim::TensorUpdate& u = d.item;
    const optim::Coeffs<T> k = optim::make_coeffs<T>(algorithm, u.s);
    const int64_t begin = (c - d.first_chunk) * kChunk;
    const int64_t end = begin + kChunk < u.numel ? begin + kChunk : u.numel;
    T* p = static_cast<T*>(u.param);
    const T* g = static_cast<const T*>(u.grad);
    T* b1 = static_cast<T*>(u.buf1);
    T* b2 = static_cast<T*>(u.buf2);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      T pi = p[i];
      if (algorithm == optim::Algorithm::sgd) {
        T unused = T(0);
        T& bi = b1 ? b1[i] : unused;
        optim::sgd_element<T>(k, pi, g[i], bi);
      } else {
        T m = b1[i], v = b2[i];
        optim::adam_element<T>(k, pi, g[i], m, v);
        b1[i] = m;
        b2[i] = v;
      }
      p[i] = pi;
    }
  }
}

// Sum of a block's values in a fixed tree; the result is valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double shared[kThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  return shared[0];
}

// partial[c] = sum of squares of chunk c, in double; owner[c] = its tensor's index in the list.
template <class T>
__global__ void sum_squares_kernel(const __grid_constant__ Batch<optim::TensorSpan> batch,
                                   double* partial, int64_t* owner) {
  for (int64_t c = batch.chunk_begin + blockIdx.x; c < batch.chunk_end; c += gridDim.x) {
    const auto& d = find_chunk(batch, c);
    const int64_t begin = (c - d.first_chunk) * kChunk;
    const int64_t end = begin + kChunk < d.item.numel ? begin + kChunk : d.item.numel;
    const T* x = static_cast<const T*>(d.item.data);
    double acc = 0;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      acc += double(x[i]) * double(x[i]);
    double total = block_sum(acc);
    if (threadIdx.x == 0) partial[c] = total, owner[c] = d.item.index;
    __syncthreads();  // shared memory is reused by the next chunk
  }
}

// Smallest of a block's values; the result is valid in thread 0.
__device__ int64_t block_min(int64_t v) {
  __shared__ int64_t shared[kThreads];
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s && shared[threadIdx.x + s] < shared[threadIdx.x])
      shared[threadIdx.x] = shared[threadIdx.x + s];
    __syncthreads();
  }
  return shared[0];
}

// One block: out = sqrt(sum of the partials), each thread summing a fixed stride of them. With
// first_bad: the index of the tensor of the first chunk whose partial is not finite (a chunk's
// sum of squares in double is non-finite exactly when it holds a NaN or Inf), or -1.
template <class T>
__global__ void finish_norm_kernel(const double* partial, const int64_t* owner, int64_t chunks,
                                   T* out, int64_t* first_bad) {
  double acc = 0;
  int64_t bad = chunks;
  for (int64_t c = threadIdx.x; c < chunks; c += blockDim.x) {
    acc += partial[c];
    if (!optim::is_finite(partial[c]) && c < bad) bad = c;
  }
  double total = block_sum(acc);
  if (threadIdx.x == 0) *out = T(sqrt(total));
  if (!first_bad) return;  // uniform over the block: every thread returns or none
  __syncthreads();
  bad = block_min(bad);
  if (threadIdx.x == 0) *first_bad = bad < chunks ? owner[bad] : -1;
}

// One thread: the flag of optim/nonfinite.h, reading loss and norm in their dtypes.
__global__ void record_nonfinite_kernel(int64_t* flag, const void* loss, bool loss_f64,
                                        const void* norm, bool norm_f64, const int64_t* first_bad,
                                        int64_t step) {
  const double l = loss_f64 ? *static_cast<const double*>(loss) : *static_cast<const float*>(loss);
  const double g = norm_f64 ? *static_cast<const double*>(norm) : *static_cast<const float*>(norm);
  optim::record_nonfinite_step(flag, l, g, first_bad ? *first_bad : -1, step);
}

template <class T>
__global__ void clip_kernel(const __grid_constant__ Batch<optim::TensorSpan> batch, const T* norm,
                            double max_norm) {
  const T coef = optim::clip_coefficient<T>(*norm, max_norm);
  if (coef == T(1)) return;  // multiplying by 1 changes nothing
  for (int64_t c = batch.chunk_begin + blockIdx.x; c < batch.chunk_end; c += gridDim.x) {
    const auto& d = find_chunk(batch, c);
    const int64_t begin = (c - d.first_chunk) * kChunk;
    const int64_t end = begin + kChunk < d.item.numel ? begin + kChunk : d.item.numel;
    T* x = static_cast<T*>(d.item.data);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) x[i] *= coef;
  }
}

unsigned grid_of(int64_t chunks, int device) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(chunks, int64_t(sm_count(device)) * 8)));
}

}  // namespace

void optim_update(DType dtype, Device device, optim::Algorithm algorithm,
                  const std::vector<optim::TensorUpdate>& list, const int64_t* skip) {
  DeviceGuard guard(device.index);
  int64_t chunks = 0;
  auto indexed = index_chunks(list, chunks);
  if (chunks == 0) return;
  dispatch<DType::f32, DType::f64>(dtype, "Optimizer", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_batch(indexed, chunks, [&](const Batch<optim::TensorUpdate>& b) {
      update_kernel<T><<<grid_of(b.chunk_end - b.chunk_begin, device.index), kThreads, 0,
                         stream(device.index)>>>(b, algorithm, skip);
      COIL_CUDA_CHECK_LAUNCH();
    });
  });
}

void optim_global_norm(DType dtype, Device device, const std::vector<optim::TensorSpan>& list,
                       const Tensor& out, const Tensor& first_bad) {
  DeviceGuard guard(device.index);
  int64_t chunks = 0;
  auto indexed = index_chunks(list, chunks);
  Tensor partial = empty({std::max<int64_t>(chunks, 1)}, {DType::f64, device});
  Tensor owner = empty({std::max<int64_t>(chunks, 1)}, {DType::i64, device});
  cudaStream_t s = stream(device.index);
  dispatch<DType::f32, DType::f64>(dtype, "clip_grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_batch(indexed, chunks, [&](const Batch<optim::TensorSpan>& b) {
      sum_squares_kernel<T><<<grid_of(b.chunk_end - b.chunk_begin, device.index), kThreads, 0, s>>>(
          b, partial.data<double>(), owner.data<int64_t>());
      COIL_CUDA_CHECK_LAUNCH();
    });
    finish_norm_kernel<T><<<1, kThreads, 0, s>>>(
        partial.data<double>(), owner.data<int64_t>(), chunks, out.data<T>(),
        first_bad.defined() ? first_bad.data<int64_t>() : nullptr);
    COIL_CUDA_CHECK_LAUNCH();
  });
}

void optim_clip(DType dtype, Device device, const std::vector<optim::TensorSpan>& list,
                const Tensor& norm, double max_norm) {
  DeviceGuard guard(device.index);
  int64_t chunks = 0;
  auto indexed = index_chunks(list, chunks);
  if (chunks == 0) return;
  dispatch<DType::f32, DType::f64>(dtype, "clip_grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_batch(indexed, chunks, [&](const Batch<optim::TensorSpan>& b) {
      clip_kernel<T><<<grid_of(b.chunk_end - b.chunk_begin, device.index), kThreads, 0,
                       stream(device.index)>>>(b, norm.data<T>(), max_norm);
      COIL_CUDA_CHECK_LAUNCH();
    });
  });
}

void optim_record_nonfinite(Device device, const Tensor& flag, const Tensor& loss,
                            const Tensor& norm, const Tensor& first_bad, int64_t step) {
  DeviceGuard guard(device.index);
  record_nonfinite_kernel<<<1, 1, 0, stream(device.index)>>>(
      flag.data<int64_t>(), loss.data_ptr(), loss.dtype() == DType::f64, norm.data_ptr(),
      norm.dtype() == DType::f64, first_bad.defined() ? first_bad.data<int64_t>() : nullptr, step);
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace coil::cuda
