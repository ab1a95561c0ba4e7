// The selective SSM core (S6) on the selective_scan op, the core table and the SSM option checks.
#include "nn/ssm_core.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "nn/s4_core.h"
#include "ops/elementwise/elementwise.h"
#include "ops/linalg/linalg.h"
#include "ops/selective_scan/selective_scan.h"
#include "ops/shape/shape.h"

namespace coil::nn {

SelectiveSSM::SelectiveSSM(Module& owner, int64_t channels, const S6Options& o)
    : dt_rank(o.dt_rank > 0 ? o.dt_rank : (channels + 15) / 16), d_state(o.d_state) {
  const int64_t N = d_state;
  x_proj = owner.register_module("x_proj", make<Linear>(channels, dt_rank + 2 * N, false));
  dt_proj = owner.register_module("dt_proj", make<Linear>(dt_rank, channels, true));
  // dt_proj: weight ~ U(+-dt_rank^-1/2); bias = softplus^-1(dt), log dt ~ U[log dt_min, log dt_max]
  // clamped at dt_init_floor, so softplus(bias) starts inside the dt range.
  double bound = 1.0 / std::sqrt(double(dt_rank));
  core::copy_(dt_proj->weight, uniform({channels, dt_rank}, -bound, bound));
  std::vector<float> u = uniform({channels}, 0.0, 1.0).to_vector<float>();
  std::vector<float> bias(u.size());
  const double lo = std::log(o.dt_min), hi = std::log(o.dt_max);
  for (size_t d = 0; d < bias.size(); ++d) {
    double dt = std::max(std::exp(u[d] * (hi - lo) + lo), o.dt_init_floor);
    bias[d] = float(dt + std::log(-std::expm1(-dt)));
  }
  core::copy_(dt_proj->bias, from_vector(bias));
  std::vector<float> a_log;
  for (int64_t d = 0; d < channels; ++d)
    for (int64_t n = 1; n <= N; ++n) a_log.push_back(float(std::log(double(n))));
  A_log = owner.register_parameter("A_log", from_vector(a_log, {channels, N}), kNoWeightDecay);
  D = owner.register_parameter("D", ones({channels}), kNoWeightDecay);
}

namespace {

struct Projected {
  Tensor delta, B, C;  // (B.., L.., C), (B.., L.., 1, N) x2 (views of x_proj's output)
};

// x (..., C) -> delta (..., C) before bias/softplus, B and C (..., 1, N): the time-dependent
// parameters of the selective scan, sliced from one x_proj GEMM without copies.
Projected project(const SelectiveSSM& s, const Tensor& x) {
  Tensor dbc = s.x_proj->forward(x);  // (..., R + 2N)
  const int64_t R = s.dt_rank, N = s.d_state, last = dbc.dim() - 1;
  Tensor dt = narrow(dbc, last, 0, R);
  Tensor delta = linear(dt, s.dt_proj->weight);  // dt_proj's bias goes to the scan
  return {delta, unsqueeze(narrow(dbc, last, R, N), last),
          unsqueeze(narrow(dbc, last, R + N, N), last)};
}

Tensor state_matrix(const SelectiveSSM& s) { return neg(exp(s.A_log)); }  // A = -exp(A_log)

}  // namespace

Tensor SelectiveSSM::forward(const Tensor& x, const Tensor& z, State* state) const {
  Projected p = project(*this, x);
  Tensor initial = state && !state->tensors.empty() ? state->tensors[0] : Tensor();
  SelectiveScanOutput r =
      selective_scan(x, p.delta, state_matrix(*this), p.B, p.C, D, z, dt_proj->bias, true, initial);
  if (state) state->tensors = {r.final_state};
  return r.out;
}

Tensor SelectiveSSM::step(const Tensor& x_t, const Tensor& z_t, State& state) const {
  NoGradGuard no_grad;
  if (state.tensors.empty())
    state.tensors = {zeros({x_t.size(0), x_t.size(1), d_state}, A_log.options())};
  Projected p = project(*this, x_t);
  return selective_scan_step(state.tensors[0], x_t, p.delta, state_matrix(*this), p.B, p.C, D, z_t,
                             dt_proj->bias, true);
}

const std::vector<std::string>& ssm_core_kinds() {
  static const std::vector<std::string> kinds = {"s6", "s4d", "s4"};
  return kinds;
}

std::unique_ptr<SSMCore> make_ssm_core(Module& owner, const std::string& kind, int64_t channels,
                                       const ModelOptions& o) {
  if (kind == "s6") return std::make_unique<SelectiveSSM>(owner, channels, o.s6);
  if (kind == "s4d") return std::make_unique<S4DCore>(owner, channels, o.s4);
  if (kind == "s4") return std::make_unique<S4Core>(owner, channels, o.s4);
  COIL_FAIL("[model] unknown ssm '{}'; allowed: {}", kind, fmt::join(ssm_core_kinds(), ", "));
}

void validate_ssm_options(const ModelOptions& o) {
  const S6Options& s6 = o.s6;
  COIL_CHECK(s6.d_state > 0 && s6.d_state <= 256, "[model] s6.d_state must lie in [1, 256], got {}",
             s6.d_state);
  COIL_CHECK(s6.dt_rank >= 0, "[model] s6.dt_rank must be >= 0 (0 = auto), got {}", s6.dt_rank);
  COIL_CHECK(s6.dt_min > 0 && s6.dt_min <= s6.dt_max,
             "[model] s6.dt_min, s6.dt_max must satisfy 0 < dt_min <= dt_max, got {}, {}",
             s6.dt_min, s6.dt_max);
  COIL_CHECK(std::find(ssm_core_kinds().begin(), ssm_core_kinds().end(), o.mamba.ssm) !=
                 ssm_core_kinds().end(),
             "[model] unknown mamba.ssm '{}'; allowed: {}", o.mamba.ssm,
             fmt::join(ssm_core_kinds(), ", "));
  COIL_CHECK(o.mamba.expand > 0, "[model] mamba.expand must be positive, got {}", o.mamba.expand);
  COIL_CHECK(o.mamba.d_conv >= 2, "[model] mamba.d_conv must be >= 2, got {}", o.mamba.d_conv);
  bool in_mamba = o.layer == "mamba" && o.mamba.ssm != "s6";
  if (o.layer == "s4" || o.layer == "s4d" || in_mamba)
    validate_s4_options(o.s4, o.layer == "s4d" || (in_mamba && o.mamba.ssm == "s4d"));
}

}  // namespace coil::nn
