// Checks shared by the normalisation front ends.
#include "ops/norm/common.h"

#include <cmath>

#include "core/copy.h"

namespace coil::norm {

void check_input(const char* op, const Tensor& x, int64_t min_rank, int64_t max_rank) {
  COIL_CHECK(x.defined(), "[{}] input is undefined", op);
  COIL_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64,
             "[{}] dtype {} is not supported (f32 or f64): input {}", op, dtype_name(x.dtype()),
             describe(x));
  COIL_CHECK(x.dim() >= min_rank && x.dim() <= max_rank,
             "[{}] input has rank {}, expected {}: shape {}", op, x.dim(),
             min_rank == max_rank ? fmt::format("{}", min_rank)
             : max_rank > 8       ? fmt::format("at least {}", min_rank)
                                  : fmt::format("{} to {}", min_rank, max_rank),
             shape_str(x.shape()));
}

void check_param(const char* op, const char* what, const Tensor& t, int64_t size, const Tensor& x) {
  if (!t.defined()) return;
  COIL_CHECK(t.shape() == Shape{size}, "[{}] {} must have shape ({}) for input {}, got {}", op,
             what, size, shape_str(x.shape()), shape_str(t.shape()));
  COIL_CHECK(t.dtype() == x.dtype(), "[{}] {} has dtype {} but input has {}", op, what,
             dtype_name(t.dtype()), dtype_name(x.dtype()));
  COIL_CHECK(t.device() == x.device(), "[{}] {} is on {} but input is on {}", op, what,
             t.device().str(), x.device().str());
}

void check_eps(const char* op, double eps) {
  COIL_CHECK(std::isfinite(eps) && eps >= 0, "[{}] eps must be finite and >= 0, got {}", op, eps);
}

Tensor contiguous_or_none(const Tensor& t) { return t.defined() ? core::contiguous(t) : t; }

}  // namespace coil::norm
