// Warp-level pieces of the selective scan's CUDA backward (ops/selective_scan/backward_cuda.cuh):
// the transposing shuffle reduction that sums dB and dC over a warp's channels before they are
// staged in shared memory, and the state slot permutation that lets round 5 skip its selects.
#pragma once
#include <cuda_runtime.h>

namespace coil::cuda::scan {

// NL < 32: sums v = {dB, dC} of each of the lane's S states (v[2s + tensor]) over the warp's
// CPW = 2S channels, halving the values a lane carries at each level (a transposing reduction
// over the lane bits above the NL lanes of a channel): lane ends with v[0] = the warp total of
// value lane / NL, at state (lane / NL / 2) * NL + lane % NL. About 2S shuffles per lane and step.
// kPermuted: the lane's state slots are permuted (slot_state) so that the half it keeps at each
// level above the tensor bit is always its low one: no selects there (same sums, same order).
template <int NL, int S, bool kPermuted = false>
__device__ __forceinline__ float stage_dbc(float (&v)[2 * S], int lane) {
  static_assert(2 * S == 32 / NL, "one staged value per lane");
  int h = S;
#pragma unroll
  for (int o = 16; o >= NL; o /= 2, h /= 2) {
    const bool up = lane & o;
#pragma unroll
    for (int i = 0; i < S; ++i) {
      if (i < h) {
        const bool free = kPermuted && o > NL;
        const float send = free ? v[i + h] : up ? v[i] : v[i + h];
        const float keep = free ? v[i] : up ? v[i + h] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, o);
      }
    }
  }
  return v[0];
}

// State of slot s of lane l (l = lane % NL) of a channel: s * NL + l, or with kPermuted slot
// s ^ (the lane bits that stage_dbc's levels above the tensor bit reduce over).
template <int NL, int S, bool kPermuted>
__device__ __forceinline__ int slot_state(int s, int lane) {
  const int sx = kPermuted ? (lane / (2 * NL)) & (S - 1) : 0;
  return (s ^ sx) * NL + lane % NL;
}

}  // namespace coil::cuda::scan
