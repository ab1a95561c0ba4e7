// The CPU FFT convolution kernels (ops/fft_conv/cpu_lanes_impl.h) compiled for AVX2 and FMA;
// cpu.cpp calls them only on CPUs that have both. The build's baseline flags stay untouched
// elsewhere.
#pragma GCC target("avx2,fma")
#define COIL_FFT_LANES_ISA avx2
#define COIL_FFT_LANES_AVX 1  // the pragma does not define __AVX__ for the preprocessor
#include "ops/fft_conv/cpu_lanes_impl.h"
