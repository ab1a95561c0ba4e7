// Input checks shared by the selective scan and its step: shapes, dtypes and devices, each
// failure a coil::Error naming the op and every shape involved.
#pragma once
#include "core/tensor.h"

namespace coil::scan_detail {

// The full op's inputs, in selective_scan's argument order; optional ones may be undefined.
struct ScanArgs {
  const Tensor &u, &delta, &A, &B, &C, &D, &z, &delta_bias, &initial_state, &reset;
};
void check_scan_inputs(const char* op, const ScanArgs& a);

// The step's inputs (per-token shapes, no time axis).
struct StepArgs {
  const Tensor &state, &u, &delta, &A, &B, &C, &D, &z, &delta_bias;
};
void check_step_inputs(const char* op, const StepArgs& a);

}  // namespace coil::scan_detail
