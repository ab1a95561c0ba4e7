// softmax and log_softmax along one dimension, with fused CPU and CUDA kernels for the forward
// and the backward. Differentiable in x (f32 and f64).
#pragma once
#include "core/tensor.h"

namespace coil {

// x: any shape (a scalar counts as one element); dim: the dimension normalised over (negative
// counts from the end). Output: x's shape and dtype, y = exp(x - max) / sum exp(x - max) along
// dim, computed row by row without overflow (rows of 1e4 stay finite).
//
// The kernels work on rows that are contiguous along `dim`. When dim is not the last dimension
// (or x is not contiguous) the front end moves dim last and copies (permute + contiguous), runs
// the kernel, and returns the result permuted back: a view whose strides put `dim` innermost.
// The backward saves the output y (not x): softmax dx = y * (g - sum(g * y)).
Tensor softmax(const Tensor& x, int64_t dim = -1);

// log(softmax(x)) without forming softmax: y = x - max - log(sum exp(x - max)). The backward
// saves y: dx = g - exp(y) * sum(g).
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

}  // namespace coil
