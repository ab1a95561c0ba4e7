// Learning-rate schedule factors (see schedule.h for the formulas).
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace coil::optim {

const char* schedule_kind_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant:
      return "constant";
    case ScheduleKind::cosine:
      return "cosine";
    case ScheduleKind::linear:
      return "linear";
  }
  return "?";
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::constant, ScheduleKind::cosine, ScheduleKind::linear})
    if (name == schedule_kind_name(k)) return k;
  COIL_FAIL("[schedule] unknown schedule \"{}\" (allowed: constant, cosine, linear)", name);
}

void check_schedule(const Schedule& s) {
  COIL_CHECK(s.warmup_steps >= 0, "[schedule] warmup_steps must be >= 0, got {}", s.warmup_steps);
  COIL_CHECK(s.min_factor >= 0 && s.min_factor <= 1,
             "[schedule] min_factor must be in [0, 1], got {}", s.min_factor);
  COIL_CHECK(s.kind == ScheduleKind::constant || s.total_steps > s.warmup_steps,
             "[schedule] {} needs total_steps > warmup_steps, got total_steps {} and "
             "warmup_steps {}",
             schedule_kind_name(s.kind), s.total_steps, s.warmup_steps);
}

double lr_factor(const Schedule& s, int64_t step) {
  check_schedule(s);
  COIL_CHECK(step >= 0, "[schedule] step must be >= 0, got {}", step);
  if (step < s.warmup_steps) return double(step + 1) / double(s.warmup_steps);
  if (s.kind == ScheduleKind::constant) return 1.0;
  double t = double(step - s.warmup_steps) / double(s.total_steps - s.warmup_steps);
  t = std::clamp(t, 0.0, 1.0);
  double shape =
      s.kind == ScheduleKind::cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * t)) : 1.0 - t;
  return s.min_factor + (1.0 - s.min_factor) * shape;
}

}  // namespace coil::optim
