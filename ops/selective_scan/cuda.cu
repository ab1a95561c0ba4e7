// CUDA selective scan (ops/selective_scan/selective_scan.h): launch configuration, the final
// fixed-order reductions of the backward, and the entry points of kernels.h. The kernels are in
// forward_cuda.cuh and backward_cuda.cuh; their layout is described there.
#include <cstdlib>

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
  a.bf = p.dtype == DType::bf16;
  a.u = p.u, a.delta = p.delta, a.z = p.z, a.B = p.B, a.C = p.C;
  a.u_sb = p.u_sb, a.u_st = p.u_st, a.dl_sb = p.delta_sb, a.dl_st = p.delta_st;
  a.z_sb = p.z_sb, a.z_st = p.z_st, a.B_sb = p.B_sb, a.B_st = p.B_st;
  a.C_sb = p.C_sb, a.C_st = p.C_st;
  a.A = static_cast<const float*>(p.A);
  a.D = static_cast<const float*>(p.D);
  a.bias = static_cast<const float*>(p.delta_bias);
  a.softplus = p.delta_softplus;
  a.h0 = static_cast<const float*>(p.initial_state);
  a.reset = p.reset, a.r_sb = p.reset_sb, a.r_st = p.reset_st;
  a.ntiles = (p.length + kT - 1) / kT;
  a.ngs = groups_per_block(p.channels, a.cpg, BC);
  return a;
}

template <class Kernel>
void set_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    COIL_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// ---------------------------------------------------------------------------------------------
// Forward

// Lanes per (b, d) and state slots per lane. N <= 16 takes 8 lanes x 2 slots when the batch
// fills the GPU (fewer shuffles per step), else 16 x 1 (twice the warps). The kernel lab can
// force one with COIL_SELECTIVE_SCAN_LANES=8 or 16.
struct Config {
  int nl, s;
};

Config forward_config(const SelectiveScanParams& p, int dev, int ngs) {
  if (p.state <= 16) {
    const char* env = std::getenv("COIL_SELECTIVE_SCAN_LANES");
    const int forced = env ? std::atoi(env) : 0;
    const bool fits8 = ngs * 16 <= 32;  // B/C tiles of 8-lane blocks stay in shared memory
    if (forced == 8 && fits8) return {8, 2};
    if (forced == 16) return {16, 1};
    const int64_t warps8 = p.batch * p.channels / 4;
    return warps8 >= 16 * int64_t(sm_count(dev)) && fits8 ? Config{8, 2} : Config{16, 1};
  }
  if (p.state <= 32) return {32, 1};
  if (p.state <= 64) return {32, 2};
  return {32, 8};
}

template <int NL, int S, bool kSmem>
void launch_forward(const ScanArgs& a, void* out, float* fs, float* ckpt, int dev) {
  constexpr int BC = FwdShape<NL>::BC;
  const size_t bytes = size_t(forward_smem_floats(BC, kSmem ? a.ngs * NL * S : 0)) * 4;
  const dim3 grid(unsigned((a.Dch + BC - 1) / BC), unsigned(a.Bt));
  auto kernel = a.reset ? forward_kernel<NL, S, true, kSmem> : forward_kernel<NL, S, false, kSmem>;
  set_smem(kernel, bytes);
  kernel<<<grid, kFwdThreads, bytes, stream(dev)>>>(a, out, fs, ckpt);
  COIL_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------
// Backward

Config backward_config(const SelectiveScanParams& p, int64_t cpg) {
  if (p.state <= 16 && cpg % 2 == 0) return {16, 1};
  if (p.state <= 32) return {32, 1};
  if (p.state <= 64) return {32, 2};
  return {32, 8};
}

template <int NL, int S, bool kSmem>
void launch_backward(const ScanArgs& a, const BwdArgs& o, int dev) {
  using Sh = BwdShape<NL>;
  const size_t bytes = size_t(backward_smem_floats(NL, S, kSmem ? a.ngs * NL * S : 0)) * 4;
  const dim3 grid(unsigned((a.Dch + Sh::BC - 1) / Sh::BC), unsigned(a.Bt));
  auto kernel =
      a.reset ? backward_kernel<NL, S, true, kSmem> : backward_kernel<NL, S, false, kSmem>;
  set_smem(kernel, bytes);
  kernel<<<grid, Sh::kThreads, bytes, stream(dev)>>>(a, o);
  COIL_CUDA_CHECK_LAUNCH();
}

// dB, dC (Bt, L, G, N) = sum over the channel blocks touching group g, in block order.
__global__ void reduce_groups_kernel(void* __restrict__ dB, void* __restrict__ dC,
                                     const float* __restrict__ part_B,
                                     const float* __restrict__ part_C, int64_t Bt, int64_t L,
                                     int64_t G, int64_t N, int64_t cpg, int64_t BC, int64_t ncx,
                                     int ngs, bool bf) {
  const int64_t total = Bt * L * G * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, g = (i / N) % G, bt = i / (N * G);  // bt = b * L + t
    const int64_t b = bt / L, t = bt - b * L;
    const int64_t cx0 = g * cpg / BC, cx1 = std::min(ncx - 1, ((g + 1) * cpg - 1) / BC);
    float sB = 0.f, sC = 0.f;
    for (int64_t cx = cx0; cx <= cx1; ++cx) {
      const int64_t at = (((cx * Bt + b) * L + t) * ngs + (g - cx * BC / cpg)) * N + n;
      sB += part_B[at];
      sC += part_C[at];
    }
    if (dB) store_float(dB, i, sB, bf);
    if (dC) store_float(dC, i, sC, bf);
  }
}

// dA (Dch, N), dD (Dch), ddelta_bias (Dch): sums of the per-batch-row partials, in row order.
__global__ void reduce_batch_kernel(float* __restrict__ dA, float* __restrict__ dD,
                                    float* __restrict__ dbias, const float* __restrict__ pdA,
                                    const float* __restrict__ pD, const float* __restrict__ pbias,
                                    int64_t Bt, int64_t Dch, int64_t N) {
  const int64_t nA = Dch * N, total = nA + 2 * Dch;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float* src = i < nA ? pdA + i : (i < nA + Dch ? pD + (i - nA) : pbias + (i - nA - Dch));
    float* dst = i < nA ? dA : (i < nA + Dch ? dD : dbias);
    const int64_t stride = i < nA ? nA : Dch, at = i < nA ? i : (i - nA) % Dch;
    if (!dst) continue;
    float sum = 0.f;
    for (int64_t b = 0; b < Bt; ++b) sum += src[b * stride];
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
  const int64_t ntiles = (p.length + kT - 1) / kT;
  if (checkpoints)
    *checkpoints = empty({p.batch, p.channels, ntiles, p.state}, {DType::f32, p.device});
  if (p.batch * p.channels * p.length == 0) return;
  ScanArgs a = make_args(p, FwdShape<8>::BC);
  const Config c = forward_config(p, dev, a.ngs);
  const int BC = c.nl == 8 ? FwdShape<8>::BC : c.nl == 16 ? FwdShape<16>::BC : FwdShape<32>::BC;
  a.ngs = groups_per_block(p.channels, a.cpg, BC);
  const bool smem = c.s <= 2 && a.ngs * c.nl * c.s <= 32;
  float* ck = checkpoints ? static_cast<float*>(checkpoints->data_ptr()) : nullptr;
  void* o = out.data_ptr();
  float* fs = ptr<float>(final_state);
  if (c.nl == 8) launch_forward<8, 2, true>(a, o, fs, ck, dev);
  else if (c.nl == 16 && smem) launch_forward<16, 1, true>(a, o, fs, ck, dev);
  else if (c.nl == 16) launch_forward<16, 1, false>(a, o, fs, ck, dev);
  else if (c.s == 1 && smem) launch_forward<32, 1, true>(a, o, fs, ck, dev);
  else if (c.s == 1) launch_forward<32, 1, false>(a, o, fs, ck, dev);
  else if (c.s == 2) launch_forward<32, 2, false>(a, o, fs, ck, dev);
  else launch_forward<32, 8, false>(a, o, fs, ck, dev);
}

void selective_scan_backward(const SelectiveScanParams& p, const Tensor& checkpoints,
                             const Tensor& dout, const Tensor& dfinal,
                             const SelectiveScanGrads& grads) {
  const int dev = p.device.index;
  DeviceGuard guard(dev);
  const int64_t Bt = p.batch, L = p.length, Dch = p.channels, N = p.state, G = p.groups;
  if (Bt * Dch * L == 0) return;
  const Config c = backward_config(p, Dch / G);
  const int BC = c.nl == 16 ? BwdShape<16>::BC : BwdShape<32>::BC;
  ScanArgs a = make_args(p, BC);
  const bool smem = c.s == 1 && a.ngs * c.nl <= 32;
  const int64_t ncx = (Dch + BC - 1) / BC;
  const size_t part_n = size_t(ncx * Bt * L * a.ngs * N);
  Storage part_B(part_n * 4, p.device), part_C(part_n * 4, p.device);
  Storage pdA(size_t(Bt * Dch * N) * 4, p.device), pDb(size_t(2 * Bt * Dch) * 4, p.device);
  BwdArgs o{};
  o.dout = dout.data_ptr();
  o.dfinal = ptr<const float>(dfinal);
  o.ckpt = static_cast<const float*>(checkpoints.data_ptr());
  o.du = ptr<void>(grads.du), o.ddelta = ptr<void>(grads.ddelta), o.dz = ptr<void>(grads.dz);
  o.part_B = static_cast<float*>(part_B.data()), o.part_C = static_cast<float*>(part_C.data());
  o.pdA = static_cast<float*>(pdA.data());
  o.pD = static_cast<float*>(pDb.data()), o.pbias = o.pD + Bt * Dch;
  o.dinit = ptr<float>(grads.dinitial_state);
  if (c.nl == 16 && smem) launch_backward<16, 1, true>(a, o, dev);
  else if (c.nl == 16) launch_backward<16, 1, false>(a, o, dev);
  else if (c.s == 1 && smem) launch_backward<32, 1, true>(a, o, dev);
  else if (c.s == 1) launch_backward<32, 1, false>(a, o, dev);
  else if (c.s == 2) launch_backward<32, 2, false>(a, o, dev);
  else launch_backward<32, 8, false>(a, o, dev);

  cudaStream_t s = stream(dev);
  if (grads.dB.defined() || grads.dC.defined()) {
    reduce_groups_kernel<<<grid_for(Bt * L * G * N, dev), kBlock, 0, s>>>(
        ptr<void>(grads.dB), ptr<void>(grads.dC), o.part_B, o.part_C, Bt, L, G, N, Dch / G, BC, ncx,
        a.ngs, a.bf);
    COIL_CUDA_CHECK_LAUNCH();
  }
  if (grads.dA.defined() || grads.dD.defined() || grads.ddelta_bias.defined()) {
    reduce_batch_kernel<<<grid_for(Dch * N + 2 * Dch, dev), kBlock, 0, s>>>(
        ptr<float>(grads.dA), ptr<float>(grads.dD), ptr<float>(grads.ddelta_bias), o.pdA, o.pD,
        o.pbias, Bt, Dch, N);
    COIL_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace coil::cuda
