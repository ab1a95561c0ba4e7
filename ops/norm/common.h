// Checks shared by the normalisation front ends (layer_norm, rms_norm, batch_norm).
#pragma once
#include "core/tensor.h"

namespace coil::norm {

// x is defined, f32 or f64, with a rank in [min_rank, max_rank].
void check_input(const char* op, const Tensor& x, int64_t min_rank, int64_t max_rank);
// An optional per-feature tensor (weight, bias, running stats): undefined, or shape (size) with
// x's dtype and device.
void check_param(const char* op, const char* what, const Tensor& t, int64_t size, const Tensor& x);
void check_eps(const char* op, double eps);

// t made contiguous, or undefined when t is.
Tensor contiguous_or_none(const Tensor& t);

}  // namespace coil::norm
