// The CPU FFT convolution's kernels as plain-pointer entry points (ops/fft_conv/cpu.cpp fills a
// Problem from tensors and picks an instruction set), and the tables they share.
//
// Why not FFTW: the operands are (B, L, H), channels innermost, and FFTW wants one contiguous row
// per transform; gathering rows and scattering them back cost more than FFTW's own work here. So
// the kernels run their own radix-4 FFT with one channel pair per SIMD lane: a row of 2V
// channels at time t (V = 32 bytes / sizeof(T)) loads straight into V complex lanes, channel
// h0 + j as the real part of lane j and h0 + V + j as its imaginary part; every butterfly is
// lane-wise, nothing is transposed.
#pragma once
#include <cstdint>

namespace coil::cpu::fft_lanes {

// Tables of a power-of-two size n >= 8, made once per (T, n) and kept for the process.
// w_m = exp(-2 pi i / m); complex values are (re, im) pairs of T.
template <class T>
struct Tables {
  int64_t n = 0;
  const T* radix2 = nullptr;         // w_n^j, j < n / 2: the radix-2 pass of span n
  const T* radix4 = nullptr;         // radix-4 pass of span m (4 <= m <= n/2, powers of two): at
                                     // 6 (m/4 - 1), for j < m/4: w_m^j, w_m^2j, w_m^3j
  const int32_t* pos = nullptr;      // the slot where the forward FFT leaves bin k, k = 0..n/2
                                     // (bit-reversed order, in the padded layout below)
  const int32_t* pos_neg = nullptr;  // where it leaves bin (n - k) mod n, k = 0..n/2
};

// A transform of n points lives in 8 blocks of n/8 slots, each followed by kBlockPad unused
// slots: the fused first and last passes touch one slot in each block per step, and blocks a
// multiple of 4 KB apart would all fall into one set of the 8-way L1 cache.
constexpr int64_t kBlockPad = 1;
inline int64_t block_stride(int64_t n) { return n / 8 + kBlockPad; }
inline int64_t row_slots(int64_t n) { return 8 * block_stride(n); }
// The slot of position p (0 <= p < n) of a transform.
inline int64_t padded(int64_t p, int64_t n) { return p + p / (n / 8) * kBlockPad; }

// One convolution call: y (B, L, H) = u * k (+ D u), k (C, H, Lk), at FFT size n (a power of two
// >= 8 and >= fft_conv_min_size); see ops/fft_conv/kernels.h. Backward: any of du, dk, dD may be
// null (not wanted); dy is the cotangent of y. `work` is 64-byte aligned scratch of work_bytes()
// bytes for `threads` OpenMP threads (the caller allocates, so the kernels never do).
template <class T>
struct Problem {
  int64_t B, L, H, C, Lk, n;
  const T *u, *k, *D;  // D may be null
  T* y;
  const T* dy;
  T *du, *dk, *dD;
  Tables<T> tables;
  void* work;
  int threads;
};

// Channels per tile: one pair per lane of a 32-byte vector.
template <class T>
constexpr int64_t tile_width() {
  return 2 * int64_t(32 / sizeof(T));
}
constexpr int64_t kSlotBytes = 64;  // one complex vector (a bin or sample of a whole tile)

// Scratch in slots: each tile's kernel spectra (2 per bin, n / 2 + 1 bins), then per thread one
// (forward) or three (backward) transforms of row_slots(n).
template <class T>
int64_t work_slots(int64_t H, int64_t n, int threads, bool backward) {
  const int64_t tiles = (H + tile_width<T>() - 1) / tile_width<T>();
  return tiles * 2 * (n / 2 + 1) + int64_t(threads) * (backward ? 3 : 1) * row_slots(n);
}

// The kernels, once per instruction set: `generic` (the build's baseline) and `avx2` (AVX2 and
// FMA, compiled in cpu_avx2.cpp and taken when the CPU has them).
#define COIL_FFT_LANES_ENTRIES            \
  void forward(const Problem<float>& p);  \
  void forward(const Problem<double>& p); \
  void backward(const Problem<float>& p); \
  void backward(const Problem<double>& p);
namespace generic {
COIL_FFT_LANES_ENTRIES
}
namespace avx2 {
COIL_FFT_LANES_ENTRIES
}
#undef COIL_FFT_LANES_ENTRIES

// Which set ops/fft_conv/cpu.cpp calls: AVX2 where the CPU has it, unless a test or the kernel
// lab pins the baseline (generic); avx2 on a CPU without it falls back to the baseline.
enum class Isa { best, generic, avx2 };
Isa& isa();

}  // namespace coil::cpu::fft_lanes
