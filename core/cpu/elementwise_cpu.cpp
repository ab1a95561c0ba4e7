// CPU elementwise kernels: unary, unary backward, binary, where, copy/convert, fill, arange.
#include <tuple>
#include <utility>

#include "core/cpu/loops.h"
#include "core/cpu/vec_math.h"
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

// f32 (and bf16, which computes in f32) uses core/cpu/vec_math.h where libm's scalar calls
// dominate model steps (SiLU, GELU, sigmoid gates); f64 and every other op use the shared math.
// Forced inline: this file instantiates every op for every dtype, and GCC's inlining budget runs
// out, leaving an out-of-line call per element that blocks vectorisation.
template <UnaryOp op, class C>
[[gnu::always_inline]] inline C unary_cpu(C x, UnaryParams p) {
  if constexpr (std::is_same_v<C, float>) {
    if constexpr (op == UnaryOp::sigmoid) return vec::sigmoid(x);
    else if constexpr (op == UnaryOp::silu) return x * vec::sigmoid(x);
    else if constexpr (op == UnaryOp::gelu_erf) return x * vec::normal_cdf(x);
    else return math::unary<op, C>(x, p);
  } else {
    return math::unary<op, C>(x, p);
  }
}

template <UnaryOp op, class C>
[[gnu::always_inline]] inline C unary_grad_cpu(C x, C g, UnaryParams p) {
  if constexpr (std::is_same_v<C, float>) {
    if constexpr (op == UnaryOp::sigmoid) {
      const float s = vec::sigmoid(x);
      return g * s * (1.0f - s);
    } else if constexpr (op == UnaryOp::silu) {
      const float s = vec::sigmoid(x);
      return g * s * (1.0f + x * (1.0f - s));
    } else if constexpr (op == UnaryOp::gelu_erf) {
      const float pdf = vec::exp(-0.5f * x * x) * 0.3989422804014327f;
      return g * (vec::normal_cdf(x) + x * pdf);
    } else {
      return math::unary_grad<op, C>(x, g, p);
    }
  } else {
    return math::unary_grad<op, C>(x, g, p);
  }
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& x, UnaryParams p) {
  auto L = loop_of<2>({&out, &x}, unary_name(op));
  dispatch<COIL_NUMERIC_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      constexpr UnaryOp kOp = decltype(opc)::value;
      map<T, T>(L, [p](T a) { return T(unary_cpu<kOp, C>(C(a), p)); });
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& dx, const Tensor& x, const Tensor& g, UnaryParams p) {
  auto L = loop_of<3>({&dx, &x, &g}, unary_name(op));
  dispatch<COIL_FLOAT_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      constexpr UnaryOp kOp = decltype(opc)::value;
      map<T, T, T>(L, [p](T a, T gr) { return T(unary_grad_cpu<kOp, C>(C(a), C(gr), p)); });
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
