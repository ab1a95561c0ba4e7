// Running an op spec (ops/op_spec.h): prepared inputs, a scalar objective from random
// cotangents, and the gradients it produces. Shared by the CPU and GPU harness suites.
#pragma once
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/views.h"
#include "ops/op_list.h"

namespace coil::testing {

inline constexpr uint64_t kOpSeed = 0xC011;  // reset before every run: random ops repeat

inline bool differentiable(const ops::OpSample& s, size_t i) {
  if (!is_floating(s.inputs[i].dtype())) return false;
  for (int k : s.no_grad)
    if (size_t(k) == i) return false;
  return true;
}

// The same values in a different memory layout (transposed or strided), so kernels that assume
// contiguity show up.
inline Tensor non_contiguous(const Tensor& t) {
  if (t.dim() >= 2) {
    Tensor swapped = core::contiguous(core::transpose(t, -1, -2));
    return core::transpose(swapped, -1, -2);
  }
  if (t.dim() == 1) {
    Tensor wide = zeros({t.size(0), 2}, t.options());
    core::copy_(core::select(wide, 1, 0), t);
    return core::select(wide, 1, 0);
  }
  return t;
}

struct OpRun {
  std::vector<Tensor> outputs;
  std::vector<Tensor> grads;  // per input; undefined where not differentiable
};

// Runs the op on `inputs` converted to (dtype, device), then backward of
// sum_j <cotangent_j, output_j> over the floating outputs.
inline OpRun run_op(const ops::OpSpec& spec, const ops::OpSample& sample, DType dtype,
                    Device device, const std::vector<Tensor>& cotangents, bool layout_shuffle = false) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < sample.inputs.size(); ++i) {
    Tensor t = sample.inputs[i];
    if (t.defined()) {
      if (is_floating(t.dtype())) t = core::to(t, dtype);
      t = core::to(t, device);
      if (layout_shuffle) t = non_contiguous(t);
      if (differentiable(sample, i)) {
        t = make_view(t, t.shape(), t.strides(), t.offset());  // a fresh leaf, same data
        set_requires_grad(t);
      }
    }
    in.push_back(t);
  }
  manual_seed(kOpSeed);
  OpRun r;
  r.outputs = spec.run(in);
  // backward of sum_j <v_j, out_j>: one backward per output, keeping the graph until the last.
  std::vector<size_t> live;
  for (size_t j = 0; j < r.outputs.size() && j < cotangents.size(); ++j)
    if (cotangents[j].defined() && requires_grad(r.outputs[j])) live.push_back(j);
  for (size_t k = 0; k < live.size(); ++k) {
    size_t j = live[k];
    Tensor v = core::to(core::to(cotangents[j], dtype), device);
    backward(r.outputs[j], v, {.retain_graph = k + 1 < live.size()});
  }
  for (size_t i = 0; i < in.size(); ++i)
    r.grads.push_back(differentiable(sample, i) ? grad(in[i]) : Tensor());
  for (auto& o : r.outputs) o = detach(o);
  return r;
}

// Random cotangents shaped like the floating outputs of one forward run.
inline std::vector<Tensor> draw_cotangents(const ops::OpSpec& spec, const ops::OpSample& sample,
                                           Generator& g) {
  NoGradGuard no_grad;
  manual_seed(kOpSeed);
  std::vector<Tensor> outs = spec.run(sample.inputs);
  std::vector<Tensor> v;
  for (const Tensor& o : outs)
    v.push_back(is_floating(o.dtype()) ? normal(o.shape(), 0, 1, {DType::f64}, &g) : Tensor());
  return v;
}

}  // namespace coil::testing

namespace coil::testing {

// sum_j <v_j, out_j> in float64 on the host: the objective whose gradient run_op computes.
inline double objective(const std::vector<Tensor>& outputs, const std::vector<Tensor>& v) {
  double total = 0;
  for (size_t j = 0; j < outputs.size() && j < v.size(); ++j) {
    if (!v[j].defined()) continue;
    auto o = core::to(core::to(outputs[j], Device::cpu()), DType::f64).to_vector<double>();
    auto w = v[j].to_vector<double>();
    for (size_t i = 0; i < o.size(); ++i) total += o[i] * w[i];
  }
  return total;
}

}  // namespace coil::testing
