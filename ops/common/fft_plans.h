// Cached FFTW plans for batches of 1-D real and complex FFTs (float and double), used by the S4
// kernel (the CPU FFT convolution runs its own lane-parallel FFT, ops/fft_conv/cpu_lanes.h).
// Plans are made once per layout (FFTW planning is not thread-safe: a mutex guards it) and run
// with FFTW's new-array functions, which are safe to call from many OpenMP threads at once.
#pragma once
#include <complex>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace coil::fft {

// Where the `howmany` transforms of one call live. Real transform j, sample i is at
// real[j * real_dist + i * real_stride]; its spectrum bin i (0..n/2) at
// cplx[j * cplx_dist + i * cplx_stride]. The defaults are one contiguous transform.
struct Layout {
  int64_t howmany = 1;
  int64_t real_stride = 1, real_dist = 0;
  int64_t cplx_stride = 1, cplx_dist = 0;
  bool operator==(const Layout&) const = default;
};

// The smallest 2^a 3^b 5^c 7^d >= max(n, 1): sizes FFTW and cuFFT both transform fast.
int64_t good_size(int64_t n);

// Memory aligned as FFTW's planning arrays are (fftw_malloc), so plans take their SIMD paths.
template <class T>
struct Buffer {
  explicit Buffer(size_t count);
  ~Buffer();
  Buffer(Buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* data() const { return data_; }

 private:
  T* data_ = nullptr;
};

// Unnormalised transforms of size n (FFTW's sign convention):
//   forward:  X[k] = sum_j x[j] e^{-2 pi i jk/n}, k = 0..n/2
//   inverse:  x[j] = sum_k X[k] e^{+2 pi i jk/n} over the full Hermitian spectrum, so
//             inverse(forward(x)) = n * x. The imaginary parts of bin 0 and (even n) bin n/2
//             are ignored, as a Hermitian spectrum has none there.
// Plans use FFTW_ESTIMATE: the same algorithm in every process, so results are bitwise equal
// from run to run (FFTW_MEASURE picks by timing, which would break a bitwise resume).
// A RealFft is cheap to make (the plans live in a process-wide cache, never freed before exit)
// and its member functions may run concurrently. Arrays of any alignment work; Buffer-aligned
// ones take the SIMD plans (the others get a plan made for unaligned arrays, on demand).
template <class T>
class RealFft {
 public:
  RealFft(int64_t n, const Layout& layout = {});
  void forward(const T* in, std::complex<T>* out) const;
  // Overwrites `in` (FFTW's complex-to-real transforms destroy their input).
  void inverse(std::complex<T>* in, T* out) const;
  int64_t size() const { return n_; }

 private:
  int64_t n_;
  Layout layout_;
  const void* forward_ = nullptr;  // the aligned plans (fftw_plan / fftwf_plan)
  const void* inverse_ = nullptr;
};

// Complex transforms of size n, unnormalised, same signs as RealFft; the Layout's cplx_stride
// and cplx_dist place both input and output (its real_* fields are unused). In place
// (in == out) on Buffer-aligned arrays takes the plans made up front; anything else works too.
template <class T>
class ComplexFft {
 public:
  ComplexFft(int64_t n, const Layout& layout = {});
  void forward(std::complex<T>* in, std::complex<T>* out) const { run(true, in, out); }
  void inverse(std::complex<T>* in, std::complex<T>* out) const { run(false, in, out); }
  int64_t size() const { return n_; }

 private:
  void run(bool forward, std::complex<T>* in, std::complex<T>* out) const;
  int64_t n_;
  Layout layout_;
  const void* forward_ = nullptr;  // in-place, aligned
  const void* inverse_ = nullptr;
};

}  // namespace coil::fft
