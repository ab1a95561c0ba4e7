// The S4-style block and the Mamba block over an SSM core.
#include "nn/blocks.h"

#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "ops/elementwise/elementwise.h"
#include "ops/glu/glu.h"
#include "ops/linalg/linalg.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"

namespace coil::nn {

namespace {

// Outputs [start, start + n) of the Linear l on x: a GEMM on that slice of its weight.
Tensor linear_rows(const Linear& l, const Tensor& x, int64_t start, int64_t n) {
  return linear(x, narrow(l.weight, 0, start, n),
                l.bias.defined() ? narrow(l.bias, 0, start, n) : Tensor());
}

// output_linear then GLU, the bias going into GLU's pass (bias_glu): no bias pass before the
// GEMM and no column sums after its backward.
Tensor linear_glu(const Linear& l, const Tensor& x) {
  if (!l.bias.defined()) return glu(l.forward(x));
  return bias_glu(linear(x, l.weight), l.bias);
}

}  // namespace

SSMBlock::SSMBlock(const ModelOptions& o, const std::string& kind) : SequenceLayer("SSMBlock") {
  core = make_ssm_core(*this, kind, o.d_model, o);
  drop = register_module("dropout", make<Dropout>(o.dropout, o.tie_dropout));
  output_linear = register_module("output_linear", make<Linear>(o.d_model, 2 * o.d_model));
}

// GELU then dropout, as the S4 repository's block (activation, then its tied dropout).
Tensor SSMBlock::forward(const Tensor& x, State* state) {
  Tensor y = core->forward(x, Tensor(), state);
  return linear_glu(*output_linear, drop->forward(gelu(y)));
}

Tensor SSMBlock::step(const Tensor& x_t, State& state) {
  NoGradGuard no_grad;
  return linear_glu(*output_linear, gelu(core->step(x_t, Tensor(), state)));
}

Mamba::Mamba(const ModelOptions& o, int64_t) : SequenceLayer("Mamba") {
  const MambaOptions& m = o.mamba;
  d_inner = m.expand * o.d_model;
  in_proj = register_module("in_proj", make<Linear>(o.d_model, 2 * d_inner, m.bias));
  conv1d = register_module("conv1d", make<Conv1d>(d_inner, m.d_conv, m.conv_bias));
  core = make_ssm_core(*this, m.ssm, d_inner, o);
  fused_gate = m.ssm == "s6";
  out_proj = register_module("out_proj", make<Linear>(d_inner, o.d_model, m.bias));
  // GPT-2's rescaling of the residual branch's last projection (mamba_ssm's _init_weights).
  NoGradGuard no_grad;
  core::copy_(out_proj->weight, mul(out_proj->weight, 1.0 / std::sqrt(double(o.n_layer))));
}

Tensor Mamba::forward(const Tensor& x, State* state) {
  COIL_CHECK(x.dim() == 3, "[Mamba] x must be (B, L, H), got {}", shape_str(x.shape()));
  const int64_t L = x.size(1), K = conv1d->weight.size(1);
  // in_proj as two GEMMs on the halves of its weight: x and z come out contiguous (no copy
  // before the conv), and their backward adds two (B, L, H) input gradients where narrowing one
  // (B, L, 2 d_inner) output would zero-fill and sum two gradients of that size.
  Tensor xs = linear_rows(*in_proj, x, 0, d_inner), z = linear_rows(*in_proj, x, d_inner, d_inner);
  Tensor conv;
  if (state) {
    // Continue the convolution from the previous chunk's last K-1 inputs.
    if (state->tensors.empty()) state->tensors = {zeros({x.size(0), K - 1, d_inner}, x.options())};
    Tensor joined = cat({state->tensors[0], xs}, 1);  // (B, K-1+L, d_inner)
    conv = narrow(conv1d->forward(joined), 1, K - 1, L);
    state->tensors[0] = narrow(joined, 1, L, K - 1);
    if (state->children.empty()) state->children.resize(1);
  } else {
    conv = conv1d->forward(xs);
  }
  Tensor u = silu(conv);
  Tensor y = core->forward(u, fused_gate ? z : Tensor(), state ? &state->children[0] : nullptr);
  if (!fused_gate) y = mul(y, silu(z));
  return out_proj->forward(y);
}

Tensor Mamba::step(const Tensor& x_t, State& state) {
  NoGradGuard no_grad;
  const int64_t K = conv1d->weight.size(1);
  Tensor xz = in_proj->forward(x_t);  // (B, 2 d_inner)
  Tensor xs = narrow(xz, 1, 0, d_inner), z = contiguous(narrow(xz, 1, d_inner, d_inner));
  if (state.tensors.empty()) state.tensors = {zeros({x_t.size(0), K - 1, d_inner}, x_t.options())};
  Tensor window = cat({state.tensors[0], unsqueeze(xs, 1)}, 1);  // (B, K, d_inner)
  state.tensors[0] = contiguous(narrow(window, 1, 1, K - 1));
  Tensor conv = sum(mul(window, transpose(conv1d->weight, 0, 1)), {1});  // weight (d_inner, K)
  if (conv1d->bias.defined()) conv = add(conv, conv1d->bias);
  if (state.children.empty()) state.children.resize(1);
  Tensor y = core->step(silu(conv), fused_gate ? z : Tensor(), state.children[0]);
  if (!fused_gate) y = mul(y, silu(z));
  return out_proj->forward(y);
}

}  // namespace coil::nn
