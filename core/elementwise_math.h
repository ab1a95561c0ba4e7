// The scalar math behind every elementwise kernel, shared verbatim by the CPU and CUDA backends
// so both compute the same function. Compute happens in float or double (bf16 loads as float).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.h"

namespace coil {

enum class UnaryOp : uint8_t {
  neg, exp, log, log1p, expm1, sqrt, rsqrt, abs, sign, relu, sigmoid, tanh, silu, gelu_erf,
  gelu_tanh, softplus, sin, cos, reciprocal, square, add_scalar, mul_scalar, pow_scalar,
  rpow_scalar, clamp, logical_not,
};
// Scalar operands: add/mul/pow/rpow_scalar use a; clamp uses [a, b]; softplus uses beta = a and
// threshold = b (softplus(x) = x where beta*x > threshold).
struct UnaryParams {
  double a = 0, b = 0;
};

enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or,
};
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

// Arithmetic type for a storage type: bf16 computes in float.
template <class T> struct ComputeType { using type = T; };
template <> struct ComputeType<bf16> { using type = float; };
template <> struct ComputeType<bool> { using type = int32_t; };
template <> struct ComputeType<uint8_t> { using type = int32_t; };
template <class T> using compute_t = typename ComputeType<T>::type;

namespace math {
using std::abs; using std::cos; using std::erf; using std::exp; using std::expm1; using std::log;
using std::log1p; using std::pow; using std::sin; using std::sqrt; using std::tanh;

template <class T> COIL_HD T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }
template <class T> COIL_HD T gelu_tanh_inner(T x) {
  return T(0.7978845608028654) * (x + T(0.044715) * x * x * x);
}

template <UnaryOp op, class T>
COIL_HD T unary(T x, UnaryParams p) {
  if constexpr (op == UnaryOp::neg) return -x;
  else if constexpr (op == UnaryOp::exp) return exp(x);
  else if constexpr (op == UnaryOp::log) return log(x);
  else if constexpr (op == UnaryOp::log1p) return log1p(x);
  else if constexpr (op == UnaryOp::expm1) return expm1(x);
  else if constexpr (op == UnaryOp::sqrt) return sqrt(x);
  else if constexpr (op == UnaryOp::rsqrt) return T(1) / sqrt(x);
  else if constexpr (op == UnaryOp::abs) return x < T(0) ? -x : x;
  else if constexpr (op == UnaryOp::sign) return T((x > T(0)) - (x < T(0)));
  else if constexpr (op == UnaryOp::relu) return x > T(0) ? x : T(0);
  else if constexpr (op == UnaryOp::sigmoid) return sigmoid(x);
  else if constexpr (op == UnaryOp::tanh) return tanh(x);
  else if constexpr (op == UnaryOp::silu) return x * sigmoid(x);
  else if constexpr (op == UnaryOp::gelu_erf) return T(0.5) * x * (T(1) + erf(x * T(0.7071067811865476)));
  else if constexpr (op == UnaryOp::gelu_tanh) return T(0.5) * x * (T(1) + tanh(gelu_tanh_inner(x)));
  else if constexpr (op == UnaryOp::softplus) {
    T bx = T(p.a) * x;
    return bx > T(p.b) ? x : log1p(exp(bx)) / T(p.a);
  } else if constexpr (op == UnaryOp::sin) return sin(x);
  else if constexpr (op == UnaryOp::cos) return cos(x);
  else if constexpr (op == UnaryOp::reciprocal) return T(1) / x;
  else if constexpr (op == UnaryOp::square) return x * x;
  else if constexpr (op == UnaryOp::add_scalar) return x + T(p.a);
  else if constexpr (op == UnaryOp::mul_scalar) return x * T(p.a);
  else if constexpr (op == UnaryOp::pow_scalar) return pow(x, T(p.a));
  else if constexpr (op == UnaryOp::rpow_scalar) return pow(T(p.a), x);
  else if constexpr (op == UnaryOp::clamp) return x < T(p.a) ? T(p.a) : (x > T(p.b) ? T(p.b) : x);
  else if constexpr (op == UnaryOp::logical_not) return T(x == T(0));
}

// d f(x)/dx times the incoming gradient g: the backward of every differentiable UnaryOp.
template <UnaryOp op, class T>
COIL_HD T unary_grad(T x, T g, UnaryParams p) {
  if constexpr (op == UnaryOp::neg) return -g;
  else if constexpr (op == UnaryOp::exp) return g * exp(x);
  else if constexpr (op == UnaryOp::log) return g / x;
  else if constexpr (op == UnaryOp::log1p) return g / (T(1) + x);
  else if constexpr (op == UnaryOp::expm1) return g * exp(x);
  else if constexpr (op == UnaryOp::sqrt) return g / (T(2) * sqrt(x));
  else if constexpr (op == UnaryOp::rsqrt) return g * T(-0.5) / (x * sqrt(x));
  else if constexpr (op == UnaryOp::abs) return x > T(0) ? g : (x < T(0) ? -g : T(0));
  else if constexpr (op == UnaryOp::relu) return x > T(0) ? g : T(0);
  else if constexpr (op == UnaryOp::sigmoid) { T s = sigmoid(x); return g * s * (T(1) - s); }
  else if constexpr (op == UnaryOp::tanh) { T t = tanh(x); return g * (T(1) - t * t); }
  else if constexpr (op == UnaryOp::silu) { T s = sigmoid(x); return g * s * (T(1) + x * (T(1) - s)); }
  else if constexpr (op == UnaryOp::gelu_erf) {
    T cdf = T(0.5) * (T(1) + erf(x * T(0.7071067811865476)));
    T pdf = exp(T(-0.5) * x * x) * T(0.3989422804014327);
    return g * (cdf + x * pdf);
  } else if constexpr (op == UnaryOp::gelu_tanh) {
    T t = tanh(gelu_tanh_inner(x));
    T dinner = T(0.7978845608028654) * (T(1) + T(3 * 0.044715) * x * x);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner);
  } else if constexpr (op == UnaryOp::softplus) {
    T bx = T(p.a) * x;
    return bx > T(p.b) ? g : g * sigmoid(bx);
  } else if constexpr (op == UnaryOp::sin) return g * cos(x);
  else if constexpr (op == UnaryOp::cos) return -g * sin(x);
  else if constexpr (op == UnaryOp::reciprocal) return -g / (x * x);
  else if constexpr (op == UnaryOp::square) return T(2) * g * x;
  else if constexpr (op == UnaryOp::add_scalar) return g;
  else if constexpr (op == UnaryOp::mul_scalar) return g * T(p.a);
  else if constexpr (op == UnaryOp::pow_scalar)
    return p.a == 0 ? T(0) : g * T(p.a) * pow(x, T(p.a - 1));
  else if constexpr (op == UnaryOp::rpow_scalar) return g * pow(T(p.a), x) * log(T(p.a));
  else if constexpr (op == UnaryOp::clamp) return (x < T(p.a) || x > T(p.b)) ? T(0) : g;
  else return T(0);  // sign, logical_not: zero almost everywhere
}

template <BinaryOp op, class T>
COIL_HD T binary(T a, T b) {
  if constexpr (op == BinaryOp::add) return a + b;
  else if constexpr (op == BinaryOp::sub) return a - b;
  else if constexpr (op == BinaryOp::mul) return a * b;
  else if constexpr (op == BinaryOp::div) return a / b;
  else if constexpr (op == BinaryOp::pow) return T(pow(a, b));
  else if constexpr (op == BinaryOp::maximum) return a > b ? a : b;
  else if constexpr (op == BinaryOp::minimum) return a < b ? a : b;
  else if constexpr (op == BinaryOp::eq) return T(a == b);
  else if constexpr (op == BinaryOp::ne) return T(a != b);
  else if constexpr (op == BinaryOp::lt) return T(a < b);
  else if constexpr (op == BinaryOp::le) return T(a <= b);
  else if constexpr (op == BinaryOp::gt) return T(a > b);
  else if constexpr (op == BinaryOp::ge) return T(a >= b);
  else if constexpr (op == BinaryOp::logical_and) return T((a != T(0)) && (b != T(0)));
  else if constexpr (op == BinaryOp::logical_or) return T((a != T(0)) || (b != T(0)));
}

template <class To, class From>
COIL_HD To cast(From v) {
  if constexpr (std::is_same_v<To, bool>) return compute_t<From>(v) != compute_t<From>(0);
  else if constexpr (std::is_same_v<To, bf16>) return bf16(float(v));
  else if constexpr (std::is_same_v<From, bf16>) return cast<To, float>(float(v));
  // Float to integer: truncate toward zero through int64, then wrap, so that out-of-range and
  // negative values (undefined behaviour in C++) convert the same way on every backend.
  else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>)
    return To(int64_t(v));
  else return To(v);
}
}  // namespace math

// Calls f(op_constant) with the UnaryOp lifted to a compile-time constant.
template <class F>
decltype(auto) visit_unary(UnaryOp op, F&& f) {
#define COIL_UNARY_CASE(name) \
  case UnaryOp::name:         \
    return f(std::integral_constant<UnaryOp, UnaryOp::name>{});
  switch (op) {
    COIL_UNARY_CASE(neg) COIL_UNARY_CASE(exp) COIL_UNARY_CASE(log) COIL_UNARY_CASE(log1p)
    COIL_UNARY_CASE(expm1) COIL_UNARY_CASE(sqrt) COIL_UNARY_CASE(rsqrt) COIL_UNARY_CASE(abs)
    COIL_UNARY_CASE(sign) COIL_UNARY_CASE(relu) COIL_UNARY_CASE(sigmoid) COIL_UNARY_CASE(tanh)
    COIL_UNARY_CASE(silu) COIL_UNARY_CASE(gelu_erf) COIL_UNARY_CASE(gelu_tanh)
    COIL_UNARY_CASE(softplus) COIL_UNARY_CASE(sin) COIL_UNARY_CASE(cos)
    COIL_UNARY_CASE(reciprocal) COIL_UNARY_CASE(square) COIL_UNARY_CASE(add_scalar)
    COIL_UNARY_CASE(mul_scalar) COIL_UNARY_CASE(pow_scalar) COIL_UNARY_CASE(rpow_scalar)
    COIL_UNARY_CASE(clamp) COIL_UNARY_CASE(logical_not)
  }
#undef COIL_UNARY_CASE
  return f(std::integral_constant<UnaryOp, UnaryOp::neg>{});
}

template <class F>
decltype(auto) visit_binary(BinaryOp op, F&& f) {
#define COIL_BINARY_CASE(name) \
  case BinaryOp::name:         \
    return f(std::integral_constant<BinaryOp, BinaryOp::name>{});
  switch (op) {
    COIL_BINARY_CASE(add) COIL_BINARY_CASE(sub) COIL_BINARY_CASE(mul) COIL_BINARY_CASE(div)
    COIL_BINARY_CASE(pow) COIL_BINARY_CASE(maximum) COIL_BINARY_CASE(minimum)
    COIL_BINARY_CASE(eq) COIL_BINARY_CASE(ne) COIL_BINARY_CASE(lt) COIL_BINARY_CASE(le)
    COIL_BINARY_CASE(gt) COIL_BINARY_CASE(ge) COIL_BINARY_CASE(logical_and)
    COIL_BINARY_CASE(logical_or)
  }
#undef COIL_BINARY_CASE
  return f(std::integral_constant<BinaryOp, BinaryOp::add>{});
}

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);

}  // namespace coil
