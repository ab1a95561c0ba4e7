// The process-wide FFTW plan cache behind coil::fft::RealFft (ops/common/fft_plans.h): one plan
// per (precision, direction, size, layout, alignment, in-place), made under a mutex.
#include "ops/common/fft_plans.h"

#include <fftw3.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "core/error.h"

namespace coil::fft {
namespace {

enum class Kind { r2c, c2r, c2c_forward, c2c_inverse };

struct Key {
  bool dbl;
  Kind kind;
  bool aligned, in_place;
  int64_t n;
  Layout l;
  auto tie() const {
    return std::tie(dbl, kind, aligned, in_place, n, l.howmany, l.real_stride, l.real_dist,
                    l.cplx_stride, l.cplx_dist);
  }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

// Elements spanned by `count` samples of `howmany` transforms.
int64_t extent(int64_t count, int64_t howmany, int64_t stride, int64_t dist) {
  return (howmany - 1) * dist + (count - 1) * stride + 1;
}

template <class T>
struct Api;
template <>
struct Api<float> {
  using plan = fftwf_plan;
  using cplx = fftwf_complex;
  static void* malloc(size_t b) { return fftwf_malloc(b); }
  static void free(void* p) { fftwf_free(p); }
  static int alignment_of(const void* p) { return fftwf_alignment_of((float*)p); }
  static plan r2c(int n, int howmany, float* in, int is, int id, cplx* out, int os, int od,
                  unsigned flags) {
    return fftwf_plan_many_dft_r2c(1, &n, howmany, in, nullptr, is, id, out, nullptr, os, od,
                                   flags);
  }
  static plan c2r(int n, int howmany, cplx* in, int is, int id, float* out, int os, int od,
                  unsigned flags) {
    return fftwf_plan_many_dft_c2r(1, &n, howmany, in, nullptr, is, id, out, nullptr, os, od,
                                   flags);
  }
  static void exec_r2c(const void* p, float* in, cplx* out) {
    fftwf_execute_dft_r2c((plan)p, in, out);
  }
  static void exec_c2r(const void* p, cplx* in, float* out) {
    fftwf_execute_dft_c2r((plan)p, in, out);
  }
  static plan c2c(int n, int howmany, cplx* in, cplx* out, int s, int d, int sign, unsigned flags) {
    return fftwf_plan_many_dft(1, &n, howmany, in, nullptr, s, d, out, nullptr, s, d, sign, flags);
  }
  static void exec_c2c(const void* p, cplx* in, cplx* out) { fftwf_execute_dft((plan)p, in, out); }
  static void destroy(void* p) { fftwf_destroy_plan((plan)p); }
};
template <>
struct Api<double> {
  using plan = fftw_plan;
  using cplx = fftw_complex;
  static void* malloc(size_t b) { return fftw_malloc(b); }
  static void free(void* p) { fftw_free(p); }
  static int alignment_of(const void* p) { return fftw_alignment_of((double*)p); }
  static plan r2c(int n, int howmany, double* in, int is, int id, cplx* out, int os, int od,
                  unsigned flags) {
    return fftw_plan_many_dft_r2c(1, &n, howmany, in, nullptr, is, id, out, nullptr, os, od, flags);
  }
  static plan c2r(int n, int howmany, cplx* in, int is, int id, double* out, int os, int od,
                  unsigned flags) {
    return fftw_plan_many_dft_c2r(1, &n, howmany, in, nullptr, is, id, out, nullptr, os, od, flags);
  }
  static void exec_r2c(const void* p, double* in, cplx* out) {
    fftw_execute_dft_r2c((plan)p, in, out);
  }
  static void exec_c2r(const void* p, cplx* in, double* out) {
    fftw_execute_dft_c2r((plan)p, in, out);
  }
  static plan c2c(int n, int howmany, cplx* in, cplx* out, int s, int d, int sign, unsigned flags) {
    return fftw_plan_many_dft(1, &n, howmany, in, nullptr, s, d, out, nullptr, s, d, sign, flags);
  }
  static void exec_c2c(const void* p, cplx* in, cplx* out) { fftw_execute_dft((plan)p, in, out); }
  static void destroy(void* p) { fftw_destroy_plan((plan)p); }
};

struct Cache {
  std::mutex mu;  // FFTW's planner is not thread-safe: every plan is made under it
  std::map<Key, void*> plans;
  ~Cache() {
    for (auto& [key, p] : plans) key.dbl ? Api<double>::destroy(p) : Api<float>::destroy(p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

template <class T>
const void* get_plan(const Key& k) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (auto it = c.plans.find(k); it != c.plans.end()) return it->second;
  const Layout& l = k.l;
  const bool complex = k.kind == Kind::c2c_forward || k.kind == Kind::c2c_inverse;
  const int64_t nc = complex ? k.n : k.n / 2 + 1;
  COIL_CHECK(k.n >= 1 && l.howmany >= 1 && k.n <= INT32_MAX && l.howmany <= INT32_MAX,
             "[fft] bad FFT: size {}, howmany {}", k.n, l.howmany);
  const int64_t real_count = complex ? 0 : extent(k.n, l.howmany, l.real_stride, l.real_dist);
  const int64_t cplx_count = extent(nc, l.howmany, l.cplx_stride, l.cplx_dist);
  COIL_CHECK(real_count <= INT32_MAX && cplx_count <= INT32_MAX,
             "[fft] layout of size {} x {} is too large for FFTW's int strides", k.n, l.howmany);
  // Planning arrays: aligned like Buffer's; FFTW_ESTIMATE never writes them. For complex
  // transforms `a` is the input and `b` the output.
  const size_t real_bytes = size_t(real_count) * sizeof(T);
  const size_t cplx_bytes = size_t(cplx_count) * 2 * sizeof(T);
  const size_t a_bytes = complex ? cplx_bytes : real_bytes;
  void* a = Api<T>::malloc(k.in_place ? std::max(a_bytes, cplx_bytes) : a_bytes);
  void* b = k.in_place ? a : Api<T>::malloc(cplx_bytes);
  COIL_CHECK(a && b, "[fft] out of memory planning a size-{} FFT", k.n);
  const unsigned flags = FFTW_ESTIMATE | (k.aligned ? 0u : unsigned(FFTW_UNALIGNED));
  using C = typename Api<T>::cplx;
  const int n = int(k.n), hm = int(l.howmany), rs = int(l.real_stride), rd = int(l.real_dist),
            cs = int(l.cplx_stride), cd = int(l.cplx_dist);
  void* p = nullptr;
  switch (k.kind) {
    case Kind::r2c:
      p = (void*)Api<T>::r2c(n, hm, (T*)a, rs, rd, (C*)b, cs, cd, flags);
      break;
    case Kind::c2r:
      p = (void*)Api<T>::c2r(n, hm, (C*)b, cs, cd, (T*)a, rs, rd, flags);
      break;
    case Kind::c2c_forward:
      p = (void*)Api<T>::c2c(n, hm, (C*)a, (C*)b, cs, cd, FFTW_FORWARD, flags);
      break;
    case Kind::c2c_inverse:
      p = (void*)Api<T>::c2c(n, hm, (C*)a, (C*)b, cs, cd, FFTW_BACKWARD, flags);
      break;
  }
  if (b != a) Api<T>::free(b);
  Api<T>::free(a);
  COIL_CHECK(p != nullptr,
             "[fft] FFTW could not plan a size-{} transform (howmany {}, real stride {} dist {}, "
             "complex stride {} dist {})",
             k.n, l.howmany, l.real_stride, l.real_dist, l.cplx_stride, l.cplx_dist);
  c.plans.emplace(k, p);
  return p;
}

template <class T>
const void* plan_for(Kind kind, int64_t n, const Layout& l, const void* in, const void* out,
                     const void* aligned_plan) {
  const bool aligned = Api<T>::alignment_of(in) == 0 && Api<T>::alignment_of(out) == 0;
  const bool in_place = in == out;
  if (aligned && !in_place && aligned_plan) return aligned_plan;
  return get_plan<T>(Key{std::is_same_v<T, double>, kind, aligned, in_place, n, l});
}

}  // namespace

int64_t good_size(int64_t n) {
  for (int64_t m = std::max<int64_t>(n, 1);; ++m) {
    int64_t r = m;
    for (int64_t f : {2, 3, 5, 7})
      while (r % f == 0) r /= f;
    if (r == 1) return m;
  }
}

// fftw_malloc and fftwf_malloc align alike (to the SIMD width FFTW was built for).
template <class T>
Buffer<T>::Buffer(size_t count) : data_(static_cast<T*>(fftw_malloc(count * sizeof(T)))) {
  COIL_CHECK(data_ != nullptr || count == 0, "[fft] out of memory: {} scratch values", count);
}
template <class T>
Buffer<T>::~Buffer() {
  fftw_free(data_);
}

template <class T>
RealFft<T>::RealFft(int64_t n, const Layout& layout) : n_(n), layout_(layout) {
  const bool dbl = std::is_same_v<T, double>;
  forward_ = get_plan<T>(Key{dbl, Kind::r2c, true, false, n, layout});
  inverse_ = get_plan<T>(Key{dbl, Kind::c2r, true, false, n, layout});
}

template <class T>
void RealFft<T>::forward(const T* in, std::complex<T>* out) const {
  using C = typename Api<T>::cplx;
  // FFTW's r2c never writes its input; its signature is not const.
  Api<T>::exec_r2c(plan_for<T>(Kind::r2c, n_, layout_, in, out, forward_), const_cast<T*>(in),
                   reinterpret_cast<C*>(out));
}

template <class T>
void RealFft<T>::inverse(std::complex<T>* in, T* out) const {
  using C = typename Api<T>::cplx;
  Api<T>::exec_c2r(plan_for<T>(Kind::c2r, n_, layout_, in, out, inverse_), reinterpret_cast<C*>(in),
                   out);
}

template <class T>
ComplexFft<T>::ComplexFft(int64_t n, const Layout& layout) : n_(n), layout_(layout) {
  const bool dbl = std::is_same_v<T, double>;
  forward_ = get_plan<T>(Key{dbl, Kind::c2c_forward, true, true, n, layout});
  inverse_ = get_plan<T>(Key{dbl, Kind::c2c_inverse, true, true, n, layout});
}

template <class T>
void ComplexFft<T>::run(bool forward, std::complex<T>* in, std::complex<T>* out) const {
  using C = typename Api<T>::cplx;
  const Kind kind = forward ? Kind::c2c_forward : Kind::c2c_inverse;
  const bool fast = in == out && Api<T>::alignment_of(in) == 0;  // the in-place aligned plans
  const void* p =
      fast ? (forward ? forward_ : inverse_) : plan_for<T>(kind, n_, layout_, in, out, nullptr);
  Api<T>::exec_c2c(p, reinterpret_cast<C*>(in), reinterpret_cast<C*>(out));
}

template struct Buffer<float>;
template struct Buffer<double>;
template struct Buffer<std::complex<float>>;
template struct Buffer<std::complex<double>>;
template class RealFft<float>;
template class RealFft<double>;
template class ComplexFft<float>;
template class ComplexFft<double>;

}  // namespace coil::fft
