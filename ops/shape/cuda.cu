// CUDA kernels of the shape family. flip: a strided gather through core's launch_strided.
// cumsum: contiguous lines longer than kSeqMax get one block each, scanned in tiles of kTile
// (thread-local runs, a warp-shuffle scan, a fixed-order sum over warps, a running carry);
// other lines are walked sequentially by one thread each. Both orders are fixed by the code and
// the launch shape, so results are bitwise reproducible.
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/elementwise_math.h"
#include "ops/shape/kernels.h"

namespace coil::cuda {
namespace {

template <class Word>
void flip_words(const StridedLoop<2>& L, int device) {
  Word* out = reinterpret_cast<Word*>(L.data[0]);
  const Word* in = reinterpret_cast<const Word*>(L.data[1]);
  launch_strided<2>(L, device, [=] __device__(const int64_t* off) { out[off[0]] = in[off[1]]; });
}

constexpr int kScanThreads = 256;
constexpr int kItems = 4;                     // consecutive elements per thread in a tile
constexpr int kTile = kScanThreads * kItems;  // elements per block per step
constexpr int kWarps = kScanThreads / 32;
constexpr int64_t kSeqMax = 64;  // lines up to this length: one thread per line

// One block per line of `len` contiguous elements (grid-stride over lines).
template <class T>
__global__ void __launch_bounds__(kScanThreads)
    cumsum_lines_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t lines, int64_t len,
                        bool reverse) {
  using C = compute_t<T>;
  __shared__ C tile[kTile];
  __shared__ C warp_total[kWarps];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const T* src = in + line * len;
    T* dst = out + line * len;
    C carry = C(0);
    for (int64_t base = 0; base < len; base += kTile) {
      const int64_t n = min(int64_t(kTile), len - base);
      // Coalesced load; position p of the scan order reads element p (or len-1-p in reverse).
      for (int k = tid; k < kTile; k += kScanThreads) {
        int64_t p = base + k;
        tile[k] = k < n ? C(src[reverse ? len - 1 - p : p]) : C(0);
      }
      __syncthreads();
      C run[kItems];
      C sum = C(0);
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        sum += tile[tid * kItems + j];
        run[j] = sum;
      }
      // Inclusive scan of the per-thread sums within the warp.
      C incl = sum;
#pragma unroll
      for (int d = 1; d < 32; d *= 2) {
        C v = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= d) incl += v;
      }
      C before_in_warp = __shfl_up_sync(0xffffffffu, incl, 1);
      if (lane == 0) before_in_warp = C(0);
      if (lane == 31) warp_total[warp] = incl;
      __syncthreads();
      C before_warp = C(0), tile_total = C(0);
      for (int w = 0; w < kWarps; ++w) {
        if (w < warp) before_warp += warp_total[w];
        tile_total += warp_total[w];
      }
      const C prefix = carry + (before_warp + before_in_warp);
#pragma unroll
      for (int j = 0; j < kItems; ++j) tile[tid * kItems + j] = prefix + run[j];
      __syncthreads();
      for (int k = tid; k < n; k += kScanThreads) {
        int64_t p = base + k;
        dst[reverse ? len - 1 - p : p] = T(tile[k]);
      }
      carry += tile_total;
      __syncthreads();  // the next tile overwrites tile[] and warp_total[]
    }
  }
}

// One thread per (outer, inner) column, walking its line of stride `inner` in order.
template <class T>
__global__ void cumsum_columns_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t outer,
                                      int64_t len, int64_t inner, bool reverse) {
  using C = compute_t<T>;
  const int64_t columns = outer * inner;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < columns;
       c += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = c / inner, i = c - o * inner;
    const T* src = in + o * len * inner + i;
    T* dst = out + o * len * inner + i;
    C acc = C(0);
    for (int64_t step = 0; step < len; ++step) {
      int64_t l = reverse ? len - 1 - step : step;
      acc += C(src[l * inner]);
      dst[l * inner] = T(acc);
    }
  }
}

template <class T>
void cumsum_typed(const T* in, T* out, int64_t outer, int64_t len, int64_t inner, bool reverse,
                  int device) {
  cudaStream_t s = stream(device);
  if (inner == 1 && len > kSeqMax) {
    int64_t blocks = std::min<int64_t>(outer, int64_t(sm_count(device)) * 8);
    cumsum_lines_kernel<T><<<unsigned(blocks), kScanThreads, 0, s>>>(in, out, outer, len, reverse);
  } else {
    cumsum_columns_kernel<T>
        <<<grid_for(outer * inner, device), kBlock, 0, s>>>(in, out, outer, len, inner, reverse);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

void flip(const Tensor& out, const Tensor& in, uint32_t flip_mask) {
  int device = out.device().index;
  DeviceGuard guard(device);
  StridedLoop<2> L = flip_loop(out, in, flip_mask);
  switch (out.itemsize()) {
    case 1:
      return flip_words<uint8_t>(L, device);
    case 2:
      return flip_words<uint16_t>(L, device);
    case 4:
      return flip_words<uint32_t>(L, device);
    case 8:
      return flip_words<uint64_t>(L, device);
    default:
      COIL_FAIL("[flip] unsupported element size {}", out.itemsize());
  }
}

void cumsum(const Tensor& out, const Tensor& in, int64_t outer, int64_t len, int64_t inner,
            bool reverse) {
  int device = out.device().index;
  DeviceGuard guard(device);
  dispatch<DType::f32, DType::f64, DType::bf16, DType::i32, DType::i64>(
      in.dtype(), "cumsum", [&](auto tag) {
        using T = typename decltype(tag)::type;
        cumsum_typed<T>(static_cast<const T*>(in.data_ptr()), static_cast<T*>(out.data_ptr()),
                        outer, len, inner, reverse, device);
      });
}

}  // namespace coil::cuda
