// CUDA forward of layer_norm and rms_norm (f32, f64). f32 rows of D <= 1024 go one warp per
// row, the row held in registers (16-byte vector loads when D % 4 == 0 and every pointer is
// aligned), one row per warp and every row in flight; longer rows and f64 go one block per row,
// the row cached in shared memory when it fits. Two passes over the cached row for the
// variance: no cancellation. Saves the per-row mean (layer) and rstd for the backward.
#include <algorithm>
#include <climits>

#include "ops/norm/row_norm_cuda.cuh"

namespace coil::cuda {
namespace {

using namespace row_norm;

// ---- warp per row: lane owns vectors lane, lane + 32, ... (kVecs of V elements) -------------

template <class T, int V, int kVecs, RowNorm kKind>
__global__ void __launch_bounds__(kFwdWarps* kWarp) warp_forward(FwdArgs<T> a) {
  const int lane = threadIdx.x % kWarp;
  const int nvec = int(a.D / V);
  const T inv_d = T(1) / T(a.D);
  const int64_t step = int64_t(gridDim.x) * kFwdWarps;
  for (int64_t r = int64_t(blockIdx.x) * kFwdWarps + threadIdx.x / kWarp; r < a.rows; r += step) {
    const T* xr = a.x + r * a.D;
    T v[kVecs][V];
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      Vec<T, V> t{};
      if (i * kWarp + lane < nvec) t = load<T, V>(xr, i * kWarp + lane);
#pragma unroll
      for (int k = 0; k < V; ++k) v[i][k] = t.v[k];
    }
    T mean = 0;
    if constexpr (kKind == RowNorm::layer) {
      T s = 0;
#pragma unroll
      for (int i = 0; i < kVecs; ++i)
#pragma unroll
        for (int k = 0; k < V; ++k) s += v[i][k];
      mean = norm::warp_sum(s) * inv_d;
    }
    T ss = 0;  // two passes over registers: no cancellation in the variance
#pragma unroll
    for (int i = 0; i < kVecs; ++i)
      if (i * kWarp + lane < nvec)
#pragma unroll
        for (int k = 0; k < V; ++k) ss += (v[i][k] - mean) * (v[i][k] - mean);
    const T rstd = norm::inv_sqrt(norm::warp_sum(ss) * inv_d + a.eps);
    T* yr = a.y + r * a.D;
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = i * kWarp + lane;
      if (c >= nvec) continue;
      Vec<T, V> wv{}, bv{}, o;
      if (a.w) wv = load<T, V>(a.w, c);
      if (a.b) bv = load<T, V>(a.b, c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        T t = (v[i][k] - mean) * rstd;
        if (a.w) t *= wv.v[k];
        if (a.b) t += bv.v[k];
        o.v[k] = t;
      }
      store<T, V>(yr, c, o);
    }
    if (lane == 0) {
      if (a.mean) a.mean[r] = mean;
      a.rstd[r] = rstd;
    }
  }
}

// ---- block per row: thread t owns vectors t, t + blockDim, ... -------------------------------

template <class T, int V, RowNorm kKind>
__global__ void __launch_bounds__(kRowBlock) block_forward(FwdArgs<T> a) {
  using VT = Vec<T, V>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ T red[kWarp];
  VT* cache = reinterpret_cast<VT*>(smem_raw);
  const int64_t nvec = a.D / V;
  const T inv_d = T(1) / T(a.D);
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const VT* xr = reinterpret_cast<const VT*>(a.x + r * a.D);
    T s[1] = {0};  // layer: sum of x; rms: sum of x^2
    for (int64_t c = threadIdx.x; c < nvec; c += blockDim.x) {
      const VT t = xr[c];
      if (a.cache) cache[c] = t;  // each thread reads back only its own vectors: no barrier
#pragma unroll
      for (int k = 0; k < V; ++k) s[0] += kKind == RowNorm::layer ? t.v[k] : t.v[k] * t.v[k];
    }
    const VT* src = a.cache ? cache : xr;
    norm::block_sum(s, red);
    T mean = 0, var = s[0] * inv_d;
    if constexpr (kKind == RowNorm::layer) {
      mean = s[0] * inv_d;
      T ss[1] = {0};
      for (int64_t c = threadIdx.x; c < nvec; c += blockDim.x) {
        const VT t = src[c];
#pragma unroll
        for (int k = 0; k < V; ++k) ss[0] += (t.v[k] - mean) * (t.v[k] - mean);
      }
      norm::block_sum(ss, red);
      var = ss[0] * inv_d;
    }
    const T rstd = norm::inv_sqrt(var + a.eps);
    T* yr = a.y + r * a.D;
    for (int64_t c = threadIdx.x; c < nvec; c += blockDim.x) {
      const VT t = src[c];
      VT wv{}, bv{}, o;
      if (a.w) wv = load<T, V>(a.w, c);
      if (a.b) bv = load<T, V>(a.b, c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        T v = (t.v[k] - mean) * rstd;
        if (a.w) v *= wv.v[k];
        if (a.b) v += bv.v[k];
        o.v[k] = v;
      }
      store<T, V>(yr, c, o);
    }
    if (threadIdx.x == 0) {
      if (a.mean) a.mean[r] = mean;
      a.rstd[r] = rstd;
    }
  }
}

template <class T, RowNorm kKind>
void forward_impl(FwdArgs<T> a, int dev) {
  cudaStream_t s = stream(dev);
  const bool vec = a.D % (16 / sizeof(T)) == 0 && norm::aligned16(a.x, a.w, a.b, a.y);
  if constexpr (kWarpPath<T>) {
    if (a.D <= kMaxWarpRow) {
      const int64_t blocks = std::min<int64_t>((a.rows + kFwdWarps - 1) / kFwdWarps, INT_MAX);
      with_width<T>(vec, [&](auto v) {
        constexpr int V = decltype(v)::value;
        with_vecs<V>((a.D / V + kWarp - 1) / kWarp, [&](auto k) {
          warp_forward<T, V, decltype(k)::value, kKind>
              <<<unsigned(blocks), kFwdWarps * kWarp, 0, s>>>(a);
        });
      });
      COIL_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  a.cache = size_t(a.D) * sizeof(T) <= kCacheBytes;
  with_width<T>(vec, [&](auto v) {
    constexpr int V = decltype(v)::value;
    const int64_t nvec = a.D / V;
    const int threads = int(std::min<int64_t>(kRowBlock, (nvec + kWarp - 1) / kWarp * kWarp));
    block_forward<T, V, kKind><<<unsigned(std::min<int64_t>(a.rows, INT_MAX)), threads,
                                 a.cache ? size_t(a.D) * sizeof(T) : 0, s>>>(a);
  });
  COIL_CUDA_CHECK_LAUNCH();
}

}  // namespace

void row_norm_forward(RowNorm kind, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                      const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  if (x.numel() == 0) return;
  DeviceGuard guard(x.device().index);
  dispatch<DType::f32, DType::f64>(x.dtype(), op_name(kind), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = x.size(-1);
    FwdArgs<T> a{x.data<T>(),
                 data_or_null<const T>(weight),
                 data_or_null<const T>(bias),
                 y.data<T>(),
                 data_or_null<T>(mean),
                 rstd.data<T>(),
                 x.numel() / D,
                 D,
                 T(eps),
                 false};
    if (kind == RowNorm::layer) forward_impl<T, RowNorm::layer>(a, x.device().index);
    else forward_impl<T, RowNorm::rms>(a, x.device().index);
  });
}

}  // namespace coil::cuda
