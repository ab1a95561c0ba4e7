// CPU kernels of the FFT convolution: tensors to the plain-pointer kernels of
// ops/fft_conv/cpu_lanes.h (lane-parallel radix-4 FFTs over tiles of channels, OpenMP over
// (tile, batch) forward and over tiles backward, where each tile walks the batch in order so dk
// and dD never depend on the thread count), the twiddle tables they share, and the choice of
// instruction set. This file compiles the kernels for the build's baseline; cpu_avx2.cpp for
// AVX2 + FMA.
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <vector>

#include "core/cpu/isa.h"
#include "core/dispatch.h"
#include "ops/fft_conv/kernels.h"

#define COIL_FFT_LANES_ISA generic
#define COIL_FFT_LANES_AVX 0
#include "ops/fft_conv/cpu_lanes_impl.h"

namespace coil::cpu {
namespace fft_lanes {

Isa& isa() {
  static Isa value = Isa::best;
  return value;
}

namespace {

template <class T>
struct TableData {
  std::vector<T> radix2, radix4;
  std::vector<int32_t> pos, pos_neg;
  Tables<T> view;
};

// exp(-2 pi i j / m), computed in double.
template <class T>
void push_twiddle(std::vector<T>& v, int64_t j, int64_t m) {
  const double a = -2 * std::numbers::pi * double(j) / double(m);
  v.push_back(T(std::cos(a)));
  v.push_back(T(std::sin(a)));
}

template <class T>
std::unique_ptr<TableData<T>> make_tables(int64_t n) {
  auto d = std::make_unique<TableData<T>>();
  for (int64_t j = 0; j < n / 2; ++j) push_twiddle(d->radix2, j, n);
  for (int64_t m = 4; m <= n / 2; m *= 2)
    for (int64_t j = 0; j < m / 4; ++j)
      for (int64_t r = 1; r <= 3; ++r) push_twiddle(d->radix4, r * j, m);
  const int bits = __builtin_ctzll(uint64_t(n));
  auto rev = [bits](int64_t k) {
    int64_t r = 0;
    for (int b = 0; b < bits; ++b) r |= ((k >> b) & 1) << (bits - 1 - b);
    return int32_t(r);
  };
  for (int64_t k = 0; k <= n / 2; ++k) {
    d->pos.push_back(int32_t(padded(rev(k), n)));
    d->pos_neg.push_back(int32_t(padded(rev((n - k) & (n - 1)), n)));
  }
  d->view = {n, d->radix2.data(), d->radix4.data(), d->pos.data(), d->pos_neg.data()};
  return d;
}

// Made once per size under a mutex, never freed before exit (kernels hold pointers into them).
template <class T>
Tables<T> tables(int64_t n) {
  static std::mutex mu;
  static std::map<int64_t, std::unique_ptr<TableData<T>>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[n];
  if (!slot) slot = make_tables<T>(n);
  return slot->view;
}

// AVX2 when the CPU has it and nobody pinned the baseline (a pin to AVX2 on a CPU without it
// falls back rather than faulting).
bool use_avx2() { return cpu::best_isa() != cpu::Isa::generic && isa() != Isa::generic; }

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <class T>
void run(const Tensor& u, const Tensor& k, const Tensor& D, const Tensor& y, const Tensor& dy,
         const Tensor& du, const Tensor& dk, const Tensor& dD) {
  auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
  const int64_t L = u.size(1), Lk = k.size(2);
  int64_t n = 8;  // the kernels' fused radix-8 first and last passes need 8 points
  while (n < fft_conv_min_size(L, Lk, k.size(0))) n *= 2;
  const bool backward = dy.defined();
  const int threads = omp_get_max_threads();
  const size_t bytes = size_t(work_slots<T>(u.size(2), n, threads, backward)) * kSlotBytes;
  std::unique_ptr<void, FreeDeleter> work(std::aligned_alloc(kSlotBytes, bytes));
  COIL_CHECK(work != nullptr, "[fft_conv] out of memory: {} bytes of FFT scratch", bytes);
  const Problem<T> p{u.size(0), L,       u.size(2),    k.size(0),  Lk,      n,
                     ptr(u),    ptr(k),  ptr(D),       ptr(y),     ptr(dy), ptr(du),
                     ptr(dk),   ptr(dD), tables<T>(n), work.get(), threads};
  if (use_avx2()) backward ? avx2::backward(p) : avx2::forward(p);
  else backward ? generic::backward(p) : generic::forward(p);
}

}  // namespace
}  // namespace fft_lanes

void fft_conv_forward(const Tensor& y, const Tensor& u, const Tensor& k, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    fft_lanes::run<typename decltype(tag)::type>(u, k, D, y, {}, {}, {}, {});
  });
}

void fft_conv_backward(const Tensor& du, const Tensor& dk, const Tensor& dD, const Tensor& dy,
                       const Tensor& u, const Tensor& k, const Tensor& D) {
  dispatch<DType::f32, DType::f64>(u.dtype(), "fft_conv", [&](auto tag) {
    fft_lanes::run<typename decltype(tag)::type>(u, k, D, {}, dy, du, dk, dD);
  });
}

}  // namespace coil::cpu
