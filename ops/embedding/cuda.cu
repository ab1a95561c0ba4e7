// CUDA kernels of the embedding op: a vectorised row gather that checks each index (a bad one
// goes into the device error record, so no call waits for the device), and a deterministic
// backward that stably radix-sorts (index, position) pairs with CUB, sums the gradient rows of
// each segment of sorted positions, then adds each vocabulary row's segment pieces in order (no
// atomics).
#include <cub/device/device_radix_sort.cuh>
#include <limits>

#include "core/cuda/device_error.h"
#include "core/cuda/launch.cuh"
#include "core/storage.h"
#include "ops/embedding/dispatch.h"
#include "ops/embedding/kernels.h"

namespace coil::cuda {
namespace {

// The record's values for a bad index: index, position, V, D, positions.
std::string format_bad_index(const int64_t* v) {
  return bad_index_message(v[0], v[1], v[2], shape_str({v[2], v[3]}),
                           shape_str({v[4]}) + " (flattened)");
}

int bad_index_kind() {
  static const int kind = register_device_error(&format_bad_index);
  return kind;
}

// out (n, D) <- weight (V, D) rows; VW elements per access (D % VW == 0, 16-byte aligned rows).
// An index outside [0, V) is reported (by its row's first chunk) and its row filled with NaN.
template <class T, class I, int VW>
__global__ void gather_kernel(T* __restrict__ out, const T* __restrict__ weight,
                              const I* __restrict__ idx, int64_t n, int64_t V, int64_t D,
                              DeviceErrorRecord* err, int err_kind) {
  const int64_t per_row = D / VW, total = n * per_row;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = i / per_row, col = (i - row * per_row) * VW;
    int64_t v = int64_t(idx[row]);
    Vec<T, VW> value;
    if (v >= 0 && v < V) {
      value = *reinterpret_cast<const Vec<T, VW>*>(weight + v * D + col);
    } else {
      if (col == 0) report_device_error(err, err_kind, v, row, V, D, n);
#pragma unroll
      for (int j = 0; j < VW; ++j) value.v[j] = std::numeric_limits<T>::quiet_NaN();
    }
    *reinterpret_cast<Vec<T, VW>*>(out + row * D + col) = value;
  }
}

// Sort keys as u32 and positions 0..n-1 as values. An index outside [0, V) gets key V, past
// every good key (V < 2^31: unsigned keys need no sign-bit twiddling in the radix sort), so the
// row sums never reach it.
template <class I>
__global__ void keys_kernel(const I* __restrict__ idx, uint32_t* __restrict__ keys,
                            int32_t* __restrict__ pos, int64_t n, int64_t V) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = int64_t(idx[i]);
    keys[i] = uint32_t(v >= 0 && v < V ? v : V);
    pos[i] = int32_t(i);
  }
}

// First p in [0, n) with keys[p] >= v (keys sorted ascending).
__device__ __forceinline__ int64_t lower_bound(const uint32_t* keys, int64_t n, int64_t v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (int64_t(keys[mid]) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The sorted positions are cut into segments of kSegment, so a row's run of positions is summed
// by as many blocks as it spans segments, whatever the vocabulary's skew: one block a row took
// 179 us at vocabulary 16 and 16384 positions (runs of 1024).
constexpr int64_t kSegment = 32;

// Pass 1, block s over segment s's positions, threads over columns, in position order. A run of
// one row that lies inside the segment (neither its first nor its last run) is complete: it goes
// straight to dweight. The segment's first run (which may have begun before it) goes to
// first[s], its last run, when it reaches the segment's end and is not also the first, to
// last[s]: pass 2 adds those pieces. Bad keys (V) and padding_idx rows are never written.
template <class T>
__global__ void segment_sum_kernel(T* __restrict__ dweight, T* __restrict__ first,
                                   T* __restrict__ last, const T* __restrict__ grad,
                                   const uint32_t* __restrict__ keys,
                                   const int32_t* __restrict__ pos, int64_t n, int64_t V,
                                   int64_t D, int64_t padding_idx) {
  const int64_t s = blockIdx.x, p0 = s * kSegment, p1 = min(n, p0 + kSegment);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    T acc = T(0);
    int64_t run_start = p0;
    for (int64_t p = p0; p < p1; ++p) {
      acc += grad[int64_t(pos[p]) * D + d];
      const uint32_t key = keys[p];
      if (p + 1 < p1 && keys[p + 1] == key) continue;  // the run goes on inside the segment
      if (run_start == p0) {
        first[s * D + d] = acc;
      } else if (p + 1 == p1) {
        last[s * D + d] = acc;
      } else if (int64_t(key) < V && int64_t(key) != padding_idx) {
        dweight[int64_t(key) * D + d] = acc;
      }
      acc = T(0);
      run_start = p + 1;
    }
  }
}

// Pass 2, block-stride over rows v, threads over columns: a row without positions (or
// padding_idx) gets zeros; a run that pass 1 wrote whole is left alone; otherwise the run's
// pieces are added in segment order (its start segment's first or last piece, then the first
// piece of every later segment it reaches). One fixed order per row: bitwise reproducible.
template <class T>
__global__ void row_sum_kernel(T* __restrict__ dweight, const T* __restrict__ first,
                               const T* __restrict__ last, const uint32_t* __restrict__ keys,
                               int64_t n, int64_t V, int64_t D, int64_t padding_idx) {
  for (int64_t v = blockIdx.x; v < V; v += gridDim.x) {
    int64_t lo = 0, hi = 0;
    if (v != padding_idx && n > 0) lo = lower_bound(keys, n, v), hi = lower_bound(keys, n, v + 1);
    const int64_t s0 = lo / kSegment, s1 = (hi - 1) / kSegment;
    const bool starts_segment = lo == s0 * kSegment;
    const bool ends_segment = hi == min(n, (s0 + 1) * kSegment);
    if (lo < hi && s0 == s1 && !starts_segment && !ends_segment) continue;  // written by pass 1
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      T acc = T(0);
      if (lo < hi) {
        acc = starts_segment ? first[s0 * D + d] : last[s0 * D + d];
        for (int64_t s = s0 + 1; s <= s1; ++s) acc += first[s * D + d];
      }
      dweight[v * D + d] = acc;
    }
  }
}

template <class T, class I>
void gather(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  const int64_t n = indices.numel(), V = weight.size(0), D = weight.size(1);
  if (n == 0 || D == 0) return;
  int dev = out.device().index;
  T* o = out.data<T>();
  const T* w = weight.data<T>();
  const I* idx = indices.data<I>();
  cudaStream_t s = stream(dev);
  constexpr int kVec = 16 / sizeof(T);
  bool aligned = reinterpret_cast<uintptr_t>(o) % 16 == 0 &&
                 reinterpret_cast<uintptr_t>(w) % 16 == 0 && D % kVec == 0;
  DeviceErrorRecord* err = device_error_record(dev);
  if (aligned) {
    gather_kernel<T, I, kVec>
        <<<grid_for(n * D, dev, kVec), kBlock, 0, s>>>(o, w, idx, n, V, D, err, bad_index_kind());
  } else {
    gather_kernel<T, I, 1>
        <<<grid_for(n * D, dev), kBlock, 0, s>>>(o, w, idx, n, V, D, err, bad_index_kind());
  }
  COIL_CUDA_CHECK_LAUNCH();
}

template <class T, class I>
void scatter_add(const Tensor& dweight, const Tensor& grad, const Tensor& indices,
                 int64_t padding_idx) {
  const int64_t n = indices.numel(), V = dweight.size(0), D = dweight.size(1);
  if (V == 0 || D == 0) return;
  COIL_CHECK(n < (int64_t(1) << 31), "[embedding] at most 2^31 - 1 indices on CUDA, got {}",
             shape_str(indices.shape()));
  int dev = dweight.device().index;
  cudaStream_t s = stream(dev);
  // Buffers live until the end of this function; their stream-ordered frees come after the
  // kernels below on the same stream, so no synchronisation is needed.
  // Four arrays of n 32-bit words, each starting on a 256-byte boundary.
  const int64_t stride = (std::max<int64_t>(n, 1) + 63) / 64 * 64;
  Storage buf(size_t(stride) * 4 * sizeof(uint32_t), dweight.device());
  uint32_t* keys_in = static_cast<uint32_t*>(buf.data());
  uint32_t* keys_out = keys_in + stride;
  int32_t* pos_in = reinterpret_cast<int32_t*>(keys_in + 2 * stride);
  int32_t* pos_out = reinterpret_cast<int32_t*>(keys_in + 3 * stride);
  if (n > 0) {
    keys_kernel<I><<<grid_for(n, dev), kBlock, 0, s>>>(indices.data<I>(), keys_in, pos_in, n, V);
    COIL_CUDA_CHECK_LAUNCH();
    int end_bit = 1;  // keys lie in [0, V] (V: a bad index): sort only the bits they use
    while (end_bit < 32 && (int64_t(1) << end_bit) <= V) ++end_bit;
    size_t temp_bytes = 0;
    COIL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, pos_in,
                                                    pos_out, int(n), 0, end_bit, s));
    Storage temp(std::max<size_t>(temp_bytes, 1), dweight.device());
    COIL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, keys_in, keys_out,
                                                    pos_in, pos_out, int(n), 0, end_bit, s));
  }
  int threads = int(std::min<int64_t>(128, (D + 31) / 32 * 32));
  const int64_t segments = (n + kSegment - 1) / kSegment;
  Storage pieces(size_t(std::max<int64_t>(2 * segments * D, 1)) * sizeof(T), dweight.device());
  T* first = static_cast<T*>(pieces.data());
  T* last = first + segments * D;
  if (segments > 0) {
    segment_sum_kernel<T><<<unsigned(segments), threads, 0, s>>>(
        dweight.data<T>(), first, last, grad.data<T>(), keys_out, pos_out, n, V, D, padding_idx);
    COIL_CUDA_CHECK_LAUNCH();
  }
  unsigned blocks = unsigned(std::min<int64_t>(V, int64_t(sm_count(dev)) * 64));
  row_sum_kernel<T><<<blocks, threads, 0, s>>>(dweight.data<T>(), first, last, keys_out, n, V, D,
                                               padding_idx);
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

// gather and scatter_add are named templates rather than generic lambdas around the launches
// (nvcc restriction).
void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) {
  DeviceGuard guard(out.device().index);
  embedding::dispatch_types(weight, indices, [&](auto t, auto i) {
    gather<typename decltype(t)::type, typename decltype(i)::type>(out, weight, indices);
  });
}

void embedding_backward(const Tensor& dweight, const Tensor& grad, const Tensor& indices,
                        int64_t padding_idx) {
  DeviceGuard guard(dweight.device().index);
  embedding::dispatch_types(grad, indices, [&](auto t, auto i) {
    scatter_add<typename decltype(t)::type, typename decltype(i)::type>(dweight, grad, indices,
                                                                        padding_idx);
  });
}

}  // namespace coil::cuda
