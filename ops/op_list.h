// The one explicit list of ops the harness tests. Each entry names an op and its spec function
// `OpSpec spec_<name>()`, which must exist (the link fails otherwise): an op cannot be listed
// without a spec. Add a line here when you add an op (docs/extending.md).
#pragma once
#include <vector>

#include "ops/op_spec.h"

// clang-format off
// One line per family; keep a comment line between them so parallel edits merge cleanly.
#define COIL_OPS_ELEMENTWISE(X)                                                                 \
  X(neg) X(exp) X(log) X(log1p) X(expm1) X(sqrt) X(rsqrt) X(abs) X(relu) X(sigmoid) X(tanh)     \
  X(silu) X(gelu) X(gelu_tanh) X(softplus) X(square) X(clamp) X(pow_scalar)                     \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum) X(where) X(masked_fill)
// reductions
#define COIL_OPS_REDUCE(X) X(sum) X(mean) X(max) X(logsumexp) X(var)
// matrix products
#define COIL_OPS_LINALG(X) X(matmul) X(bmm) X(linear)
// shapes and views
#define COIL_OPS_SHAPE(X) X(reshape) X(view) X(permute) X(transpose) X(slice) X(narrow) X(select) X(expand) X(unsqueeze) X(squeeze) X(flatten) X(contiguous) X(to) X(cat) X(stack) X(pad) X(flip) X(cumsum)
// softmax and losses
#define COIL_OPS_SOFTMAX(X) X(softmax) X(log_softmax) X(cross_entropy)
// normalisations
#define COIL_OPS_NORM(X) X(layer_norm) X(rms_norm) X(batch_norm)
// embedding, dropout, convolution, gating
#define COIL_OPS_SEQUENCE(X) X(embedding) X(dropout) X(conv1d_causal) X(glu) X(bias_glu)
// selective scan (S6)
#define COIL_OPS_SCAN(X) X(selective_scan)
// S4 family: SSM kernels
#define COIL_OPS_SSM_KERNEL(X) X(s4d_kernel) X(s4_kernel) X(s4d_step) X(ssm_step)
// FFT convolution
#define COIL_OPS_FFT_CONV(X) X(fft_conv)
// (the full list)
#define COIL_OP_LIST(X) COIL_OPS_ELEMENTWISE(X) COIL_OPS_REDUCE(X) COIL_OPS_LINALG(X) \
  COIL_OPS_SHAPE(X) COIL_OPS_SOFTMAX(X) COIL_OPS_NORM(X) COIL_OPS_SEQUENCE(X) COIL_OPS_SCAN(X) \
  COIL_OPS_SSM_KERNEL(X) COIL_OPS_FFT_CONV(X)
// clang-format on

namespace coil::ops {

#define COIL_DECLARE_SPEC(name) OpSpec spec_##name();
COIL_OP_LIST(COIL_DECLARE_SPEC)
#undef COIL_DECLARE_SPEC

struct OpEntry {
  const char* name;
  OpSpec (*spec)();
};

const std::vector<OpEntry>& op_list();

}  // namespace coil::ops
