// Elementwise front ends: validation, broadcasting, promotion, dispatch.
#include "core/elementwise.h"

#include "core/copy.h"
#include "core/factory.h"
#include "core/kernels.h"
#include "core/views.h"

namespace coil {

const char* unary_name(UnaryOp op) {
  static const char* names[] = {
      "neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "abs", "sign", "relu",
      "sigmoid", "tanh", "silu", "gelu", "gelu_tanh", "softplus", "sin", "cos", "reciprocal",
      "square", "add_scalar", "mul_scalar", "pow_scalar", "rpow_scalar", "clamp", "logical_not"};
  return names[int(op)];
}

const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"};
  return names[int(op)];
}

namespace core {

void check_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    COIL_CHECK(t->defined(), "[{}] got an undefined tensor", op);
    if (!first) first = t;
    COIL_CHECK(t->device() == first->device(), "[{}] tensors on different devices: {} vs {}", op,
               describe(*first), describe(*t));
  }
}

// expand() that skips building a new view when nothing changes (the common case).
static Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  return t.shape() == shape ? t : expand(t, shape);
}

static bool keeps_integers(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: case UnaryOp::abs: case UnaryOp::sign: case UnaryOp::relu:
    case UnaryOp::square: case UnaryOp::add_scalar: case UnaryOp::mul_scalar:
    case UnaryOp::clamp: case UnaryOp::logical_not:
      return true;
    default:
      return false;
  }
}

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p) {
  check_same_device(unary_name(op), {&x});
  Tensor in = x;
  if (op == UnaryOp::logical_not)
    return binary(BinaryOp::eq, x, full({}, 0.0, x.options()));
  if (is_integral(x.dtype()) && !keeps_integers(op)) in = to(x, DType::f32);
  COIL_CHECK(in.dtype() != DType::boolean, "[{}] dtype bool is not supported: {}", unary_name(op),
             describe(x));
  Tensor out = empty(in.shape(), in.options());
  if (out.numel() > 0) COIL_DEVICE_CALL(unary_name(op), x.device(), unary, op, out, in, p);
  return out;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& g, UnaryParams p) {
  check_same_device(unary_name(op), {&x, &g});
  COIL_CHECK(x.shape() == g.shape() && x.dtype() == g.dtype(),
             "[{}] backward: input {} and gradient {} differ", unary_name(op), describe(x),
             describe(g));
  COIL_CHECK(is_floating(x.dtype()), "[{}] backward needs a floating dtype, got {}", unary_name(op),
             describe(x));
  Tensor dx = empty(x.shape(), x.options());
  if (dx.numel() > 0) COIL_DEVICE_CALL(unary_name(op), x.device(), unary_backward, op, dx, x, g, p);
  return dx;
}

void binary_into(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_same_device(name, {&out, &a, &b});
  COIL_CHECK(broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), name), out.shape(), name) ==
                 out.shape(),
             "[{}] cannot broadcast {} and {} into an output of shape {}", name,
             shape_str(a.shape()), shape_str(b.shape()), shape_str(out.shape()));
  DType common = promote_types(a.dtype(), b.dtype());
  Tensor ea = broadcast_to(to(a, common), out.shape());
  Tensor eb = broadcast_to(to(b, common), out.shape());
  if (out.numel() > 0) COIL_DEVICE_CALL(name, out.device(), binary, op, out, ea, eb);
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_same_device(name, {&a, &b});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  DType common = promote_types(a.dtype(), b.dtype());
  if (op == BinaryOp::div && is_integral(common)) common = DType::f32;  // true division
  DType out_dtype = is_comparison(op) ? DType::boolean : common;
  Tensor out = empty(shape, {out_dtype, a.device()});
  Tensor ea = broadcast_to(to(a, common), shape), eb = broadcast_to(to(b, common), shape);
  if (out.numel() > 0) COIL_DEVICE_CALL(name, out.device(), binary, op, out, ea, eb);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", {&cond, &a, &b});
  COIL_CHECK(cond.dtype() == DType::boolean, "[where] condition must be bool, got {}",
             describe(cond));
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(),
                                 "where");
  DType common = promote_types(a.dtype(), b.dtype());
  Tensor out = empty(shape, {common, a.device()});
  if (out.numel() > 0)
    COIL_DEVICE_CALL("where", out.device(), where, out, expand(cond, shape),
                     expand(to(a, common), shape), expand(to(b, common), shape));
  return out;
}

}  // namespace core
}  // namespace coil
