// CUDA kernels of batch_norm over (N, C, L), f32 and f64. Statistics: blocks reduce fixed
// chunks of each channel's N * L values (Welford per thread, Chan's merge in a fixed tree), a
// per-channel kernel merges the chunks in order, updates the running statistics and saves
// mean/invstd; one elementwise pass normalises. The backward mirrors it with per-channel sums
// of dy and dy * (x - mean), then one elementwise pass for dx. No atomics.
#include <algorithm>

#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/storage.h"
#include "ops/norm/kernels.h"
#include "ops/norm/norm_cuda.cuh"

namespace coil::cuda {
namespace {

using norm::kWarp;

// ---- per-channel reductions ------------------------------------------------------------------

template <class A>
struct Moments {  // count, mean and sum of squared deviations
  A n, mean, m2;
};

template <class A>
__device__ __forceinline__ Moments<A> merge(const Moments<A>& a, const Moments<A>& b) {
  const A n = a.n + b.n;
  if (n == A(0)) return a;
  const A d = b.mean - a.mean, f = b.n / n;
  return {n, a.mean + d * f, a.m2 + b.m2 + d * d * a.n * f};
}

// The statistics of x.
template <class T>
struct StatsOp {
  using Acc = Moments<T>;
  const T* x;
  __device__ Acc identity() const { return {0, 0, 0}; }
  __device__ void push(Acc& a, int64_t, int64_t off) const {
    const T v = x[off], d = v - a.mean;
    a.n += 1;
    a.mean += d / a.n;
    a.m2 += d * (v - a.mean);
  }
  __device__ static Acc combine(const Acc& a, const Acc& b) { return merge(a, b); }
  __device__ static Acc shfl_down(const Acc& a, int d) {
    return {__shfl_down_sync(0xffffffffu, a.n, d), __shfl_down_sync(0xffffffffu, a.mean, d),
            __shfl_down_sync(0xffffffffu, a.m2, d)};
  }
};

template <class A>
struct Sums {  // sum of dy, sum of dy * (x - mean)
  A dy, dyxmu;
};

template <class T>
struct GradOp {
  using Acc = Sums<T>;
  const T* dy;
  const T* x;
  const T* mean;  // (C)
  __device__ Acc identity() const { return {0, 0}; }
  __device__ void push(Acc& a, int64_t c, int64_t off) const {
    const T g = dy[off];
    a.dy += g;
    a.dyxmu += g * (x[off] - mean[c]);
  }
  __device__ static Acc combine(const Acc& a, const Acc& b) {
    return {a.dy + b.dy, a.dyxmu + b.dyxmu};
  }
  __device__ static Acc shfl_down(const Acc& a, int d) {
    return {__shfl_down_sync(0xffffffffu, a.dy, d), __shfl_down_sync(0xffffffffu, a.dyxmu, d)};
  }
};

// L > 1: block (c, chunk) reduces values j in [chunk * len, ...) of channel c, j = n * L + l,
// threads striding over j (runs of L contiguous values). out: (chunks, C).
template <class Op>
__global__ void __launch_bounds__(kBlock)
    reduce_channel_rows(Op op, int64_t C, int64_t L, int64_t M, int64_t len,
                        typename Op::Acc* __restrict__ out) {
  using Acc = typename Op::Acc;
  __shared__ Acc warp_acc[kBlock / kWarp];
  const int64_t c = blockIdx.x, chunk = blockIdx.y;
  const int64_t j1 = min(M, (chunk + 1) * len);
  int64_t j = chunk * len + threadIdx.x;
  int64_t n = j / L, l = j - n * L;  // advanced incrementally: one division per thread
  const int64_t dn = kBlock / L, dl = kBlock % L;
  Acc acc = op.identity();
  for (; j < j1; j += kBlock) {
    op.push(acc, c, (n * C + c) * L + l);
    n += dn, l += dl;
    if (l >= L) l -= L, ++n;
  }
  for (int d = kWarp / 2; d > 0; d /= 2) acc = Op::combine(acc, Op::shfl_down(acc, d));
  if (threadIdx.x % kWarp == 0) warp_acc[threadIdx.x / kWarp] = acc;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kBlock / kWarp; ++w) acc = Op::combine(acc, warp_acc[w]);
  out[chunk * C + c] = acc;
}

// L == 1, x (N, C): block (tile of 32 channels, chunk of rows), x walks channels (coalesced),
// y walks rows with a fixed stride, then a fixed-order merge over y. out: (chunks, C).
constexpr int kTileRows = 8;
template <class Op>
__global__ void reduce_channel_cols(Op op, int64_t C, int64_t N, int64_t len,
                                    typename Op::Acc* __restrict__ out) {
  using Acc = typename Op::Acc;
  __shared__ Acc tile[kTileRows][kWarp];
  const int64_t c = int64_t(blockIdx.x) * kWarp + threadIdx.x, chunk = blockIdx.y;
  const int64_t n1 = min(N, (chunk + 1) * len);
  Acc acc = op.identity();
  if (c < C)
    for (int64_t n = chunk * len + threadIdx.y; n < n1; n += kTileRows) op.push(acc, c, n * C + c);
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  for (int y = 1; y < kTileRows; ++y) acc = Op::combine(acc, tile[y][threadIdx.x]);
  out[chunk * C + c] = acc;
}

// How a (N, C, L) tensor's channels are split into chunks: enough blocks to fill the device,
// never fewer than a few thousand values per block. Depends only on the shape and the device.
struct ChannelPlan {
  bool cols;  // L == 1
  int64_t len, chunks;
  ChannelPlan(int64_t N, int64_t C, int64_t L, int dev) : cols(L == 1) {
    const int64_t target = int64_t(sm_count(dev)) * 4, extent = cols ? N : N * L;
    const int64_t per_chunk = cols ? 64 : 2048;  // rows (cols) or values (rows kernel)
    const int64_t tiles = cols ? (C + kWarp - 1) / kWarp : C;
    const int64_t most = std::clamp<int64_t>((extent + per_chunk - 1) / per_chunk, 1, 256);
    chunks = std::clamp<int64_t>((target + tiles - 1) / tiles, 1, most);
    len = std::max<int64_t>(1, (extent + chunks - 1) / chunks);
    chunks = std::max<int64_t>(1, (extent + len - 1) / len);
  }
};

template <class Op>
void reduce_channels(const Op& op, const ChannelPlan& p, int64_t N, int64_t C, int64_t L,
                     typename Op::Acc* out, cudaStream_t s) {
  if (p.cols) {
    dim3 grid{unsigned((C + kWarp - 1) / kWarp), unsigned(p.chunks)};
    reduce_channel_cols<<<grid, dim3(kWarp, kTileRows), 0, s>>>(op, C, N, p.len, out);
  } else {
    dim3 grid{unsigned(C), unsigned(p.chunks)};
    reduce_channel_rows<<<grid, kBlock, 0, s>>>(op, C, L, N * L, p.len, out);
  }
  COIL_CUDA_CHECK_LAUNCH();
}

// ---- per-channel finishing -------------------------------------------------------------------

// One thread per channel: merge the chunks in order (training) or read the running statistics
// (eval); save mean and invstd; update the running statistics.
template <class T>
__global__ void finish_stats(const Moments<T>* __restrict__ part, int64_t chunks, int64_t C,
                             int64_t M, T* rm, T* rv, T* save_mean, T* save_invstd, bool training,
                             T momentum, T eps) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  T mean, invstd;
  if (training) {
    Moments<T> acc = part[c];
    for (int64_t k = 1; k < chunks; ++k) acc = merge(acc, part[k * C + c]);
    mean = acc.mean;
    invstd = norm::inv_sqrt(acc.m2 / T(M) + eps);
    if (rm) {
      rm[c] = (T(1) - momentum) * rm[c] + momentum * mean;
      rv[c] = (T(1) - momentum) * rv[c] + momentum * acc.m2 / T(M - 1);
    }
  } else {
    mean = rm[c];
    invstd = norm::inv_sqrt(rv[c] + eps);
  }
  save_mean[c] = mean;
  save_invstd[c] = invstd;
}

// One thread per channel: the weight/bias gradients and the coefficients of
//   dx = a * (dy - k1 - (x - mean) * k2),  coef = (a, k1, k2) each (C).
template <class T>
__global__ void finish_grads(const Sums<T>* __restrict__ part, int64_t chunks, int64_t C, int64_t M,
                             const T* w, const T* save_invstd, T* dw, T* db, T* coef,
                             bool training) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  Sums<T> acc{0, 0};
  for (int64_t k = 0; part && k < chunks; ++k) acc = GradOp<T>::combine(acc, part[k * C + c]);
  const T invstd = save_invstd[c];
  if (dw) dw[c] = acc.dyxmu * invstd;
  if (db) db[c] = acc.dy;
  coef[c] = (w ? w[c] : T(1)) * invstd;
  coef[C + c] = training ? acc.dy / T(M) : T(0);
  coef[2 * C + c] = training ? acc.dyxmu * invstd * invstd / T(M) : T(0);
}

// ---- elementwise passes ----------------------------------------------------------------------

template <class T>
struct Normalize {  // y = (x - mean) * invstd * w + b
  const T *mean, *invstd, *w, *b;
  __device__ T operator()(int64_t c, T x, T) const {
    T y = (x - mean[c]) * invstd[c];
    if (w) y *= w[c];
    return b ? y + b[c] : y;
  }
};

template <class T>
struct InputGrad {  // dx = a * (dy - k1 - (x - mean) * k2); eval: x is not read
  const T *coef, *mean;
  int64_t C;
  bool training;
  __device__ T operator()(int64_t c, T dy, T x) const {
    const T a = coef[c];
    return training ? a * (dy - coef[C + c] - (x - mean[c]) * coef[2 * C + c]) : a * dy;
  }
};

// out[i] = f(c(i), in0[i], in1[i]) over a contiguous (N, C, L) tensor (in1 may be null),
// V elements per access; the channel is tracked incrementally within a vector.
template <int V, class T, class F>
__global__ void channel_map(int64_t numel, int64_t C, int64_t L, F f, T* __restrict__ out,
                            const T* __restrict__ in0, const T* __restrict__ in1) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t nvec = numel / V;
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < nvec; v += stride) {
    const int64_t i = v * V, q = i / L;
    int64_t l = i - q * L, c = q % C;
    const Vec<T, V> a = reinterpret_cast<const Vec<T, V>*>(in0)[v];
    Vec<T, V> b{}, o;
    if (in1) b = reinterpret_cast<const Vec<T, V>*>(in1)[v];
#pragma unroll
    for (int k = 0; k < V; ++k) {
      o.v[k] = f(c, a.v[k], b.v[k]);
      if (++l == L) {
        l = 0;
        if (++c == C) c = 0;
      }
    }
    reinterpret_cast<Vec<T, V>*>(out)[v] = o;
  }
  for (int64_t i = nvec * V + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < numel;
       i += stride)
    out[i] = f((i / L) % C, in0[i], in1 ? in1[i] : T(0));
}

template <class T, class F>
void launch_channel_map(int64_t numel, int64_t C, int64_t L, const F& f, T* out, const T* in0,
                        const T* in1, int dev) {
  if (numel == 0) return;
  constexpr int V = 16 / sizeof(T);
  cudaStream_t s = stream(dev);
  if (norm::aligned16(out, in0, in1))
    channel_map<V><<<grid_for(numel, dev, V), kBlock, 0, s>>>(numel, C, L, f, out, in0, in1);
  else channel_map<1><<<grid_for(numel, dev), kBlock, 0, s>>>(numel, C, L, f, out, in0, in1);
  COIL_CUDA_CHECK_LAUNCH();
}

unsigned channel_blocks(int64_t C) { return unsigned((C + kBlock - 1) / kBlock); }

// Where a batch_norm pass over x (N, C, L) runs: its shape, device, compute stream and the
// chunking of its channels.
struct Pass {
  int64_t N, C, L;
  int dev;
  cudaStream_t s;
  ChannelPlan plan;
};

// Calls body(TypeTag<T>, pass) for x's dtype (f32 or f64) with x's device current; nothing runs
// when x has no channels.
template <class F>
void run_pass(const Tensor& x, F&& body) {
  const int64_t N = x.size(0), C = x.size(1), L = x.size(2);
  if (C == 0) return;
  const int dev = x.device().index;
  DeviceGuard guard(dev);
  cudaStream_t s = stream(dev);
  dispatch<DType::f32, DType::f64>(x.dtype(), "batch_norm", [&](auto tag) {
    body(tag, Pass{N, C, L, dev, s, ChannelPlan(N, C, L, dev)});
  });
}

}  // namespace

void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                        const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Tensor& running_mean, const Tensor& running_var, bool training,
                        double momentum, double eps) {
  run_pass(x, [&](auto tag, const Pass& p) {
    using T = typename decltype(tag)::type;
    const auto& [N, C, L, dev, s, plan] = p;
    Storage part(training ? size_t(plan.chunks * C) * sizeof(Moments<T>) : 0, x.device());
    auto* moments = static_cast<Moments<T>*>(part.data());
    if (training) reduce_channels(StatsOp<T>{x.data<T>()}, plan, N, C, L, moments, s);
    finish_stats<T><<<channel_blocks(C), kBlock, 0, s>>>(
        moments, plan.chunks, C, N * L, data_or_null<T>(running_mean), data_or_null<T>(running_var),
        save_mean.data<T>(), save_invstd.data<T>(), training, T(momentum), T(eps));
    COIL_CUDA_CHECK_LAUNCH();
    Normalize<T> f{save_mean.data<T>(), save_invstd.data<T>(), data_or_null<const T>(weight),
                   data_or_null<const T>(bias)};
    launch_channel_map<T>(x.numel(), C, L, f, y.data<T>(), x.data<T>(), nullptr, dev);
  });
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                         const Tensor& dy, const Tensor& x, const Tensor& weight,
                         const Tensor& save_mean, const Tensor& save_invstd, bool training) {
  run_pass(x, [&](auto tag, const Pass& p) {
    using T = typename decltype(tag)::type;
    const auto& [N, C, L, dev, s, plan] = p;
    const bool sums = (training && dx.defined()) || dweight.defined() || dbias.defined();
    Storage part(sums && N * L > 0 ? size_t(plan.chunks * C) * sizeof(Sums<T>) : 0, x.device());
    auto* partial = static_cast<Sums<T>*>(part.data());
    if (partial)
      reduce_channels(GradOp<T>{dy.data<T>(), x.data<T>(), save_mean.data<T>()}, plan, N, C, L,
                      partial, s);
    Storage coef(3 * size_t(C) * sizeof(T), x.device());
    T* cf = static_cast<T*>(coef.data());
    finish_grads<T><<<channel_blocks(C), kBlock, 0, s>>>(
        partial, plan.chunks, C, N * L, data_or_null<const T>(weight), save_invstd.data<T>(),
        data_or_null<T>(dweight), data_or_null<T>(dbias), cf, training);
    COIL_CUDA_CHECK_LAUNCH();
    if (!dx.defined()) return;
    InputGrad<T> f{cf, save_mean.data<T>(), C, training};
    launch_channel_map<T>(x.numel(), C, L, f, dx.data<T>(), dy.data<T>(),
                          training ? x.data<T>() : nullptr, dev);
  });
}

}  // namespace coil::cuda
