// Shared by the row-norm CUDA kernels (row_norm_fwd.cu, row_norm_bwd.cu): kernel arguments,
// the sizes of the two paths, vector access, and the compile-time choice of vector width and
// per-lane register row.
#pragma once
#include <type_traits>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "ops/norm/kernels.h"
#include "ops/norm/norm_cuda.cuh"

namespace coil::cuda::row_norm {

using norm::kWarp;
constexpr int64_t kMaxWarpRow = 1024;     // longest f32 row the warp path keeps in registers
constexpr int kFwdWarps = 8;              // warps per block, forward warp path
constexpr int kBwdWarps = 4;              // backward: the cross-warp sum holds warps * 2 * D
constexpr int kRowBlock = 256;            // threads of the block-per-row path
constexpr size_t kCacheBytes = 40 << 10;  // row cache, within the default 48 KiB

template <class T>
struct FwdArgs {
  const T* x;  // (rows, D)
  const T* w;  // (D) or null
  const T* b;  // (D) or null
  T* y;        // (rows, D)
  T* mean;     // (rows) or null (rms)
  T* rstd;     // (rows)
  int64_t rows, D;
  T eps;
  bool cache;  // block path: keep the row in shared memory
};

template <class T>
struct BwdArgs {
  const T* dy;    // (rows, D)
  const T* x;     // (rows, D)
  const T* w;     // (D) or null
  const T* mean;  // (rows) or null (rms)
  const T* rstd;  // (rows)
  T* dx;          // (rows, D) or null
  T* partial;     // (gridDim.x, 2, D): per-block sums of dy * xhat and of dy; null: not wanted
  int64_t rows, D, rows_per_block;
  bool cache;  // block path: keep x and dy rows in shared memory
};

template <class T, int V>
__device__ __forceinline__ Vec<T, V> load(const T* p, int64_t i) {
  return reinterpret_cast<const Vec<T, V>*>(p)[i];
}
template <class T, int V>
__device__ __forceinline__ void store(T* p, int64_t i, const Vec<T, V>& v) {
  reinterpret_cast<Vec<T, V>*>(p)[i] = v;
}

template <int N>
using IntC = std::integral_constant<int, N>;

// Calls f(IntC<kVecs>) with the smallest register row holding `need` vectors per lane.
template <int V, class F>
void with_vecs(int64_t need, F&& f) {
  if (need <= 1) return f(IntC<1>{});
  if (need <= 2) return f(IntC<2>{});
  if (need <= 4) return f(IntC<4>{});
  if constexpr (V == 4) {
    if (need <= 6) return f(IntC<6>{});  // D = 768
    return f(IntC<8>{});
  } else {
    if (need <= 8) return f(IntC<8>{});
    if (need <= 16) return f(IntC<16>{});
    return f(IntC<32>{});
  }
}

// Calls f(IntC<V>) with the 16-byte vector width when allowed, else 1.
template <class T, class F>
void with_width(bool vectorise, F&& f) {
  if (vectorise) f(IntC<int(16 / sizeof(T))>{});
  else f(IntC<1>{});
}

// f64 always goes block per row: twice the registers per element, and rarely on the GPU.
template <class T>
constexpr bool kWarpPath = std::is_same_v<T, float>;

inline const char* op_name(RowNorm kind) {
  return kind == RowNorm::layer ? "layer_norm" : "rms_norm";
}

}  // namespace coil::cuda::row_norm
