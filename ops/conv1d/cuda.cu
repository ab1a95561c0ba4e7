// CUDA kernels of the causal depthwise conv. K <= 8: the streaming kernels of stream_cuda.cuh.
// Larger K: forward and dx one thread per (b, t, c), c fastest so warps read consecutive
// channels (coalesced). dweight/dbias: per-block partial sums over fixed chunks of rows into a
// buffer, then a second pass that sums the chunks in a fixed order (no atomics: bitwise
// reproducible). Resets of packed sequences narrow each row's taps (ops/conv1d/reset.h). Also
// the recurrent step, one thread per (b, c).
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/storage.h"
#include "ops/conv1d/kernels.h"
#include "ops/conv1d/reset.h"
#include "ops/conv1d/stream_cuda.cuh"

namespace coil::cuda {
namespace {

using conv1d_detail::first_tap;
using conv1d_detail::last_reader;

// reset[b, :] of row r = (b, t), or null.
__device__ __forceinline__ const bool* reset_row(const bool* reset, int64_t r, int64_t L) {
  return reset != nullptr ? reset + (r / L) * L : nullptr;
}

// out (rows = B*L, C) from x (rows, C), weight (C, K), bias (C) or null, reset (B, L) or null.
template <class T>
__global__ void forward_kernel(T* __restrict__ out, const T* __restrict__ x,
                               const T* __restrict__ w, const T* __restrict__ bias,
                               const bool* __restrict__ reset, int64_t rows, int64_t L, int64_t C,
                               int64_t K) {
  const int64_t total = rows * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / C, c = i - r * C;
    const int64_t k0 = first_tap(r % L, K, reset_row(reset, r, L));  // earlier taps: other times
    T acc = bias ? bias[c] : T(0);
    for (int64_t k = k0; k < K; ++k) acc += w[c * K + k] * x[(r - (K - 1) + k) * C + c];
    out[i] = acc;
  }
}

// dx[b, s, c] = sum_k w[c, k] * grad[b, s + (K-1) - k, c] over the output times that read s.
template <class T>
__global__ void input_grad_kernel(T* __restrict__ dx, const T* __restrict__ g,
                                  const T* __restrict__ w, const bool* __restrict__ reset,
                                  int64_t rows, int64_t L, int64_t C, int64_t K) {
  const int64_t total = rows * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / C, c = i - r * C, s = r % L;
    const int64_t k0 = s + K - 1 - last_reader(s, K, L, reset_row(reset, r, L));
    T acc = T(0);
    for (int64_t k = k0; k < K; ++k) acc += w[c * K + k] * g[(r + K - 1 - k) * C + c];
    dx[i] = acc;
  }
}

constexpr int kCols = 32, kRows = 8, kTile = 8;

// Slot j < K: sum of g * x at the tap j; slot K: sum of g (the bias). Block (kCols, kRows)
// covers kCols channels of one chunk of rows; partial is (n_chunks, K + 1, C). Slots are
// processed kTile at a time so any K works with a fixed register and shared-memory budget.
template <class T>
__global__ void param_partial_kernel(T* __restrict__ partial, const T* __restrict__ g,
                                     const T* __restrict__ x, const bool* __restrict__ reset,
                                     int64_t rows, int64_t L, int64_t C, int64_t K,
                                     int64_t chunk_len) {
  __shared__ T smem[kTile][kRows][kCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = int64_t(blockIdx.x) * kCols + tx, chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_len, r1 = min(rows, r0 + chunk_len), J = K + 1;
  for (int64_t j0 = 0; j0 < J; j0 += kTile) {  // uniform across the block: syncs are safe
    T acc[kTile];
#pragma unroll
    for (int q = 0; q < kTile; ++q) acc[q] = T(0);
    if (c < C) {
      for (int64_t r = r0 + ty; r < r1; r += kRows) {
        const int64_t t = r % L, j_first = first_tap(t, K, reset_row(reset, r, L));
        const T gv = g[r * C + c];
#pragma unroll
        for (int q = 0; q < kTile; ++q) {
          const int64_t j = j0 + q;
          if (j < K) {
            if (j >= j_first) acc[q] += gv * x[(r - (K - 1) + j) * C + c];
          } else if (j == K) {
            acc[q] += gv;
          }
        }
      }
    }
#pragma unroll
    for (int q = 0; q < kTile; ++q) smem[q][ty][tx] = acc[q];
    __syncthreads();
    if (ty == 0 && c < C) {
      for (int q = 0; q < kTile && j0 + q < J; ++q) {
        T sum = smem[q][0][tx];
        for (int y = 1; y < kRows; ++y) sum += smem[q][y][tx];
        partial[(chunk * J + j0 + q) * C + c] = sum;
      }
    }
    __syncthreads();
  }
}

// Block (kCols, kFinalSlices) per kCols consecutive (slot, channel) columns of partial: slice y
// sums chunks y, y + slices, ... in order, then slice partials are added in slice order. Each
// column's sum has one fixed order (bitwise reproducible) and the chunks are read by 32 x slices
// threads, not one: at B 64, L 256 (512 chunks of 640 columns) one thread a column took 99 us.
constexpr int kFinalSlices = 32;

template <class T>
__global__ void param_final_kernel(T* __restrict__ dw, T* __restrict__ db,
                                   const T* __restrict__ partial, int64_t n_chunks, int64_t C,
                                   int64_t K) {
  __shared__ T smem[kFinalSlices][kCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t J = K + 1, total = J * C, i = int64_t(blockIdx.x) * kCols + tx;
  T sum = T(0);
  if (i < total)
    for (int64_t ch = ty; ch < n_chunks; ch += kFinalSlices) sum += partial[ch * total + i];
  smem[ty][tx] = sum;
  __syncthreads();
  if (ty != 0 || i >= total) return;
  for (int y = 1; y < kFinalSlices; ++y) sum += smem[y][tx];
  const int64_t j = i / C, c = i - j * C;
  if (j < K) {
    if (dw) dw[c * K + j] = sum;
  } else if (db) {
    db[c] = sum;
  }
}

// One thread per (b, c): shift the window, take the newest input, dot with the weights.
template <class T>
__global__ void step_kernel(T* __restrict__ y, T* __restrict__ state, const T* __restrict__ x,
                            const T* __restrict__ w, const T* __restrict__ bias, int64_t rows,
                            int64_t C, int64_t K) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r % C;
    T* s = state + r * K;
    for (int64_t k = 0; k + 1 < K; ++k) s[k] = s[k + 1];
    s[K - 1] = x[r];
    T acc = bias ? bias[c] : T(0);
    for (int64_t k = 0; k < K; ++k) acc += w[c * K + k] * s[k];
    y[r] = acc;
  }
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// How the streaming kernels (stream_cuda.cuh) cover a (B, L, C) problem: V channels a thread
// (16-byte accesses where C and every pointer allow), KM register taps, S times a run. S is the
// longest run (at most 64) that still gives 2048 threads per SM, so short problems still fill
// the GPU; streaming = false where K is too large (the one-thread-per-element kernels serve).
struct StreamPlan {
  bool streaming = false;
  int V = 1, KM = 4, S = 4;
  int64_t threads = 0;
};

// COIL_CONV1D_STREAM=0 keeps the one-thread-per-element kernels for every K (the lab's baseline).
bool streaming_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("COIL_CONV1D_STREAM");
    return !(env && std::string(env) == "0");
  }();
  return on;
}

template <class T>
StreamPlan stream_plan(int64_t B, int64_t L, int64_t C, int64_t K, int dev,
                       std::initializer_list<const void*> ptrs) {
  StreamPlan p;
  if (K > conv1d_stream::kMaxStreamTaps || !streaming_enabled()) return p;
  p.streaming = true;
  p.KM = K <= 4 ? 4 : conv1d_stream::kMaxStreamTaps;
  const int wide = int(16 / sizeof(T));
  bool aligned = C % wide == 0;
  for (const void* q : ptrs) aligned = aligned && reinterpret_cast<uintptr_t>(q) % 16 == 0;
  p.V = aligned ? wide : 1;
  const int64_t want = int64_t(sm_count(dev)) * 2048;
  for (p.S = 64; p.S > 4 && B * ((L + p.S - 1) / p.S) * (C / p.V) < want; p.S /= 2) {
  }
  p.threads = B * ((L + p.S - 1) / p.S) * (C / p.V);
  return p;
}

// f.template operator()<V, KM>() for the plan's V and KM.
template <class T, class F>
void with_stream_shape(const StreamPlan& p, F&& f) {
  constexpr int kWide = int(16 / sizeof(T)), kMax = conv1d_stream::kMaxStreamTaps;
  if (p.V == kWide) {
    if (p.KM == 4) f.template operator()<kWide, 4>();
    else f.template operator()<kWide, kMax>();
  } else {
    if (p.KM == 4) f.template operator()<1, 4>();
    else f.template operator()<1, kMax>();
  }
}

unsigned blocks_for(int64_t threads) { return unsigned((threads + kBlock - 1) / kBlock); }

template <class T>
void forward_impl(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& reset) {
  const int64_t B = x.size(0), rows = B * x.size(1), L = x.size(1), C = x.size(2),
                K = weight.size(1);
  if (rows * C == 0) return;
  int dev = out.device().index;
  const T *xp = x.data<T>(), *wp = weight.data<T>(), *bp = ptr_or_null<T>(bias);
  const bool* rp = ptr_or_null<bool>(reset);
  const StreamPlan plan = stream_plan<T>(B, L, C, K, dev, {out.data<T>(), xp});
  if (plan.streaming) {
    with_stream_shape<T>(plan, [&]<int V, int KM>() {
      conv1d_stream::forward_kernel<T, V, KM><<<blocks_for(plan.threads), kBlock, 0, stream(dev)>>>(
          out.data<T>(), xp, wp, bp, rp, B, L, C, int(K), plan.S);
    });
  } else {
    forward_kernel<T><<<grid_for(rows * C, dev), kBlock, 0, stream(dev)>>>(out.data<T>(), xp, wp,
                                                                           bp, rp, rows, L, C, K);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

template <class T>
void param_grads(const Tensor& dweight, const Tensor& dbias, const Tensor& grad, const Tensor& x,
                 int64_t K, const Tensor& reset) {
  const int64_t rows = x.size(0) * x.size(1), L = x.size(1), C = x.size(2), J = K + 1;
  int dev = x.device().index;
  cudaStream_t s = stream(dev);
  T *dw = mut_ptr_or_null<T>(dweight), *db = mut_ptr_or_null<T>(dbias);
  if (C == 0) return;
  if (rows == 0) {  // nothing to reduce: the gradients are zero
    if (dw) COIL_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(C * K) * sizeof(T), s));
    if (db) COIL_CUDA_CHECK(cudaMemsetAsync(db, 0, size_t(C) * sizeof(T), s));
    return;
  }
  // Partial sums per chunk of rows (grid.y: at most 65535 chunks), which param_final_kernel
  // adds in chunk order: no atomics, bitwise reproducible.
  const int64_t B = x.size(0), col_blocks = (C + kCols - 1) / kCols;
  COIL_CHECK(col_blocks <= 0x7fffffff, "[conv1d_causal] too many channels: {}", C);
  StreamPlan plan = stream_plan<T>(B, L, C, K, dev, {grad.data<T>(), x.data<T>()});
  int64_t n_chunks = 0, chunk_len = 0;
  if (plan.streaming) {  // a chunk: kParamRuns runs of S times of one batch row
    auto chunks = [&] {
      const int64_t span = int64_t(conv1d_stream::kParamRuns) * plan.S;
      return B * ((L + span - 1) / span);
    };
    while (chunks() > 65535 && plan.S < L && plan.S < (1 << 29)) plan.S *= 2;
    n_chunks = chunks();
    plan.streaming = n_chunks <= 65535;
  }
  if (!plan.streaming) {  // enough chunks to fill the GPU, each at least 64 rows
    const int64_t want = (int64_t(sm_count(dev)) * 4 + col_blocks - 1) / col_blocks;
    n_chunks = std::clamp<int64_t>(want, 1, std::min<int64_t>((rows + 63) / 64, 65535));
    chunk_len = (rows + n_chunks - 1) / n_chunks;
    n_chunks = (rows + chunk_len - 1) / chunk_len;
  }
  Storage partial(size_t(n_chunks * J * C) * sizeof(T), x.device());
  T* part = static_cast<T*>(partial.data());
  if (plan.streaming) {
    with_stream_shape<T>(plan, [&]<int V, int KM>() {
      const int64_t col_vecs = (C / V + conv1d_stream::kParamCols - 1) / conv1d_stream::kParamCols;
      conv1d_stream::param_partial_kernel<T, V, KM>
          <<<dim3(unsigned(col_vecs), unsigned(n_chunks)),
             dim3(conv1d_stream::kParamCols, conv1d_stream::kParamRuns), 0, s>>>(
              part, grad.data<T>(), x.data<T>(), ptr_or_null<bool>(reset), L, C, int(K), plan.S);
    });
  } else {
    param_partial_kernel<T>
        <<<dim3(unsigned(col_blocks), unsigned(n_chunks)), dim3(kCols, kRows), 0, s>>>(
            part, grad.data<T>(), x.data<T>(), ptr_or_null<bool>(reset), rows, L, C, K, chunk_len);
  }
  COIL_CUDA_CHECK_LAUNCH();
  const int64_t final_blocks = (J * C + kCols - 1) / kCols;
  COIL_CHECK(final_blocks <= 0x7fffffff, "[conv1d_causal] too many channels: {}", C);
  param_final_kernel<T><<<unsigned(final_blocks), dim3(kCols, kFinalSlices), 0, s>>>(
      dw, db, part, n_chunks, C, K);
  COIL_CUDA_CHECK_LAUNCH();
}

template <class T>
void backward_impl(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& grad,
                   const Tensor& x, const Tensor& weight, const Tensor& reset) {
  const int64_t rows = x.size(0) * x.size(1), L = x.size(1), C = x.size(2), K = weight.size(1);
  int dev = x.device().index;
  if (dx.defined() && rows * C > 0) {
    const T *gp = grad.data<T>(), *wp = weight.data<T>();
    const bool* rp = ptr_or_null<bool>(reset);
    const StreamPlan plan = stream_plan<T>(x.size(0), L, C, K, dev, {dx.data<T>(), gp});
    if (plan.streaming) {
      with_stream_shape<T>(plan, [&]<int V, int KM>() {
        conv1d_stream::input_grad_kernel<T, V, KM>
            <<<blocks_for(plan.threads), kBlock, 0, stream(dev)>>>(dx.data<T>(), gp, wp, rp,
                                                                   x.size(0), L, C, int(K), plan.S);
      });
    } else {
      input_grad_kernel<T><<<grid_for(rows * C, dev), kBlock, 0, stream(dev)>>>(
          dx.data<T>(), gp, wp, rp, rows, L, C, K);
    }
    COIL_CUDA_CHECK_LAUNCH();
  }
  if (dweight.defined() || dbias.defined()) param_grads<T>(dweight, dbias, grad, x, K, reset);
}

template <class T>
void step_impl(const Tensor& y, const Tensor& state, const Tensor& x, const Tensor& weight,
               const Tensor& bias) {
  const int64_t rows = state.size(0) * state.size(1), C = state.size(1), K = state.size(2);
  if (rows == 0) return;
  int dev = x.device().index;
  step_kernel<T><<<grid_for(rows, dev), kBlock, 0, stream(dev)>>>(y.data<T>(), state.data<T>(),
                                                                  x.data<T>(), weight.data<T>(),
                                                                  ptr_or_null<T>(bias), rows, C, K);
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

void conv1d_causal_forward(const Tensor& out, const Tensor& x, const Tensor& weight,
                           const Tensor& bias, const Tensor& reset) {
  DeviceGuard guard(out.device().index);
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    forward_impl<typename decltype(tag)::type>(out, x, weight, bias, reset);
  });
}

void conv1d_causal_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                            const Tensor& grad, const Tensor& x, const Tensor& weight,
                            const Tensor& reset) {
  DeviceGuard guard(x.device().index);
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal", [&](auto tag) {
    backward_impl<typename decltype(tag)::type>(dx, dweight, dbias, grad, x, weight, reset);
  });
}

void conv1d_causal_step(const Tensor& y, const Tensor& state, const Tensor& x, const Tensor& weight,
                        const Tensor& bias) {
  DeviceGuard guard(x.device().index);
  dispatch<DType::f32, DType::f64>(x.dtype(), "conv1d_causal_step", [&](auto tag) {
    step_impl<typename decltype(tag)::type>(y, state, x, weight, bias);
  });
}

}  // namespace coil::cuda
