// Kernels of the FFT convolution (ops/fft_conv/fft_conv.h), one set per device so COIL_DEVICE_CALL
// reaches them, and the index rules both devices share. Operands are contiguous, validated, of
// one floating dtype; k has C = 1 (causal) or 2 (bidirectional).
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/kernels.h"  // COIL_DEVICE_CALL
#include "ops/common/fft_plans.h"

namespace coil {

// The two-sided kernel at FFT size n is zero except: lag j in [0, Lk) at index j (k0, plus D at
// 0) and, bidirectional (C = 2), lag -d for d in [1, anti_lags] at index n - d (k1[d - 1]).
inline int64_t fft_conv_anti_lags(int64_t L, int64_t Lk) { return std::min(Lk, L - 1); }

// Fewest FFT points with no wrap-around into the L outputs: the causal lags need L + Lk - 1;
// the anti-causal ones sit at n - d and must stay above lag L - 1, so n >= L + anti_lags (one
// more than L + Lk - 1 when a short kernel is bidirectional: L 5, Lk 3 needs 8, not 7).
inline int64_t fft_conv_min_size(int64_t L, int64_t Lk, int64_t C) {
  const int64_t causal = L + Lk - 1, anti = C == 2 ? L + fft_conv_anti_lags(L, Lk) : 0;
  return std::max<int64_t>(2, std::max(causal, anti));
}

// The GPU's FFT size (cuFFT's fast sizes); the CPU's lane FFT rounds up to a power of two.
inline int64_t fft_conv_size(int64_t L, int64_t Lk, int64_t C) {
  return fft::good_size(fft_conv_min_size(L, Lk, C));
}

#define COIL_FFT_CONV_KERNELS                                                                    \
  /* y (B, L, H) from u (B, L, H), k (C, H, Lk), D (H) or undefined */                           \
  void fft_conv_forward(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D);     \
  /* from dy (B, L, H): du (B, L, H), dk (C, H, Lk), dD (H); each may be undefined (not          \
     wanted). dk and dD are reduced over the batch in a fixed order. */                          \
  void fft_conv_backward(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy, \
                         const Tensor& u, const Tensor& k, const Tensor& D);

namespace cpu {
COIL_FFT_CONV_KERNELS
}
namespace cuda {
COIL_FFT_CONV_KERNELS
// Memory layout of the packed spectra on the GPU: (B*P, n) "rows" or (n, B*P) "columns", P =
// ceil(H/2) channel pairs; or "fused": on-chip kernels for y, du and the dk/dD spectra
// (ops/fft_conv/fused_cuda.cuh) where the power-of-two size n fits (n <= 8192), rows otherwise;
// "automatic" (the default): fused2 with radix-16 passes up to n 8192, rows beyond (the fastest
// measured, bench/RESULTS.md, "FFT conv"); "fused2": fused with the changes of the second round (one access per channel pair where H is even, one pair a block for the kernel
// spectra, radix-32 passes where a block holds one pair: n 8192 in f32, n >= 4096 in f64, the
// kernel spectra; one backward kernel for du, dk and dD where it fits: n <= 8192 in f32, 4096 in
// f64), to be timed against fused. Knobs for the kernel lab and the tests, not for
// users.
enum class FftConvLayout { columns, rows, fused, automatic, fused2 };
FftConvLayout& fft_conv_layout();
// fused2's parts that the lab times one by one: radix-32 passes and the one backward kernel, both
// on by default; COIL_FFT_CONV_FUSED2 = a comma-separated list of "r16" (radix-16 passes, as
// fused) and "sep" (fused's separate du and correlation kernels) at start-up turns them off.
struct Fused2Parts {
  bool radix32 = true, backward = true;
};
Fused2Parts& fft_conv_fused2();
}  // namespace cuda
#undef COIL_FFT_CONV_KERNELS

}  // namespace coil
