// Elementwise front ends (not differentiable; ops/ wraps them): NumPy broadcasting, type
// promotion, device checks, output allocation, then the cpu:: or cuda:: kernel.
#pragma once
#include "core/elementwise_math.h"
#include "core/tensor.h"

namespace coil::core {

// Float-only ops promote integer inputs to f32; neg/abs/relu/... keep integer dtypes.
Tensor unary(UnaryOp op, const Tensor& x, UnaryParams p = {});
// g * f'(x) for the UnaryOp f; x and g share shape, dtype and device.
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& g, UnaryParams p = {});
// Broadcasts a and b, promotes both to the common dtype; comparisons return bool.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// out = cond ? a : b, broadcasting all three; cond must be bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Writes the broadcast result into an existing tensor (used for in-place updates).
void binary_into(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);

// Validates that every tensor is defined and on one device; names op and the shapes otherwise.
void check_same_device(const char* op, std::initializer_list<const Tensor*> ts);

}  // namespace coil::core
