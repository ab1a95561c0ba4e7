// Front end of the selective scan: validation (every bad input names the op and the shapes),
// the strided-view pass-through, the device call, and the recorded backward (one fused kernel
// call that writes every gradient).
#include "ops/selective_scan/selective_scan.h"

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "ops/selective_scan/kernels.h"
#include "ops/selective_scan/validate.h"

namespace coil {
namespace {

constexpr const char* kName = "selective_scan";

// The operands as the kernels read them (views that fit, copies of those that do not).
struct Operands {
  Tensor u, delta, A, B, C, D, z, bias, s0, reset;
};

// Last dim dense; batch and time strides free. B/C also need their group stride to be N.
Tensor fit_rows(const Tensor& t) {
  if (!t.defined()) return t;
  const bool inner = t.size(-1) == 1 || t.stride(-1) == 1;
  const bool groups = t.dim() < 4 || t.size(2) == 1 || t.stride(2) == t.size(3);
  return inner && groups ? t : core::contiguous(t);
}

Tensor dense(const Tensor& t) { return t.defined() ? core::contiguous(t) : t; }

SelectiveScanParams params_of(const Operands& o, bool softplus) {
  SelectiveScanParams p;
  p.batch = o.u.size(0);
  p.length = o.u.size(1);
  p.channels = o.u.size(2);
  p.groups = o.B.size(2);
  p.state = o.B.size(3);
  p.dtype = o.u.dtype();
  p.param_dtype = o.A.dtype();
  p.u = o.u.data_ptr();
  p.u_sb = o.u.stride(0);
  p.u_st = o.u.stride(1);
  p.delta = o.delta.data_ptr();
  p.delta_sb = o.delta.stride(0);
  p.delta_st = o.delta.stride(1);
  if (o.z.defined()) {
    p.z = o.z.data_ptr();
    p.z_sb = o.z.stride(0);
    p.z_st = o.z.stride(1);
  }
  p.B = o.B.data_ptr();
  p.B_sb = o.B.stride(0);
  p.B_st = o.B.stride(1);
  p.C = o.C.data_ptr();
  p.C_sb = o.C.stride(0);
  p.C_st = o.C.stride(1);
  p.A = o.A.data_ptr();
  p.D = o.D.defined() ? o.D.data_ptr() : nullptr;
  p.delta_bias = o.bias.defined() ? o.bias.data_ptr() : nullptr;
  p.delta_softplus = softplus;
  p.initial_state = o.s0.defined() ? o.s0.data_ptr() : nullptr;
  if (o.reset.defined()) {
    p.reset = static_cast<const bool*>(o.reset.data_ptr());
    p.reset_sb = o.reset.stride(0);
    p.reset_st = o.reset.stride(1);
  }
  p.device = o.u.device();
  return p;
}

Tensor maybe_empty(bool wanted, const Tensor& like) {
  return wanted && like.defined() ? empty(like.shape(), like.options()) : Tensor();
}

}  // namespace

SelectiveScanOutput selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A,
                                   const Tensor& B, const Tensor& C, const Tensor& D,
                                   const Tensor& z, const Tensor& delta_bias, bool delta_softplus,
                                   const Tensor& initial_state, const Tensor& reset) {
  scan_detail::check_scan_inputs(kName,
                                 {u, delta, A, B, C, D, z, delta_bias, initial_state, reset});
  const Operands o{
      fit_rows(u), fit_rows(delta), dense(A),          fit_rows(B),          fit_rows(C),
      dense(D),    fit_rows(z),     dense(delta_bias), dense(initial_state), reset};
  const SelectiveScanParams p = params_of(o, delta_softplus);
  Tensor out = empty({p.batch, p.length, p.channels}, u.options());
  Tensor final_state = empty({p.batch, p.channels, p.state}, A.options());
  const std::vector<Tensor> inputs{u, delta, A, B, C, D, z, delta_bias, initial_state};
  const bool grad = needs_grad(inputs);
  Tensor checkpoints;
  COIL_DEVICE_CALL(kName, u.device(), selective_scan_forward, p, out, final_state,
                   grad ? &checkpoints : nullptr);
  if (grad) {
    const Operands saved{detach(o.u), detach(o.delta), detach(o.A),    detach(o.B),  detach(o.C),
                         detach(o.D), detach(o.z),     detach(o.bias), detach(o.s0), o.reset};
    record(kName, inputs, {out, final_state},
           [saved, checkpoints, delta_softplus](const std::vector<Tensor>& g,
                                                const std::vector<bool>& needs) {
             const SelectiveScanParams p = params_of(saved, delta_softplus);
             Tensor dout = g[0].defined()
                               ? core::contiguous(g[0])
                               : zeros({p.batch, p.length, p.channels}, saved.u.options());
             Tensor dfinal = g[1].defined() ? core::contiguous(g[1]) : Tensor();
             const SelectiveScanGrads gr{
                 maybe_empty(needs[0], saved.u), maybe_empty(needs[1], saved.delta),
                 maybe_empty(needs[2], saved.A), maybe_empty(needs[3], saved.B),
                 maybe_empty(needs[4], saved.C), maybe_empty(needs[5], saved.D),
                 maybe_empty(needs[6], saved.z), maybe_empty(needs[7], saved.bias),
                 maybe_empty(needs[8], saved.s0)};
             COIL_DEVICE_CALL(kName, p.device, selective_scan_backward, p, checkpoints, dout,
                              dfinal, gr);
             return std::vector<Tensor>{gr.du, gr.ddelta,      gr.dA,
                                        gr.dB, gr.dC,          gr.dD,
                                        gr.dz, gr.ddelta_bias, gr.dinitial_state};
           });
  }
  return {out, final_state};
}

}  // namespace coil
