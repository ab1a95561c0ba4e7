// CPU elementwise kernels: unary, unary backward, binary, where, copy/convert, fill, arange.
#include <algorithm>
#include <tuple>
#include <utility>

#include "core/cpu/loops.h"
#include "core/cpu/vec_kernels.h"
#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cpu {
namespace {

template <int N>
StridedLoop<N> loop_of(const Tensor* const (&ops)[N], const char* op) {
  return make_strided_loop<N>(ops, op);
}

// o[i] = f(in_0[i], ...) over L, whose operand 0 is the output (type O) and operands 1.. the
// inputs (types I...). Runs where every operand steps by 1 are plain indexed loops, which GCC
// vectorises when f is branch-free; the rest step by their strides.
template <class O, class... I, int N, class F, size_t... k>
void map_run(const StridedLoop<N>& L, const int64_t* off, int64_t n, F& f,
             std::index_sequence<k...>) {
  const int d = L.ndim - 1;
  O* o = reinterpret_cast<O*>(L.data[0]) + off[0];
  [[maybe_unused]] std::tuple<const I*...> in{reinterpret_cast<const I*>(L.data[k + 1]) +
                                              off[k + 1]...};
  if (L.strides[0][d] == 1 && ((L.strides[k + 1][d] == 1) && ...)) {
    for (int64_t j = 0; j < n; ++j) o[j] = f(std::get<k>(in)[j]...);
  } else {
    const int64_t so = L.strides[0][d];
    [[maybe_unused]] const int64_t si[] = {L.strides[k + 1][d]..., 0};
    for (int64_t j = 0; j < n; ++j) o[j * so] = f(std::get<k>(in)[j * si[k]]...);
  }
}

template <class O, class... I, int N, class F>
void map(const StridedLoop<N>& L, F&& f) {
  static_assert(N == 1 + sizeof...(I), "one output and one loop operand per input");
  for_each_run(L, [&](const int64_t* off, int64_t n) {
    map_run<O, I...>(L, off, n, f, std::index_sequence_for<I...>{});
  });
}

// f32 runs of the ops in core/cpu/vec_kernels.h: contiguous runs go to its loops directly,
// strided ones through small gathered buffers. loop(ptrs, n) takes operand pointers (output first).
template <int N, class Loop>
void f32_runs(const StridedLoop<N>& L, Loop&& loop) {
  for_each_run(L, [&](const int64_t* off, int64_t n) {
    const int d = L.ndim - 1;
    float* ptr[N];
    bool contiguous = true;
    for (int k = 0; k < N; ++k) {
      ptr[k] = reinterpret_cast<float*>(L.data[k]) + off[k];
      contiguous = contiguous && L.strides[k][d] == 1;
    }
    if (contiguous) return loop(ptr, n);
    constexpr int64_t kBuf = 256;
    float buf[N][kBuf];
    float* bp[N];
    for (int k = 0; k < N; ++k) bp[k] = buf[k];
    for (int64_t j0 = 0; j0 < n; j0 += kBuf) {
      const int64_t m = std::min(kBuf, n - j0);
      for (int k = 1; k < N; ++k)
        for (int64_t j = 0; j < m; ++j) buf[k][j] = ptr[k][(j0 + j) * L.strides[k][d]];
      loop(bp, m);
      for (int64_t j = 0; j < m; ++j) ptr[0][(j0 + j) * L.strides[0][d]] = buf[0][j];
    }
  });
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& x, UnaryParams p) {
  auto L = loop_of<2>({&out, &x}, unary_name(op));
  if (x.dtype() == DType::f32 && out.dtype() == DType::f32 && vec::has_f32_loop(op))
    return f32_runs(L, [op](float* const* q, int64_t n) { vec::unary_f32(op, q[0], q[1], n); });
  dispatch<COIL_NUMERIC_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      constexpr UnaryOp kOp = decltype(opc)::value;
      map<T, T>(L, [p](T a) { return T(math::unary<kOp, C>(C(a), p)); });
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& dx, const Tensor& x, const Tensor& g, UnaryParams p) {
  auto L = loop_of<3>({&dx, &x, &g}, unary_name(op));
  if (x.dtype() == DType::f32 && vec::has_f32_loop(op))
    return f32_runs(
        L, [op](float* const* q, int64_t n) { vec::unary_grad_f32(op, q[0], q[1], q[2], n); });
  dispatch<COIL_FLOAT_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      constexpr UnaryOp kOp = decltype(opc)::value;
      map<T, T, T>(L, [p](T a, T gr) { return T(math::unary_grad<kOp, C>(C(a), C(gr), p)); });
    });
  });
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  auto L = loop_of<3>({&out, &a, &b}, binary_name(op));
  dispatch<COIL_ALL_DTYPES>(a.dtype(), binary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_binary(op, [&](auto opc) {
      constexpr BinaryOp kOp = decltype(opc)::value;
      if constexpr (is_comparison(kOp))
        map<bool, T, T>(L, [](T x, T y) { return math::binary<kOp, C>(C(x), C(y)) != C(0); });
      else map<T, T, T>(L, [](T x, T y) { return T(math::binary<kOp, C>(C(x), C(y))); });
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  auto L = loop_of<4>({&out, &cond, &a, &b}, "where");
  dispatch<COIL_ALL_DTYPES>(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    map<T, bool, T, T>(L, [](bool c, T x, T y) { return c ? x : y; });
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  auto L = loop_of<2>({&dst, &src}, "copy_");
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch<COIL_ALL_DTYPES>(src.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      map<D, S>(L, [](S v) { return math::cast<D, S>(v); });
    });
  });
}

void fill(const Tensor& dst, double value) {
  auto L = loop_of<1>({&dst}, "fill_");
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = math::cast<T, double>(value);
    map<T>(L, [v]() { return v; });
  });
}

void arange(const Tensor& out, double start, double step) {
  dispatch<COIL_NUMERIC_DTYPES>(out.dtype(), "arange", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.data_ptr());
    parallel_for(out.numel(), kParallelGrain,
                 [&](int64_t i) { o[i] = math::cast<T, double>(start + double(i) * step); });
  });
}

}  // namespace coil::cpu
