// CUDA selective scan (ops/selective_scan/selective_scan.h): launch configuration, the final
// fixed-order reductions of the backward, the chunked scan over L (when Bt x channels cannot fill
// the GPU), and the entry points of kernels.h. The kernels are in forward_cuda.cuh and
// backward_cuda.cuh; their layout is described there.
#include <cstdlib>
#include <memory>

#include "core/cuda/launch.cuh"
#include "core/storage.h"
#include "ops/selective_scan/backward_cuda.cuh"
#include "ops/selective_scan/forward_cuda.cuh"
#include "ops/selective_scan/kernels.h"

namespace coil::cuda {
namespace {

using namespace scan;

// Most groups that one block's channel range [cx*BC, cx*BC + BC) touches.
int groups_per_block(int64_t Dch, int64_t cpg, int BC) {
  int most = 1;
  for (int64_t d0 = 0; d0 < Dch; d0 += BC) {
    const int64_t d1 = std::min(Dch, d0 + BC) - 1;
    most = std::max<int>(most, int(d1 / cpg - d0 / cpg + 1));
  }
  return most;
}

ScanArgs make_args(const SelectiveScanParams& p, int BC) {
  COIL_CHECK(p.dtype == DType::f32 || p.dtype == DType::bf16,
             "[selective_scan] CUDA takes f32 or bf16 u/delta/z/B/C, got {}", dtype_name(p.dtype));
  COIL_CHECK(p.param_dtype == DType::f32,
             "[selective_scan] CUDA takes f32 A/D/delta_bias/states, got {}",
             dtype_name(p.param_dtype));
  COIL_CHECK(p.batch <= 65535, "[selective_scan] CUDA batch {} above 65535", p.batch);
  ScanArgs a{};
  a.Bt = p.batch, a.L = p.length, a.Dch = p.channels, a.N = p.state, a.G = p.groups;
  a.cpg = p.channels / p.groups;
  a.u = p.u, a.delta = p.delta, a.z = p.z, a.B = p.B, a.C = p.C;
  a.u_sb = p.u_sb, a.u_st = p.u_st, a.dl_sb = p.delta_sb, a.dl_st = p.delta_st;
  a.z_sb = p.z_sb, a.z_st = p.z_st, a.B_sb = p.B_sb, a.B_st = p.B_st;
  a.C_sb = p.C_sb, a.C_st = p.C_st;
  for (int64_t st : {a.u_st, a.dl_st, a.z_st, a.B_st, a.C_st, p.channels})
    COIL_CHECK(st < kMaxStride, "[selective_scan] CUDA time stride {} above {}", st, kMaxStride);
  a.A = static_cast<const float*>(p.A);
  a.D = static_cast<const float*>(p.D);
  a.bias = static_cast<const float*>(p.delta_bias);
  a.softplus = p.delta_softplus;
  a.h0 = static_cast<const float*>(p.initial_state);
  a.reset = p.reset, a.r_sb = p.reset_sb, a.r_st = p.reset_st;
  a.ntiles = (p.length + kT - 1) / kT;
  a.ngs = groups_per_block(p.channels, a.cpg, BC);
  a.tpc = a.ntiles, a.nchunks = 1;
  a.carry = nullptr, a.sum_P = a.sum_h = nullptr;
  return a;
}

template <class Kernel>
void set_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    COIL_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// ---------------------------------------------------------------------------------------------
// Chunks over L

// Shortest chunk (tiles): below it the summary pass and the combine cost more than they buy.
inline constexpr int64_t kMinChunkTiles = 8;

// Only the layouts with B/C tiles in shared memory and at most 4 states per lane are chunked
// (every N <= 32 with few groups per block: Mamba's shapes); the others run unchunked.
template <int S, bool kSmem>
inline constexpr bool kChunkable = kSmem&& S <= 4;

// Tiles per chunk: every tile (one chunk) unless the blocks of Bt x channel blocks fill at most
// half of the GPU's resident slots (a nearly full wave costs less than the summary pass); else
// chunks of at least kMinChunkTiles, about 8 waves of blocks in all.
// COIL_SELECTIVE_SCAN_CHUNK_TILES=k forces k tiles per chunk (tests and the kernel lab);
// COIL_SELECTIVE_SCAN_BWD_CHUNK_TILES=k only the backward's (the lab: the backward's wave tail).
template <class Kernel>
int64_t chunk_tiles(Kernel kernel, int threads, size_t bytes, int64_t blocks, int64_t ntiles,
                    bool backward, int dev) {
  const int64_t least = (ntiles + 65534) / 65535;  // grid z limit
  const char* env = backward ? std::getenv("COIL_SELECTIVE_SCAN_BWD_CHUNK_TILES") : nullptr;
  if (!env) env = std::getenv("COIL_SELECTIVE_SCAN_CHUNK_TILES");
  if (env && std::atoi(env) > 0) return std::min(ntiles, std::max<int64_t>(least, std::atoi(env)));
  if (blocks >= 8 * int64_t(sm_count(dev))) return ntiles;  // 8 x 256 threads fill an SM
  int per_sm = 1;
  COIL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, bytes));
  const int64_t resident = int64_t(std::max(per_sm, 1)) * sm_count(dev);
  if (2 * blocks > resident || ntiles < 2 * kMinChunkTiles) return ntiles;
  const int64_t want = (8 * resident + blocks - 1) / blocks;
  return std::max({least, kMinChunkTiles, (ntiles + want - 1) / want});
}

// Per (b, d, n), in chunk order (reverse: last chunk first): turns sum_h (each chunk's state, or
// dh, from zero) into the value carried into each chunk, starting from init (or zero):
// carry_c = H; H = P_c * H + sum_h_c. Sequential over chunks: fixed order, deterministic.
__global__ void combine_chunks_kernel(const float* __restrict__ sum_P, float* __restrict__ sum_h,
                                      const float* __restrict__ init, int64_t rows, int nchunks,
                                      int64_t N, bool reverse) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * N;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / N, n = i - r * N, base = r * nchunks * N + n;
    float H = init ? init[i] : 0.f;
    for (int j = 0; j < nchunks; ++j) {
      const int64_t at = base + int64_t(reverse ? nchunks - 1 - j : j) * N;
      const float hc = sum_h[at];
      sum_h[at] = H;
      H = fmaf(sum_P[at], H, hc);
    }
  }
}

// Decides the chunks of a launch of `kernel` (grid x * Bt blocks); when there are several, runs
// the summary kernel and the combine, so that a.carry holds each chunk's carried-in value. The
// returned storage holds the chunk arrays and must outlive the main launch (stream-ordered).
template <class Kernel, class Summary, class Launch>
std::shared_ptr<Storage> prepare_chunks(ScanArgs& a, Kernel kernel, Summary summary, int threads,
                                        size_t bytes, unsigned gx, const float* init, bool reverse,
                                        int dev, Launch launch_summary) {
  a.tpc = chunk_tiles(kernel, threads, bytes, int64_t(gx) * a.Bt, a.ntiles, reverse, dev);
  a.nchunks = int((a.ntiles + a.tpc - 1) / a.tpc);
  if (a.nchunks == 1) return nullptr;
  const int64_t n = a.Bt * a.Dch * a.nchunks * a.N;
  auto sums = make_storage(size_t(2 * n) * 4, Device::cuda(dev));
  a.sum_P = static_cast<float*>(sums->data()), a.sum_h = a.sum_P + n;
  set_smem(summary, bytes);
  launch_summary(dim3(gx, unsigned(a.Bt), unsigned(a.nchunks)));
  COIL_CUDA_CHECK_LAUNCH();
  combine_chunks_kernel<<<grid_for(a.Bt * a.Dch * a.N, dev), kBlock, 0, stream(dev)>>>(
      a.sum_P, a.sum_h, init, a.Bt * a.Dch, a.nchunks, a.N, reverse);
  COIL_CUDA_CHECK_LAUNCH();
  a.carry = a.sum_h;
  return sums;
}

// ---------------------------------------------------------------------------------------------
// Forward

// Round of the N <= 16 forward: 3 = 8 lanes x 2 states, the next tile's inputs prefetched into
// registers (the round-3 kernel); 4 = the same with f32 u, delta, z staged in shared memory by
// cp.async (kStage); 5 = 4 lanes x 4 states in blocks of 4 warps (half the y-reduction shuffles
// and shared-memory reads per state-step, twice the tile elements per thread to amortise the
// per-tile work); 6 = round 5 with round 4's staging (f32). COIL_SELECTIVE_SCAN_FWD=3 ... 6
// forces one (the kernel lab times each). 5 is the default: the fastest on every lab row (H100,
// 2026-12-07: 0.263 ms against round 3's 0.329 at Bt 8, L 2048, f32; bench/RESULTS.md).
inline constexpr int kDefaultFwdRound = 5;

int forward_round() {
  const char* env = std::getenv("COIL_SELECTIVE_SCAN_FWD");
  return env && std::atoi(env) > 0 ? std::atoi(env) : kDefaultFwdRound;
}

// Lanes per (b, d) and state slots per lane. N <= 16 takes 8 lanes x 2 slots (round 5: 4 x 4)
// whenever its B/C tiles fit in shared memory: on the H200 (round 3 lab) 8 x 2 beat 16 x 1 on
// every workload, small batches included, since L is chunked when the blocks cannot fill the
// GPU. The kernel lab can force one with COIL_SELECTIVE_SCAN_LANES=4, 8 or 16.
struct Config {
  int nl, s;
};

Config forward_config(const SelectiveScanParams& p, int ngs) {
  if (p.state <= 16) {
    const char* env = std::getenv("COIL_SELECTIVE_SCAN_LANES");
    const int forced = env ? std::atoi(env) : 0;
    // B/C tiles of 4- and 8-lane blocks (32 channels) stay in shared memory.
    const bool fits = ngs * 16 <= 32;
    if (forced == 16 || !fits) return {16, 1};
    if (forced == 4 || (forced != 8 && forward_round() >= 5)) return {4, 4};
    return {8, 2};
  }
  if (p.state <= 32) return {32, 1};
  if (p.state <= 64) return {32, 2};
  return {32, 8};
}

template <class T, int NL, int S, bool kSmem, bool kStage = false, bool kVec = false>
void launch_forward(ScanArgs a, void* out, float* fs, float* ckpt, void* ypre, int dev) {
  constexpr int BC = FwdShape<NL>::BC, kThreads = FwdShape<NL>::kThreads;
  const size_t bytes = size_t(forward_smem_floats<NL, kStage>(kSmem ? a.ngs * NL * S : 0)) * 4;
  const unsigned gx = unsigned((a.Dch + BC - 1) / BC);
  auto kernel = a.reset ? forward_kernel<T, NL, S, true, kSmem, false, kStage, kVec>
                        : forward_kernel<T, NL, S, false, kSmem, false, kStage, kVec>;
  set_smem(kernel, bytes);
  std::shared_ptr<Storage> sums;
  if constexpr (kChunkable<S, kSmem>) {
    auto summary = a.reset ? forward_kernel<T, NL, S, true, kSmem, true, kStage, kVec>
                           : forward_kernel<T, NL, S, false, kSmem, true, kStage, kVec>;
    sums =
        prepare_chunks(a, kernel, summary, kThreads, bytes, gx, a.h0, false, dev, [&](dim3 grid) {
          summary<<<grid, kThreads, bytes, stream(dev)>>>(a, nullptr, nullptr, nullptr, nullptr);
        });
  }
  const dim3 grid(gx, unsigned(a.Bt), unsigned(a.nchunks));
  kernel<<<grid, kThreads, bytes, stream(dev)>>>(a, static_cast<T*>(out), fs, ckpt,
                                                 static_cast<T*>(ypre));
  COIL_CUDA_CHECK_LAUNCH();
}

// Round 5, f32: B and C tiles copied 16 bytes at a time when each step's (group, state) rows
// are contiguous and 16-byte aligned.
bool bc_vectorisable(const ScanArgs& a) {
  auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return a.N == 16 && aligned(a.B) && aligned(a.C) && (a.B_sb | a.B_st | a.C_sb | a.C_st) % 4 == 0;
}

template <class T>
void forward_typed(ScanArgs a, Config c, bool smem, void* o, float* fs, float* ck, void* yp,
                   int dev) {
  constexpr bool f32 = sizeof(T) == 4;
  const bool staged = f32 && (forward_round() == 4 || forward_round() == 6);
  const bool vec = f32 && c.nl == 4 && bc_vectorisable(a);
  // Round 6 (staged) only with 16-byte B/C copies; otherwise round 5's registers.
  if (vec && staged) launch_forward<T, 4, 4, true, f32, f32>(a, o, fs, ck, yp, dev);
  else if (vec) launch_forward<T, 4, 4, true, false, f32>(a, o, fs, ck, yp, dev);
  else if (c.nl == 4) launch_forward<T, 4, 4, true>(a, o, fs, ck, yp, dev);
  else if (c.nl == 8 && staged)
    launch_forward<T, 8, 2, true, sizeof(T) == 4>(a, o, fs, ck, yp, dev);
  else if (c.nl == 8) launch_forward<T, 8, 2, true>(a, o, fs, ck, yp, dev);
  else if (c.nl == 16 && smem) launch_forward<T, 16, 1, true>(a, o, fs, ck, yp, dev);
  else if (c.nl == 16) launch_forward<T, 16, 1, false>(a, o, fs, ck, yp, dev);
  else if (c.s == 1 && smem) launch_forward<T, 32, 1, true>(a, o, fs, ck, yp, dev);
  else if (c.s == 1) launch_forward<T, 32, 1, false>(a, o, fs, ck, yp, dev);
  else if (c.s == 2) launch_forward<T, 32, 2, false>(a, o, fs, ck, yp, dev);
  else launch_forward<T, 32, 8, false>(a, o, fs, ck, yp, dev);
}

// The checkpoint tensor: the f32 states before every tile, (Bt, Dch, ntiles, N), then (with z)
// y + D*u before the gate, (Bt, L, Dch) in the activation dtype, for the backward's dz.
struct CkptLayout {
  int64_t states, total_floats;
  CkptLayout(const SelectiveScanParams& p) {
    states = p.batch * p.channels * ((p.length + kT - 1) / kT) * p.state;
    const int64_t ypre = p.z ? p.batch * p.length * p.channels : 0;
    total_floats = states + (p.dtype == DType::bf16 ? (ypre + 1) / 2 : ypre);
  }
};

// ---------------------------------------------------------------------------------------------
// Backward

// Round of the N <= 16 backward: 3 = 16 lanes x 1 state (512 threads, the round-3 kernel), 4 = 8
// lanes x 2 states (256 threads, several blocks per SM), 5 (and above) = 4 lanes x 4 states
// (128 threads, 3 blocks per SM). COIL_SELECTIVE_SCAN_BWD=3, 4 or 5 forces one (the kernel lab
// times each). 5 is the default: the fastest fwd+bwd on every lab row (H100, 2026-12-07: 1.169
// ms against round 4's 1.461 and round 3's 1.753 at Bt 8, L 2048, f32; bench/RESULTS.md).
inline constexpr int kDefaultBwdRound = 5;

// ngs: groups per block at BC = 32 (BwdShape<16>, <8> and <4> alike). 8 x 2 and 4 x 4 need the
// warp's 4 or 8 channels in one group and the B/C tiles in shared memory.
Config backward_config(const SelectiveScanParams& p, int64_t cpg, int ngs) {
  const char* env = std::getenv("COIL_SELECTIVE_SCAN_BWD");
  const int round = env && std::atoi(env) > 0 ? std::atoi(env) : kDefaultBwdRound;
  auto warp_in_group = [&](int channels) { return p.groups == 1 || cpg % channels == 0; };
  const bool bc_smem = p.state <= 16 && ngs * 16 <= 32;
  if (bc_smem && round >= 5 && warp_in_group(8)) return {4, 4};
  if (bc_smem && round >= 4 && warp_in_group(4)) return {8, 2};
  if (p.state <= 16 && cpg % 2 == 0) return {16, 1};
  if (p.state <= 32) return {32, 1};
  if (p.state <= 64) return {32, 2};
  return {32, 8};
}

// Per-(batch row, chunk) partials of dA, dD and ddelta_bias, sized once the chunks are known.
struct BwdPartials {
  std::shared_ptr<Storage> dA, Db;
  void alloc(const ScanArgs& a, BwdArgs& o, int dev) {
    const int64_t rows = a.Bt * a.nchunks;
    dA = make_storage(size_t(rows * a.Dch * a.N) * 4, Device::cuda(dev));
    Db = make_storage(size_t(2 * rows * a.Dch) * 4, Device::cuda(dev));
    o.pdA = static_cast<float*>(dA->data());
    o.pD = static_cast<float*>(Db->data()), o.pbias = o.pD + rows * a.Dch;
  }
};

// Returns the number of chunks the launch used (rows of the dA/dD/ddelta_bias partials: x Bt).
template <class T, int NL, int S, bool kSmem>
int launch_backward(ScanArgs a, BwdArgs o, BwdPartials& parts, int dev) {
  using Sh = BwdShape<NL>;
  const size_t bytes = size_t(backward_smem_floats<NL, S>(kSmem ? a.ngs * NL * S : 0)) * 4;
  const unsigned gx = unsigned((a.Dch + Sh::BC - 1) / Sh::BC);
  auto kernel = a.reset ? backward_kernel<T, NL, S, true, kSmem, false>
                        : backward_kernel<T, NL, S, false, kSmem, false>;
  set_smem(kernel, bytes);
  std::shared_ptr<Storage> sums;
  if constexpr (kChunkable<S, kSmem>) {
    auto summary = a.reset ? backward_kernel<T, NL, S, true, kSmem, true>
                           : backward_kernel<T, NL, S, false, kSmem, true>;
    sums = prepare_chunks(
        a, kernel, summary, Sh::kThreads, bytes, gx, o.dfinal, true, dev,
        [&](dim3 grid) { summary<<<grid, Sh::kThreads, bytes, stream(dev)>>>(a, o); });
  }
  parts.alloc(a, o, dev);
  kernel<<<dim3(gx, unsigned(a.Bt), unsigned(a.nchunks)), Sh::kThreads, bytes, stream(dev)>>>(a, o);
  COIL_CUDA_CHECK_LAUNCH();
  return a.nchunks;
}

template <class T>
int backward_typed(ScanArgs a, Config c, bool smem, BwdArgs o, BwdPartials& parts, int dev) {
  if (c.nl == 4) return launch_backward<T, 4, 4, true>(a, o, parts, dev);
  if (c.nl == 8) return launch_backward<T, 8, 2, true>(a, o, parts, dev);
  if (c.nl == 16 && smem) return launch_backward<T, 16, 1, true>(a, o, parts, dev);
  if (c.nl == 16) return launch_backward<T, 16, 1, false>(a, o, parts, dev);
  if (c.s == 1 && smem) return launch_backward<T, 32, 1, true>(a, o, parts, dev);
  if (c.s == 1) return launch_backward<T, 32, 1, false>(a, o, parts, dev);
  if (c.s == 2) return launch_backward<T, 32, 2, false>(a, o, parts, dev);
  return launch_backward<T, 32, 8, false>(a, o, parts, dev);
}

// dB, dC (Bt, L, G, N) = sum over the channel blocks touching group g, in block order. The
// partials are loaded kBatch blocks at a time before they are added (in the same order), so each
// thread keeps 2 x kBatch loads in flight instead of 2: one at a time, the sum over Mamba's 48
// channel blocks ran at half the copy bandwidth.
template <class T>
__global__ void reduce_groups_kernel(T* __restrict__ dB, T* __restrict__ dC,
                                     const float* __restrict__ part_B,
                                     const float* __restrict__ part_C, int64_t Bt, int64_t L,
                                     int64_t G, int64_t N, int64_t cpg, int64_t BC, int64_t ncx,
                                     int ngs) {
  const int64_t total = Bt * L * G * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, g = (i / N) % G, bt = i / (N * G);  // bt = b * L + t
    const int64_t b = bt / L, t = bt - b * L;
    const int64_t cx0 = g * cpg / BC, cx1 = std::min(ncx - 1, ((g + 1) * cpg - 1) / BC);
    auto at = [&](int64_t cx) {
      return (((cx * Bt + b) * L + t) * ngs + (g - cx * BC / cpg)) * N + n;
    };
    constexpr int kBatch = 8;
    float sB = 0.f, sC = 0.f;
    int64_t cx = cx0;
    for (; cx + kBatch <= cx1 + 1; cx += kBatch) {
      float vB[kBatch], vC[kBatch];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) vB[j] = part_B[at(cx + j)], vC[j] = part_C[at(cx + j)];
#pragma unroll
      for (int j = 0; j < kBatch; ++j) sB += vB[j], sC += vC[j];
    }
    for (; cx <= cx1; ++cx) sB += part_B[at(cx)], sC += part_C[at(cx)];
    if (dB) dB[i] = from_f<T>(sB);
    if (dC) dC[i] = from_f<T>(sC);
  }
}

// dA (Dch, N), dD (Dch), ddelta_bias (Dch): sums of the per-(chunk, batch row) partials, in row
// order (rows = nchunks x Bt).
__global__ void reduce_batch_kernel(float* __restrict__ dA, float* __restrict__ dD,
                                    float* __restrict__ dbias, const float* __restrict__ pdA,
                                    const float* __restrict__ pD, const float* __restrict__ pbias,
                                    int64_t rows, int64_t Dch, int64_t N) {
  const int64_t nA = Dch * N, total = nA + 2 * Dch;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float* src = i < nA ? pdA + i : (i < nA + Dch ? pD + (i - nA) : pbias + (i - nA - Dch));
    float* dst = i < nA ? dA : (i < nA + Dch ? dD : dbias);
    const int64_t stride = i < nA ? nA : Dch, at = i < nA ? i : (i - nA) % Dch;
    if (!dst) continue;
    float sum = 0.f;
    for (int64_t r = 0; r < rows; ++r) sum += src[r * stride];
    dst[at] = sum;
  }
}

template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr;
}

}  // namespace

void selective_scan_forward(const SelectiveScanParams& p, const Tensor& out,
                            const Tensor& final_state, Tensor* checkpoints) {
  const int dev = p.device.index;
  DeviceGuard guard(dev);
  const CkptLayout lay(p);
  if (checkpoints) *checkpoints = empty({lay.total_floats}, {DType::f32, p.device});
  if (p.batch * p.channels * p.length == 0) return;
  ScanArgs a = make_args(p, FwdShape<8>::BC);
  const Config c = forward_config(p, a.ngs);
  const int BC = c.nl == 4    ? FwdShape<4>::BC
                 : c.nl == 8  ? FwdShape<8>::BC
                 : c.nl == 16 ? FwdShape<16>::BC
                              : FwdShape<32>::BC;
  a.ngs = groups_per_block(p.channels, a.cpg, BC);
  const bool smem = c.s <= 4 && a.ngs * c.nl * c.s <= 32;
  float* ck = checkpoints ? static_cast<float*>(checkpoints->data_ptr()) : nullptr;
  void* ypre = ck && p.z ? ck + lay.states : nullptr;
  void* o = out.data_ptr();
  float* fs = ptr<float>(final_state);
  if (p.dtype == DType::bf16) forward_typed<uint16_t>(a, c, smem, o, fs, ck, ypre, dev);
  else forward_typed<float>(a, c, smem, o, fs, ck, ypre, dev);
}

void selective_scan_backward(const SelectiveScanParams& p, const Tensor& checkpoints,
                             const Tensor& dout, const Tensor& dfinal,
                             const SelectiveScanGrads& grads) {
  const int dev = p.device.index;
  DeviceGuard guard(dev);
  const int64_t Bt = p.batch, L = p.length, Dch = p.channels, N = p.state, G = p.groups;
  if (Bt * Dch * L == 0) return;
  static_assert(BwdShape<4>::BC == BwdShape<16>::BC && BwdShape<8>::BC == BwdShape<16>::BC);
  const Config c = backward_config(p, Dch / G, groups_per_block(Dch, Dch / G, BwdShape<16>::BC));
  const int BC = c.nl == 32 ? BwdShape<32>::BC : BwdShape<16>::BC;
  ScanArgs a = make_args(p, BC);
  const bool smem = c.nl <= 8 || (c.s == 1 && a.ngs * c.nl <= 32);
  const int64_t ncx = (Dch + BC - 1) / BC;
  const size_t part_n = size_t(ncx * Bt * L * a.ngs * N);
  Storage part_B(part_n * 4, p.device), part_C(part_n * 4, p.device);
  BwdPartials parts;
  BwdArgs o{};
  o.dout = dout.data_ptr();
  o.dfinal = ptr<const float>(dfinal);
  o.ckpt = static_cast<const float*>(checkpoints.data_ptr());
  o.ypre = p.z ? o.ckpt + CkptLayout(p).states : nullptr;
  o.du = ptr<void>(grads.du), o.ddelta = ptr<void>(grads.ddelta), o.dz = ptr<void>(grads.dz);
  o.part_B = static_cast<float*>(part_B.data()), o.part_C = static_cast<float*>(part_C.data());
  o.dinit = ptr<float>(grads.dinitial_state);
  const bool bf = p.dtype == DType::bf16;
  const int nchunks = bf ? backward_typed<uint16_t>(a, c, smem, o, parts, dev)
                         : backward_typed<float>(a, c, smem, o, parts, dev);
  const float* pdA = static_cast<const float*>(parts.dA->data());
  const float* pD = static_cast<const float*>(parts.Db->data());

  cudaStream_t s = stream(dev);
  if (grads.dB.defined() || grads.dC.defined()) {
    const unsigned grid = grid_for(Bt * L * G * N, dev);
    if (bf)
      reduce_groups_kernel<<<grid, kBlock, 0, s>>>(ptr<uint16_t>(grads.dB), ptr<uint16_t>(grads.dC),
                                                   o.part_B, o.part_C, Bt, L, G, N, Dch / G, BC,
                                                   ncx, a.ngs);
    else
      reduce_groups_kernel<<<grid, kBlock, 0, s>>>(ptr<float>(grads.dB), ptr<float>(grads.dC),
                                                   o.part_B, o.part_C, Bt, L, G, N, Dch / G, BC,
                                                   ncx, a.ngs);
    COIL_CUDA_CHECK_LAUNCH();
  }
  if (grads.dA.defined() || grads.dD.defined() || grads.ddelta_bias.defined()) {
    reduce_batch_kernel<<<grid_for(Dch * N + 2 * Dch, dev), kBlock, 0, s>>>(
        ptr<float>(grads.dA), ptr<float>(grads.dD), ptr<float>(grads.ddelta_bias), pdA, pD,
        pD + Bt * nchunks * Dch, Bt * nchunks, Dch, N);
    COIL_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace coil::cuda
