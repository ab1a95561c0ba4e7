// Kernels of the causal depthwise conv (ops/conv1d/conv1d.h), one set per device so that
// COIL_DEVICE_CALL reaches them. All operands are contiguous and share one floating dtype;
// reset is a contiguous (B, L) bool tensor or undefined (see ops/conv1d/reset.h).
#pragma once
#include "core/kernels.h"  // COIL_DEVICE_CALL

namespace coil {

#define COIL_CONV1D_KERNELS                                                                   \
  /* out (B, L, C) from x (B, L, C), weight (C, K), bias (C) or undefined */                  \
  void conv1d_causal_forward(const Tensor& out, const Tensor& x, const Tensor& weight,        \
                             const Tensor& bias, const Tensor& reset);                        \
  /* from grad (B, L, C): dx (B, L, C), dweight (C, K), dbias (C); each may be undefined (not \
     wanted). dweight and dbias are reduced over B*L in a fixed order. */                     \
  void conv1d_causal_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,   \
                              const Tensor& grad, const Tensor& x, const Tensor& weight,      \
                              const Tensor& reset);                                           \
  /* One step: state (B, C, K) shifted left by one with x (B, C) entering at K-1, in place;   \
     y (B, C) = bias + sum_k weight[c, k] * state[b, c, k]. */                                \
  void conv1d_causal_step(const Tensor& y, const Tensor& state, const Tensor& x,              \
                          const Tensor& weight, const Tensor& bias);

namespace cpu {
COIL_CONV1D_KERNELS
}
namespace cuda {
COIL_CONV1D_KERNELS
}
#undef COIL_CONV1D_KERNELS

}  // namespace coil
