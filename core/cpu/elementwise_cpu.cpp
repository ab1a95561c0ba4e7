// CPU elementwise kernels: unary, unary backward, binary, where, copy/convert, fill, arange.
#include "core/cpu/loops.h"
#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cpu {

template <int N>
static StridedLoop<N> loop_of(const Tensor* const (&ops)[N], const char* op) {
  return make_strided_loop<N>(ops, op);
}

void unary(UnaryOp op, const Tensor& out, const Tensor& x, UnaryParams p) {
  auto L = loop_of<2>({&out, &x}, unary_name(op));
  dispatch<COIL_NUMERIC_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      T* o = reinterpret_cast<T*>(L.data[0]);
      const T* a = reinterpret_cast<const T*>(L.data[1]);
      for_each_element(L, [&](const int64_t* off) {
        o[off[0]] = T(math::unary<decltype(opc)::value, C>(C(a[off[1]]), p));
      });
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& dx, const Tensor& x, const Tensor& g,
                    UnaryParams p) {
  auto L = loop_of<3>({&dx, &x, &g}, unary_name(op));
  dispatch<COIL_FLOAT_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    visit_unary(op, [&](auto opc) {
      T* o = reinterpret_cast<T*>(L.data[0]);
      const T* a = reinterpret_cast<const T*>(L.data[1]);
      const T* gr = reinterpret_cast<const T*>(L.data[2]);
      for_each_element(L, [&](const int64_t* off) {
        o[off[0]] = T(math::unary_grad<decltype(opc)::value, C>(C(a[off[1]]), C(gr[off[2]]), p));
      });
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
      const T* x = reinterpret_cast<const T*>(L.data[1]);
      const T* y = reinterpret_cast<const T*>(L.data[2]);
      if constexpr (is_comparison(kOp)) {
        bool* o = reinterpret_cast<bool*>(L.data[0]);
        for_each_element(L, [&](const int64_t* off) {
          o[off[0]] = math::binary<kOp, C>(C(x[off[1]]), C(y[off[2]])) != C(0);
        });
      } else {
        T* o = reinterpret_cast<T*>(L.data[0]);
        for_each_element(L, [&](const int64_t* off) {
          o[off[0]] = T(math::binary<kOp, C>(C(x[off[1]]), C(y[off[2]])));
        });
      }
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  auto L = loop_of<4>({&out, &cond, &a, &b}, "where");
  dispatch<COIL_ALL_DTYPES>(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = reinterpret_cast<T*>(L.data[0]);
    const bool* c = reinterpret_cast<const bool*>(L.data[1]);
    const T* x = reinterpret_cast<const T*>(L.data[2]);
    const T* y = reinterpret_cast<const T*>(L.data[3]);
    for_each_element(L, [&](const int64_t* off) { o[off[0]] = c[off[1]] ? x[off[2]] : y[off[3]]; });
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  auto L = loop_of<2>({&dst, &src}, "copy_");
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch<COIL_ALL_DTYPES>(src.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      D* o = reinterpret_cast<D*>(L.data[0]);
      const S* s = reinterpret_cast<const S*>(L.data[1]);
      for_each_element(L, [&](const int64_t* off) { o[off[0]] = math::cast<D, S>(s[off[1]]); });
    });
  });
}

void fill(const Tensor& dst, double value) {
  auto L = loop_of<1>({&dst}, "fill_");
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = math::cast<T, double>(value);
    T* o = reinterpret_cast<T*>(L.data[0]);
    for_each_element(L, [&](const int64_t* off) { o[off[0]] = v; });
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
