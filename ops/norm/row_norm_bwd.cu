// CUDA backward of layer_norm and rms_norm (f32, f64): dx per row (warp per row for f32 with
// D <= 1024, else block per row, as in the forward) plus the weight/bias gradients, summed per
// block over a fixed range of rows into a (blocks, 2, D) buffer and then over the blocks by a
// second kernel in a fixed order. No atomics: bitwise reproducible.
#include <algorithm>

#include "core/copy.h"
#include "core/storage.h"
#include "ops/norm/row_norm_cuda.cuh"

namespace coil::cuda {
namespace {

using namespace row_norm;

// ---- warp per row: lane owns vectors lane, lane + 32, ... (kVecs of V elements) -------------

// Block b handles rows [b * rows_per_block, ...), its warps interleaved over them; the lanes'
// column sums of dy * xhat and dy are combined across warps in order at the end.
template <class T, int V, int kVecs, RowNorm kKind>
__global__ void __launch_bounds__(kBwdWarps* kWarp) warp_backward(BwdArgs<T> a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int nvec = int(a.D / V);
  const T inv_d = T(1) / T(a.D);
  T pw[kVecs][V] = {}, pb[kVecs][V] = {};
  const int64_t r0 = int64_t(blockIdx.x) * a.rows_per_block;
  const int64_t r1 = min(a.rows, r0 + a.rows_per_block);
  for (int64_t r = r0 + warp; r < r1; r += kBwdWarps) {
    const T* xr = a.x + r * a.D;
    const T* dyr = a.dy + r * a.D;
    T xh[kVecs][V], g[kVecs][V];
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      Vec<T, V> tx{}, td{};
      if (i * kWarp + lane < nvec) {
        tx = load<T, V>(xr, i * kWarp + lane);
        td = load<T, V>(dyr, i * kWarp + lane);
      }
#pragma unroll
      for (int k = 0; k < V; ++k) xh[i][k] = tx.v[k], g[i][k] = td.v[k];
    }
    const T m = kKind == RowNorm::layer ? a.mean[r] : T(0), rs = a.rstd[r];
    T sg = 0, sgx = 0;  // sums of g = dy * w and of g * xhat
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = i * kWarp + lane;
      if (c >= nvec) continue;
      Vec<T, V> wv{};
      if (a.w) wv = load<T, V>(a.w, c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const T d = g[i][k];
        xh[i][k] = (xh[i][k] - m) * rs;
        pw[i][k] += d * xh[i][k];
        pb[i][k] += d;
        g[i][k] = a.w ? d * wv.v[k] : d;
        sg += g[i][k];
        sgx += g[i][k] * xh[i][k];
      }
    }
    sg = norm::warp_sum(sg);
    sgx = norm::warp_sum(sgx);
    if (!a.dx) continue;
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); rms norm has no centring term.
    const T c1 = kKind == RowNorm::layer ? sg * inv_d : T(0), c2 = sgx * inv_d;
    T* dxr = a.dx + r * a.D;
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = i * kWarp + lane;
      if (c >= nvec) continue;
      Vec<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) o.v[k] = rs * (g[i][k] - c1 - xh[i][k] * c2);
      store<T, V>(dxr, c, o);
    }
  }
  if (!a.partial) return;
  T* sm = reinterpret_cast<T*>(smem_raw);  // (warps, 2, D)
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = i * kWarp + lane;
    if (c >= nvec) continue;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      sm[(2 * warp) * a.D + c * V + k] = pw[i][k];
      sm[(2 * warp + 1) * a.D + c * V + k] = pb[i][k];
    }
  }
  __syncthreads();
  T* out = a.partial + int64_t(blockIdx.x) * 2 * a.D;
  for (int64_t q = threadIdx.x; q < 2 * a.D; q += blockDim.x) {
    T s = 0;
    for (int w = 0; w < kBwdWarps; ++w) s += sm[w * 2 * a.D + q];
    out[q] = s;
  }
}

// ---- block per row: thread t owns vectors t, t + blockDim, ... -------------------------------

// Block b handles rows [b * rows_per_block, ...) one after another; each thread accumulates
// its columns' sums directly in the block's partial row (the first row initialises it).
template <class T, int V, RowNorm kKind>
__global__ void __launch_bounds__(kRowBlock) block_backward(BwdArgs<T> a) {
  using VT = Vec<T, V>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ T red[2 * kWarp];
  const int64_t nvec = a.D / V;
  VT* cx = reinterpret_cast<VT*>(smem_raw);
  VT* cdy = cx + nvec;
  VT* pw = a.partial ? reinterpret_cast<VT*>(a.partial + int64_t(blockIdx.x) * 2 * a.D) : nullptr;
  VT* pb = pw ? pw + nvec : nullptr;
  const T inv_d = T(1) / T(a.D);
  const int64_t r0 = int64_t(blockIdx.x) * a.rows_per_block;
  const int64_t r1 = min(a.rows, r0 + a.rows_per_block);
  for (int64_t r = r0; r < r1; ++r) {
    const VT* xr = reinterpret_cast<const VT*>(a.x + r * a.D);
    const VT* dyr = reinterpret_cast<const VT*>(a.dy + r * a.D);
    const T m = kKind == RowNorm::layer ? a.mean[r] : T(0), rs = a.rstd[r];
    T s[2] = {0, 0};  // sums of g = dy * w and of g * xhat
    for (int64_t c = threadIdx.x; c < nvec; c += blockDim.x) {
      const VT tx = xr[c], td = dyr[c];
      if (a.cache) cx[c] = tx, cdy[c] = td;
      VT wv{}, accw{}, accb{};
      if (a.w) wv = load<T, V>(a.w, c);
      if (pw && r > r0) accw = pw[c], accb = pb[c];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const T xh = (tx.v[k] - m) * rs, g = a.w ? td.v[k] * wv.v[k] : td.v[k];
        s[0] += g;
        s[1] += g * xh;
        accw.v[k] += td.v[k] * xh;
        accb.v[k] += td.v[k];
      }
      if (pw) pw[c] = accw, pb[c] = accb;
    }
    norm::block_sum(s, red);
    if (!a.dx) continue;
    const T c1 = kKind == RowNorm::layer ? s[0] * inv_d : T(0), c2 = s[1] * inv_d;
    const VT* sx = a.cache ? cx : xr;
    const VT* sdy = a.cache ? cdy : dyr;
    T* dxr = a.dx + r * a.D;
    for (int64_t c = threadIdx.x; c < nvec; c += blockDim.x) {
      const VT tx = sx[c], td = sdy[c];
      VT wv{}, o;
      if (a.w) wv = load<T, V>(a.w, c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const T xh = (tx.v[k] - m) * rs, g = a.w ? td.v[k] * wv.v[k] : td.v[k];
        o.v[k] = rs * (g - c1 - xh * c2);
      }
      store<T, V>(dxr, c, o);
    }
  }
}

// partial: (blocks, 2, D) -> out0[d] = sum_b partial[b][0][d], out1[d] = sum_b partial[b][1][d]
// (either may be null). Block (32, kSumRows): x walks columns, y walks blocks with a fixed
// stride (unrolled, so several loads are in flight), then a fixed-order sum over y.
constexpr int kSumRows = 32;
template <class T>
__global__ void sum_partials(const T* __restrict__ partial, int64_t blocks, int64_t D,
                             T* __restrict__ out0, T* __restrict__ out1) {
  __shared__ T tile[kSumRows][kWarp + 1];
  const int64_t q = int64_t(blockIdx.x) * kWarp + threadIdx.x;  // column of (2, D)
  T s = 0;
  if (q < 2 * D) {
#pragma unroll 4
    for (int64_t b = threadIdx.y; b < blocks; b += kSumRows) s += partial[b * 2 * D + q];
  }
  tile[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y != 0 || q >= 2 * D) return;
  for (int y = 1; y < kSumRows; ++y) s += tile[y][threadIdx.x];
  if (q < D) {
    if (out0) out0[q] = s;
  } else if (out1) {
    out1[q - D] = s;
  }
}

template <class T, RowNorm kKind>
void backward_impl(BwdArgs<T> a, T* dw, T* db, Device device) {
  const int dev = device.index;
  cudaStream_t s = stream(dev);
  const bool want = dw || db;
  const bool vec = a.D % (16 / sizeof(T)) == 0 && norm::aligned16(a.dy, a.x, a.w, a.dx);
  // As many blocks as are resident at once, each over a fixed range of rows, so the partial
  // buffer stays small and the summation order depends only on the device.
  auto run = [&](auto kernel, int threads, size_t smem, int64_t rows_per_round) {
    int per_sm = 0;
    COIL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem));
    int64_t blocks = std::min<int64_t>(int64_t(std::max(per_sm, 1)) * sm_count(dev),
                                       (a.rows + rows_per_round - 1) / rows_per_round);
    a.rows_per_block = (a.rows + blocks - 1) / blocks;
    blocks = (a.rows + a.rows_per_block - 1) / a.rows_per_block;  // every block has rows
    Storage partial(want ? size_t(blocks * 2 * a.D) * sizeof(T) : 0, device);
    a.partial = static_cast<T*>(partial.data());
    kernel<<<unsigned(blocks), threads, smem, s>>>(a);
    COIL_CUDA_CHECK_LAUNCH();
    if (!want) return;
    sum_partials<T><<<unsigned((2 * a.D + kWarp - 1) / kWarp), dim3(kWarp, kSumRows), 0, s>>>(
        a.partial, blocks, a.D, dw, db);
    COIL_CUDA_CHECK_LAUNCH();
  };
  if constexpr (kWarpPath<T>) {
    if (a.D <= kMaxWarpRow) {
      with_width<T>(vec, [&](auto v) {
        constexpr int V = decltype(v)::value;
        with_vecs<V>((a.D / V + kWarp - 1) / kWarp, [&](auto k) {
          // shared memory holds the per-warp partial sums: needed only for dweight/dbias
          run(warp_backward<T, V, decltype(k)::value, kKind>, kBwdWarps * kWarp,
              want ? size_t(kBwdWarps) * 2 * size_t(a.D) * sizeof(T) : 0, kBwdWarps);
        });
      });
      return;
    }
  }
  a.cache = 2 * size_t(a.D) * sizeof(T) <= kCacheBytes;
  with_width<T>(vec, [&](auto v) {
    constexpr int V = decltype(v)::value;
    const int64_t nvec = a.D / V;
    const int threads = int(std::min<int64_t>(kRowBlock, (nvec + kWarp - 1) / kWarp * kWarp));
    // shared memory caches the row of x and dy: needed whether or not dweight/dbias are
    run(block_backward<T, V, kKind>, threads, a.cache ? 2 * size_t(a.D) * sizeof(T) : 0, 1);
  });
}

}  // namespace

void row_norm_backward(RowNorm kind, const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                       const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                       const Tensor& rstd) {
  DeviceGuard guard(x.device().index);
  if (x.numel() == 0) {  // no rows: the weight/bias gradients are empty sums
    if (dweight.defined()) core::fill_(dweight, 0.0);
    if (dbias.defined()) core::fill_(dbias, 0.0);
    return;
  }
  dispatch<DType::f32, DType::f64>(x.dtype(), op_name(kind), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t D = x.size(-1);
    BwdArgs<T> a{dy.data<T>(),
                 x.data<T>(),
                 data_or_null<const T>(weight),
                 data_or_null<const T>(mean),
                 rstd.data<T>(),
                 data_or_null<T>(dx),
                 nullptr,
                 x.numel() / D,
                 D,
                 0,
                 false};
    if (kind == RowNorm::layer)
      backward_impl<T, RowNorm::layer>(a, data_or_null<T>(dweight), data_or_null<T>(dbias),
                                       x.device());
    else
      backward_impl<T, RowNorm::rms>(a, data_or_null<T>(dweight), data_or_null<T>(dbias),
                                     x.device());
  });
}

}  // namespace coil::cuda
