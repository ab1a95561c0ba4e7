// Cached cuFFT plans for batches of 1-D FFTs, shared by the FFT convolution and the S4 kernel.
// One plan per (size, layout, batch, type, device), made once; each run takes its work area
// from coil's stream-ordered memory pool and runs on coil's compute stream.
#pragma once
#include <cufft.h>

#include <cstdint>

namespace coil::cuda::fft {

// `batch` transforms of size n. Input transform j, element i at in[j * idist + i * istride],
// output likewise with ostride/odist, in units of the element type (real or complex) of that
// side. Real-to-complex (R2C/D2Z) outputs n/2 + 1 bins; complex-to-real (C2R/Z2D) reads them and
// overwrites its input. Transforms are unnormalised (inverse(forward(x)) = n * x).
struct PlanKey {
  int64_t n = 0, batch = 1;
  int64_t istride = 1, idist = 0, ostride = 1, odist = 0;
  cufftType type = CUFFT_C2C;
  int device = 0;
  bool operator==(const PlanKey&) const = default;
};

// Runs the cached plan for `key` (made on first use) on `in` -> `out` (equal for in place).
// direction (CUFFT_FORWARD / CUFFT_INVERSE) matters only for C2C and Z2Z. Asynchronous; safe to
// call from several host threads.
void execute(const PlanKey& key, void* in, void* out, int direction = CUFFT_FORWARD);

}  // namespace coil::cuda::fft
