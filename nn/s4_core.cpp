// S4D and S4 cores: initialisation (nn/init), kernel + FFT convolution, and S4D's recurrence.
#include "nn/s4_core.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/random.h"
#include "nn/init/hippo.h"
#include "nn/init/s4d_init.h"
#include "ops/elementwise/elementwise.h"
#include "ops/fft_conv/fft_conv.h"
#include "ops/reduce/reduce.h"
#include "ops/s4_kernel/s4_kernel.h"
#include "ops/s4d_kernel/s4d_kernel.h"
#include "ops/shape/shape.h"
#include "ops/ssm_step/ssm_step.h"

namespace coil::nn {

namespace {

using cd = std::complex<double>;

// Parameters shared by both cores: log dt ~ U[log dt_min, log dt_max] per channel, C complex
// normal (each part N(0, 1/2), as torch.randn for complex), D ~ N(0, 1).
struct Common {
  Tensor log_dt, C, D;
};
Common register_common(Module& owner, int64_t H, int64_t N2, const S4Options& o, ParamHints ssm) {
  Common c;
  int64_t Cn = o.bidirectional ? 2 : 1;
  c.log_dt =
      owner.register_parameter("log_dt", uniform({H}, std::log(o.dt_min), std::log(o.dt_max)), ssm);
  c.C = owner.register_parameter("C", normal({Cn, H, N2, 2}, 0.0, std::sqrt(0.5)));
  c.D = owner.register_parameter("D", randn({H}));
  return c;
}

// Complex values repeated over H channels as (H, N2, 2) pairs, or split into two (H, N2) parts.
Tensor pairs(const std::vector<cd>& v, int64_t H) {
  std::vector<float> out;
  for (int64_t h = 0; h < H; ++h)
    for (const cd& x : v) out.insert(out.end(), {float(x.real()), float(x.imag())});
  return from_vector(out, {H, int64_t(v.size()), 2});
}
Tensor repeat_rows(const std::vector<double>& v, int64_t H) {
  std::vector<float> out;
  for (int64_t h = 0; h < H; ++h)
    for (double x : v) out.push_back(float(x));
  return from_vector(out, {H, int64_t(v.size())});
}

Tensor gate(const Tensor& y, const Tensor& z) { return z.defined() ? mul(y, silu(z)) : y; }

// Runs step() over every position: the recurrent form of forward() with a state.
Tensor forward_by_steps(const SSMCore& core, const Tensor& x, const Tensor& z, State& state) {
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < x.size(1); ++t)
    ys.push_back(core.step(select(x, 1, t), z.defined() ? select(z, 1, t) : Tensor(), state));
  return stack(ys, 1);
}

}  // namespace

S4DCore::S4DCore(Module& owner, int64_t H, const S4Options& o)
    : bilinear(o.disc == "bilinear"), bidirectional(o.bidirectional) {
  validate_s4_options(o, true);
  ParamHints ssm{o.lr, false};
  std::vector<cd> A = init::s4d_A(o.init, o.d_state);
  std::vector<double> log_re, im;
  for (const cd& a : A) log_re.push_back(std::log(-a.real())), im.push_back(a.imag());
  const int64_t N2 = int64_t(A.size());
  Common c = register_common(owner, H, N2, o, ssm);
  log_dt = c.log_dt;
  log_A_real = owner.register_parameter("log_A_real", repeat_rows(log_re, H), ssm);
  A_imag = owner.register_parameter("A_imag", repeat_rows(im, H), ssm);
  B = owner.register_parameter("B", pairs(std::vector<cd>(size_t(N2), cd(1, 0)), H), ssm);
  C = c.C;
  D = c.D;
}

Tensor S4DCore::forward(const Tensor& x, const Tensor& z, State* state) const {
  if (state) return forward_by_steps(*this, x, z, *state);
  Tensor K = s4d_kernel(log_dt, neg(exp(log_A_real)), A_imag, B, C, x.size(1),
                        bilinear ? SsmDisc::bilinear : SsmDisc::zoh);
  return gate(fft_conv(x, K, D, bidirectional), z);
}

Tensor S4DCore::step(const Tensor& x_t, const Tensor& z_t, State& state) const {
  COIL_CHECK(!bidirectional,
             "[S4D] a bidirectional layer has no recurrent form (step or "
             "forward with a state)");
  NoGradGuard no_grad;
  if (state.tensors.empty()) {  // discretise once: {x (B, H, N2, 2), Abar, Bbar, C}
    SsmStepParams d = s4d_step_params(log_dt, neg(exp(log_A_real)), A_imag, B, C,
                                      bilinear ? SsmDisc::bilinear : SsmDisc::zoh);
    state.tensors = {zeros({x_t.size(0), A_imag.size(0), A_imag.size(1), 2}, x_t.options()), d.Abar,
                     d.Bbar, d.C};
  }
  auto& s = state.tensors;
  auto [y, next] = s4d_step(s[0], x_t, s[1], s[2], s[3], D);
  s[0] = next;
  return gate(y, z_t);
}

S4Core::S4Core(Module& owner, int64_t H, const S4Options& o)
    : bidirectional(o.bidirectional), l_max(o.l_max) {
  validate_s4_options(o, false);
  ParamHints ssm{o.lr, false};
  init::Nplr nplr = init::nplr(o.init, o.d_state);
  const int64_t N2 = nplr.N2;
  std::vector<double> log_re, im;
  // Re W = 0 (FouT) would make log(-Re W) infinite and the Cauchy sums singular at omega = 1:
  // clamp to -1e-4 as the S4 code base does.
  for (const cd& w : nplr.W)
    log_re.push_back(std::log(std::max(-w.real(), 1e-4))), im.push_back(w.imag());
  Common c = register_common(owner, H, N2, o, ssm);
  log_dt = c.log_dt;
  log_W_real = owner.register_parameter("log_W_real", repeat_rows(log_re, H), ssm);
  W_imag = owner.register_parameter("W_imag", repeat_rows(im, H), ssm);
  std::vector<Tensor> ranks;
  for (int r = 0; r < nplr.rank; ++r)
    ranks.push_back(
        pairs(std::vector<cd>(nplr.P.begin() + r * N2, nplr.P.begin() + (r + 1) * N2), H));
  P = owner.register_parameter("P", core::contiguous(stack(ranks, 0)), ssm);
  B = owner.register_parameter("B", pairs(nplr.B, H), ssm);
  C = c.C;
  D = c.D;
}

Tensor S4Core::forward(const Tensor& x, const Tensor& z, State* state) const {
  if (state) return forward_by_steps(*this, x, z, *state);
  Tensor K = s4_kernel(log_dt, neg(exp(log_W_real)), W_imag, P, B, C, x.size(1));
  return gate(fft_conv(x, K, D, bidirectional), z);
}

Tensor S4Core::step(const Tensor& x_t, const Tensor& z_t, State& state) const {
  COIL_CHECK(!bidirectional,
             "[S4] a bidirectional layer has no recurrent form (step or "
             "forward with a state)");
  COIL_CHECK(l_max > 0,
             "[S4] the recurrent form needs s4.l_max, the length whose kernel it "
             "reproduces (C is recovered from C~ at that length), got {}",
             l_max);
  NoGradGuard no_grad;
  if (state.tensors.empty()) {  // discretise once: {s (B, H, N), Abar, Bbar, C}
    SsmStepParams d = s4_step_params(log_dt, neg(exp(log_W_real)), W_imag, P, B, C, l_max);
    state.tensors = {zeros({x_t.size(0), W_imag.size(0), 2 * W_imag.size(1)}, x_t.options()),
                     d.Abar, d.Bbar, d.C};
  }
  auto& s = state.tensors;
  auto [y, next] = ssm_step(s[0], x_t, s[1], s[2], s[3], D);
  s[0] = next;
  return gate(y, z_t);
}

void validate_s4_options(const S4Options& o, bool diagonal) {
  COIL_CHECK(o.d_state > 0 && o.d_state % 2 == 0,
             "[model] s4.d_state must be even and positive (N/2 conjugate pairs), got {}",
             o.d_state);
  const auto& inits = diagonal ? init::s4d_inits() : init::hippo_measures();
  COIL_CHECK(std::find(inits.begin(), inits.end(), o.init) != inits.end(),
             "[model] unknown s4.init '{}' for {}; allowed: {}", o.init, diagonal ? "s4d" : "s4",
             fmt::join(inits, ", "));
  COIL_CHECK(o.disc == "zoh" || o.disc == "bilinear",
             "[model] unknown s4.disc '{}'; allowed: zoh, bilinear", o.disc);
  COIL_CHECK(o.dt_min > 0 && o.dt_min <= o.dt_max,
             "[model] s4.dt_min, s4.dt_max must satisfy 0 < dt_min <= dt_max, got {}, {}", o.dt_min,
             o.dt_max);
  COIL_CHECK(o.lr > 0, "[model] s4.lr must be positive, got {}", o.lr);
  COIL_CHECK(o.l_max >= 0, "[model] s4.l_max must be >= 0 (0: no recurrent form), got {}", o.l_max);
}

}  // namespace coil::nn
