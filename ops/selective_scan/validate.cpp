// Input checks of the selective scan and its step (see validate.h).
#include "ops/selective_scan/validate.h"

#include <string>
#include <utility>
#include <vector>

#include "core/elementwise.h"
#include "core/shape.h"
#include "ops/selective_scan/kernels.h"

namespace coil::scan_detail {
namespace {

using Named = std::vector<std::pair<const char*, const Tensor*>>;

std::string describe_all(const Named& all) {
  std::string s;
  for (const auto& [name, t] : all) {
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", name, t->defined() ? describe(*t) : std::string("none"));
  }
  return s;
}

// data: u, delta, z, B, C (one dtype); params: A, D, delta_bias, state (one dtype). CPU: both
// f32 or both f64. CUDA: data f32 or bf16, params f32.
void check_dtypes_devices(const char* op, const Named& data, const Named& params,
                          const Named& all) {
  const Tensor& first = *data.front().second;
  for (const auto& [name, t] : all) {
    if (!t->defined() || t->dtype() == DType::boolean) continue;
    COIL_CHECK(t->device() == first.device(), "[{}] tensors on different devices: {}", op,
               describe_all(all));
  }
  const DType dt = first.dtype(), pt = params.front().second->dtype();
  const bool cpu = first.device().is_cpu();
  const bool data_ok =
      cpu ? (dt == DType::f32 || dt == DType::f64) : (dt == DType::f32 || dt == DType::bf16);
  COIL_CHECK(data_ok, "[{}] {} must be {} on {}: {}", op, data.front().first,
             cpu ? "f32 or f64" : "f32 or bf16", cpu ? "the CPU" : "CUDA", describe_all(all));
  for (const auto& [name, t] : data)
    if (t->defined())
      COIL_CHECK(t->dtype() == dt, "[{}] {} and {} must share a dtype: {}", op, name,
                 data.front().first, describe_all(all));
  const DType want = cpu ? dt : DType::f32;
  for (const auto& [name, t] : params)
    if (t->defined())
      COIL_CHECK(t->dtype() == want && t->dtype() == pt, "[{}] {} must be {}: {}", op, name,
                 dtype_name(want), describe_all(all));
  // Devices of the boolean reset (skipped above) are checked by the caller.
}

}  // namespace

void check_scan_inputs(const char* op, const ScanArgs& a) {
  const Named all{{"u", &a.u},
                  {"delta", &a.delta},
                  {"A", &a.A},
                  {"B", &a.B},
                  {"C", &a.C},
                  {"D", &a.D},
                  {"z", &a.z},
                  {"delta_bias", &a.delta_bias},
                  {"initial_state", &a.initial_state},
                  {"reset", &a.reset}};
  auto shapes = [&] { return describe_all(all); };
  COIL_CHECK(a.u.defined() && a.delta.defined() && a.A.defined() && a.B.defined() && a.C.defined(),
             "[{}] u, delta, A, B and C are required: {}", op, shapes());
  COIL_CHECK(a.u.dim() == 3, "[{}] u must be (Bt, L, Dch): {}", op, shapes());
  const int64_t Bt = a.u.size(0), L = a.u.size(1), Dch = a.u.size(2);
  COIL_CHECK(Bt >= 1 && L >= 1 && Dch >= 1, "[{}] u has an empty dimension: {}", op, shapes());
  COIL_CHECK(a.delta.shape() == a.u.shape(), "[{}] delta must match u: {}", op, shapes());
  COIL_CHECK(!a.z.defined() || a.z.shape() == a.u.shape(), "[{}] z must match u: {}", op, shapes());
  COIL_CHECK(a.A.dim() == 2 && a.A.size(0) == Dch, "[{}] A must be (Dch, N): {}", op, shapes());
  const int64_t N = a.A.size(1);
  COIL_CHECK(N >= 1 && N <= kSelectiveScanMaxState, "[{}] N = {} must be in [1, {}]: {}", op, N,
             kSelectiveScanMaxState, shapes());
  COIL_CHECK(a.B.dim() == 4 && a.B.size(0) == Bt && a.B.size(1) == L && a.B.size(3) == N,
             "[{}] B must be (Bt, L, G, N): {}", op, shapes());
  COIL_CHECK(a.C.shape() == a.B.shape(), "[{}] C must match B: {}", op, shapes());
  const int64_t G = a.B.size(2);
  COIL_CHECK(G >= 1 && Dch % G == 0, "[{}] the group count G = {} must divide Dch = {}: {}", op, G,
             Dch, shapes());
  for (const Tensor* t : {&a.D, &a.delta_bias})
    COIL_CHECK(!t->defined() || (t->dim() == 1 && t->size(0) == Dch),
               "[{}] D and delta_bias must be (Dch): {}", op, shapes());
  COIL_CHECK(!a.initial_state.defined() || a.initial_state.shape() == Shape({Bt, Dch, N}),
             "[{}] initial_state must be (Bt, Dch, N): {}", op, shapes());
  if (a.reset.defined()) {
    COIL_CHECK(a.reset.dim() == 2 && a.reset.size(0) == Bt && a.reset.size(1) == L,
               "[{}] reset must be (Bt, L): {}", op, shapes());
    COIL_CHECK(a.reset.dtype() == DType::boolean, "[{}] reset must be bool: {}", op, shapes());
    COIL_CHECK(a.reset.device() == a.u.device(), "[{}] tensors on different devices: {}", op,
               shapes());
  }
  check_dtypes_devices(op,
                       {{"u", &a.u}, {"delta", &a.delta}, {"z", &a.z}, {"B", &a.B}, {"C", &a.C}},
                       {{"A", &a.A},
                        {"D", &a.D},
                        {"delta_bias", &a.delta_bias},
                        {"initial_state", &a.initial_state}},
                       all);
}

void check_step_inputs(const char* op, const StepArgs& a) {
  const Named all{{"state", &a.state}, {"u_t", &a.u}, {"delta_t", &a.delta},
                  {"A", &a.A},         {"B_t", &a.B}, {"C_t", &a.C},
                  {"D", &a.D},         {"z_t", &a.z}, {"delta_bias", &a.delta_bias}};
  auto shapes = [&] { return describe_all(all); };
  COIL_CHECK(a.state.defined() && a.u.defined() && a.delta.defined() && a.A.defined() &&
                 a.B.defined() && a.C.defined(),
             "[{}] state, u_t, delta_t, A, B_t and C_t are required: {}", op, shapes());
  COIL_CHECK(a.state.dim() == 3, "[{}] state must be (Bt, Dch, N): {}", op, shapes());
  const int64_t Bt = a.state.size(0), Dch = a.state.size(1), N = a.state.size(2);
  COIL_CHECK(N >= 1 && N <= kSelectiveScanMaxState, "[{}] N = {} must be in [1, {}]: {}", op, N,
             kSelectiveScanMaxState, shapes());
  for (const Tensor* t : {&a.u, &a.delta, &a.z})
    COIL_CHECK(!t->defined() || t->shape() == Shape({Bt, Dch}),
               "[{}] u_t, delta_t and z_t must be (Bt, Dch): {}", op, shapes());
  COIL_CHECK(a.A.shape() == Shape({Dch, N}), "[{}] A must be (Dch, N): {}", op, shapes());
  COIL_CHECK(a.B.dim() == 3 && a.B.size(0) == Bt && a.B.size(2) == N,
             "[{}] B_t must be (Bt, G, N): {}", op, shapes());
  COIL_CHECK(a.C.shape() == a.B.shape(), "[{}] C_t must match B_t: {}", op, shapes());
  const int64_t G = a.B.size(1);
  COIL_CHECK(G >= 1 && Dch % G == 0, "[{}] the group count G = {} must divide Dch = {}: {}", op, G,
             Dch, shapes());
  for (const Tensor* t : {&a.D, &a.delta_bias})
    COIL_CHECK(!t->defined() || (t->dim() == 1 && t->size(0) == Dch),
               "[{}] D and delta_bias must be (Dch): {}", op, shapes());
  check_dtypes_devices(
      op, {{"u_t", &a.u}, {"delta_t", &a.delta}, {"z_t", &a.z}, {"B_t", &a.B}, {"C_t", &a.C}},
      {{"A", &a.A}, {"state", &a.state}, {"D", &a.D}, {"delta_bias", &a.delta_bias}}, all);
}

}  // namespace coil::scan_detail
