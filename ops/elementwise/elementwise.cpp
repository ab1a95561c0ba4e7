// Front ends of the elementwise ops: the forward is core's kernel on either device, the
// backward is one fused unary_backward kernel (unary ops) or a few core ops (binary ops); a
// differentiated f32 GELU on the CPU saves its slope instead (ops/elementwise/kernels.h).
#include "ops/elementwise/elementwise.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "ops/common/grad_utils.h"
#include "ops/elementwise/kernels.h"

namespace coil {
namespace {

Tensor unary_op(UnaryOp op, const Tensor& x, UnaryParams p = {}) {
  Tensor out = core::unary(op, x, p);
  if (needs_grad({x})) {
    record(unary_name(op), {x}, {out},
           [op, x, p](const std::vector<Tensor>& g, const std::vector<bool>&) {
             Tensor xin = x.dtype() == g[0].dtype() ? x : core::to(x, g[0].dtype());
             return std::vector<Tensor>{core::unary_backward(op, xin, g[0], p)};
           });
  }
  return out;
}

// d out / d a and d out / d b for out = a op b, given the (broadcast) incoming gradient g.
std::vector<Tensor> binary_grads(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out,
                                 const Tensor& g, const std::vector<bool>& needs) {
  Tensor ga, gb;
  auto mul = [](const Tensor& x, const Tensor& y) { return core::binary(BinaryOp::mul, x, y); };
  auto div = [](const Tensor& x, const Tensor& y) { return core::binary(BinaryOp::div, x, y); };
  switch (op) {
    case BinaryOp::add:
      ga = g, gb = g;
      break;
    case BinaryOp::sub:
      ga = g, gb = needs[1] ? core::unary(UnaryOp::neg, g) : Tensor();
      break;
    case BinaryOp::mul:
      if (needs[0]) ga = mul(g, b);
      if (needs[1]) gb = mul(g, a);
      break;
    case BinaryOp::div:
      if (needs[0]) ga = div(g, b);
      if (needs[1]) gb = core::unary(UnaryOp::neg, div(mul(g, out), b));
      break;
    case BinaryOp::pow:  // d/da = b a^(b-1) = b out / a;  d/db = out log a
      if (needs[0]) ga = mul(g, mul(b, core::binary(BinaryOp::pow, a, core::unary(UnaryOp::add_scalar, b, {-1.0}))));
      if (needs[1]) gb = mul(g, mul(out, core::unary(UnaryOp::log, a)));
      break;
    case BinaryOp::maximum:
    case BinaryOp::minimum: {
      // Ties send the gradient to a, like a subgradient choice that keeps the sum right.
      BinaryOp pick = op == BinaryOp::maximum ? BinaryOp::ge : BinaryOp::le;
      Tensor take_a = core::binary(pick, a, b);
      Tensor zero = zeros({}, g.options());
      if (needs[0]) ga = core::where(take_a, g, zero);
      if (needs[1]) gb = core::where(take_a, zero, g);
      break;
    }
    default:
      COIL_FAIL("[{}] has no gradient", binary_name(op));
  }
  return {needs[0] ? ops::sum_to(ga, a.shape(), a.dtype()) : Tensor(),
          needs[1] ? ops::sum_to(gb, b.shape(), b.dtype()) : Tensor()};
}

Tensor binary_op(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = core::binary(op, a, b);
  if (!is_comparison(op) && needs_grad({a, b})) {
    // Only div and pow read their output in backward; the others save no extra handle.
    Tensor saved_out = op == BinaryOp::div || op == BinaryOp::pow ? detach(out) : Tensor();
    record(binary_name(op), {a, b}, {out},
           [op, a, b, out = std::move(saved_out)](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             DType dt = g[0].dtype();
             return binary_grads(op, core::to(a, dt), core::to(b, dt), out, g[0], needs);
           });
  }
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary_op(UnaryOp::neg, x); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::log, x); }
Tensor log1p(const Tensor& x) { return unary_op(UnaryOp::log1p, x); }
Tensor expm1(const Tensor& x) { return unary_op(UnaryOp::expm1, x); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary_op(UnaryOp::rsqrt, x); }
Tensor abs(const Tensor& x) { return unary_op(UnaryOp::abs, x); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::relu, x); }
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::tanh, x); }
Tensor silu(const Tensor& x) { return unary_op(UnaryOp::silu, x); }
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  if (tanh_approximation || !x.defined() || !x.device().is_cpu() || x.dtype() != DType::f32 ||
      !needs_grad({x}))
    return unary_op(tanh_approximation ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf, x);
  // f32 on the CPU, differentiated: the forward also stores gelu'(x), which it nearly has (the
  // normal CDF), so the backward is a multiply instead of a second erfc and exp per element
  // (forward + backward over 1M floats 2.0 -> 1.5 ms, one thread).
  Tensor xc = core::contiguous(x);
  Tensor y = empty(x.shape(), x.options()), slope = empty(x.shape(), x.options());
  cpu::gelu_with_slope(y, slope, xc);
  record("gelu", {x}, {y}, [slope](const std::vector<Tensor>& g, const std::vector<bool>&) {
    return std::vector<Tensor>{core::binary(BinaryOp::mul, g[0], slope)};
  });
  return y;
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  COIL_CHECK(beta > 0, "[softplus] beta must be positive, got {}", beta);
  return unary_op(UnaryOp::softplus, x, {beta, threshold});
}
Tensor square(const Tensor& x) { return unary_op(UnaryOp::square, x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  COIL_CHECK(lo <= hi, "[clamp] empty range [{}, {}]", lo, hi);
  return unary_op(UnaryOp::clamp, x, {lo, hi});
}
Tensor pow(const Tensor& x, double exponent) { return unary_op(UnaryOp::pow_scalar, x, {exponent}); }
Tensor add(const Tensor& a, double b) { return unary_op(UnaryOp::add_scalar, a, {b}); }
Tensor mul(const Tensor& a, double b) { return unary_op(UnaryOp::mul_scalar, a, {b}); }

Tensor add(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_op(BinaryOp::minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return core::binary(BinaryOp::ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = core::where(cond, a, b);
  if (needs_grad({a, b})) {
    record("where", {cond, a, b}, {out},
           [cond, sa = a.shape(), da = a.dtype(), sb = b.shape(), db = b.dtype()](
               const std::vector<Tensor>& g, const std::vector<bool>& needs) {
             Tensor zero = zeros({}, g[0].options());
             return std::vector<Tensor>{
                 Tensor(),
                 needs[1] ? ops::sum_to(core::where(cond, g[0], zero), sa, da) : Tensor(),
                 needs[2] ? ops::sum_to(core::where(cond, zero, g[0]), sb, db) : Tensor()};
           });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  COIL_CHECK(mask.dtype() == DType::boolean, "[masked_fill] mask must be bool, got {}",
             describe(mask));
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  COIL_CHECK(shape == x.shape(), "[masked_fill] mask {} does not broadcast to input {}",
             shape_str(mask.shape()), shape_str(x.shape()));
  return where(mask, full({}, value, x.options()), x);
}

}  // namespace coil
