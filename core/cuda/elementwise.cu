// CUDA elementwise kernels: unary, unary backward, binary, where, copy/convert, fill, arange.
// Device lambdas live in named function templates (nvcc rejects them inside generic lambdas);
// the generic lambdas only turn runtime dtypes and ops into template arguments.
#include "core/cuda/launch.cuh"
#include "core/dispatch.h"
#include "core/kernels.h"

namespace coil::cuda {
namespace {

template <UnaryOp kOp, class T>
void unary_impl(const StridedLoop<2>& L, int dev, UnaryParams p) {
  using C = compute_t<T>;
  launch_map<1, T, T>(L, dev, [p] __device__(const T(&a)[1]) {
    return T(math::unary<kOp, C>(C(a[0]), p));
  });
}

template <UnaryOp kOp, class T>
void unary_backward_impl(const StridedLoop<3>& L, int dev, UnaryParams p) {
  using C = compute_t<T>;
  launch_map<2, T, T>(L, dev, [p] __device__(const T(&a)[2]) {
    return T(math::unary_grad<kOp, C>(C(a[0]), C(a[1]), p));
  });
}

template <BinaryOp kOp, class T>
void binary_impl(const StridedLoop<3>& L, int dev) {
  using C = compute_t<T>;
  if constexpr (is_comparison(kOp)) {
    launch_map<2, T, bool>(L, dev, [] __device__(const T(&v)[2]) {
      return math::binary<kOp, C>(C(v[0]), C(v[1])) != C(0);
    });
  } else {
    launch_map<2, T, T>(L, dev, [] __device__(const T(&v)[2]) {
      return T(math::binary<kOp, C>(C(v[0]), C(v[1])));
    });
  }
}

template <class T>
void where_impl(const StridedLoop<4>& L, int dev) {
  T* o = reinterpret_cast<T*>(L.data[0]);
  const bool* c = reinterpret_cast<const bool*>(L.data[1]);
  const T* x = reinterpret_cast<const T*>(L.data[2]);
  const T* y = reinterpret_cast<const T*>(L.data[3]);
  launch_strided<4>(L, dev, [=] __device__(const int64_t* off) {
    o[off[0]] = c[off[1]] ? x[off[2]] : y[off[3]];
  });
}

template <class D, class S>
void copy_impl(const StridedLoop<2>& L, int dev) {
  launch_map<1, S, D>(L, dev, [] __device__(const S(&v)[1]) { return math::cast<D, S>(v[0]); });
}

template <class T>
void fill_impl(const StridedLoop<1>& L, int dev, double value) {
  T v = math::cast<T, double>(value);
  T* o = reinterpret_cast<T*>(L.data[0]);
  launch_strided<1>(L, dev, [=] __device__(const int64_t* off) { o[off[0]] = v; });
}

template <class T>
void arange_impl(const StridedLoop<1>& L, int dev, double start, double step) {
  T* o = reinterpret_cast<T*>(L.data[0]);
  launch_strided<1>(L, dev, [=] __device__(const int64_t* off) {
    o[off[0]] = math::cast<T, double>(start + double(off[0]) * step);
  });
}

}  // namespace

void unary(UnaryOp op, const Tensor& out, const Tensor& x, UnaryParams p) {
  auto L = make_strided_loop<2>({&out, &x}, unary_name(op));
  int dev = out.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_NUMERIC_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    visit_unary(op, [&](auto opc) {
      unary_impl<decltype(opc)::value, typename decltype(tag)::type>(L, dev, p);
    });
  });
}

void unary_backward(UnaryOp op, const Tensor& dx, const Tensor& x, const Tensor& g,
                    UnaryParams p) {
  auto L = make_strided_loop<3>({&dx, &x, &g}, unary_name(op));
  int dev = dx.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_FLOAT_DTYPES>(x.dtype(), unary_name(op), [&](auto tag) {
    visit_unary(op, [&](auto opc) {
      unary_backward_impl<decltype(opc)::value, typename decltype(tag)::type>(L, dev, p);
    });
  });
}

void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  auto L = make_strided_loop<3>({&out, &a, &b}, binary_name(op));
  int dev = out.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_ALL_DTYPES>(a.dtype(), binary_name(op), [&](auto tag) {
    visit_binary(op, [&](auto opc) {
      binary_impl<decltype(opc)::value, typename decltype(tag)::type>(L, dev);
    });
  });
}

void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  auto L = make_strided_loop<4>({&out, &cond, &a, &b}, "where");
  int dev = out.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_ALL_DTYPES>(a.dtype(), "where", [&](auto tag) {
    where_impl<typename decltype(tag)::type>(L, dev);
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  auto L = make_strided_loop<2>({&dst, &src}, "copy_");
  int dev = dst.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "copy_", [&](auto dtag) {
    dispatch<COIL_ALL_DTYPES>(src.dtype(), "copy_", [&](auto stag) {
      copy_impl<typename decltype(dtag)::type, typename decltype(stag)::type>(L, dev);
    });
  });
}

void fill(const Tensor& dst, double value) {
  auto L = make_strided_loop<1>({&dst}, "fill_");
  int dev = dst.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_ALL_DTYPES>(dst.dtype(), "fill_", [&](auto tag) {
    fill_impl<typename decltype(tag)::type>(L, dev, value);
  });
}

void arange(const Tensor& out, double start, double step) {
  auto L = make_strided_loop<1>({&out}, "arange");
  int dev = out.device().index;
  DeviceGuard guard(dev);
  dispatch<COIL_NUMERIC_DTYPES>(out.dtype(), "arange", [&](auto tag) {
    arange_impl<typename decltype(tag)::type>(L, dev, start, step);
  });
}

}  // namespace coil::cuda
