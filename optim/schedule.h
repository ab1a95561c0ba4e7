// Learning-rate schedules as pure functions of the step: the factor the optimizer multiplies
// each group's base lr by (Optimizer::set_lr_factor), so a resumed run recomputes it exactly.
#pragma once
#include <cstdint>
#include <string>

namespace coil::optim {

enum class ScheduleKind : uint8_t { constant, cosine, linear };

// Step s counts updates from 0 (the first update has s = 0).
//   warmup (s < warmup_steps): (s + 1) / warmup_steps, so the last warmup step reaches 1;
//   then constant: 1;
//        cosine:   min_factor + (1 - min_factor) * (1 + cos(pi * t)) / 2,
//        linear:   min_factor + (1 - min_factor) * (1 - t),
//   with t = (s - warmup_steps) / (total_steps - warmup_steps), clamped to [0, 1], so the factor
//   stays at min_factor from total_steps on. min_factor is the final lr as a fraction of the
//   base lr (a min lr of 1e-5 with lr 1e-3 is min_factor 0.01).
struct Schedule {
  ScheduleKind kind = ScheduleKind::constant;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine and linear: > warmup_steps
  double min_factor = 0;    // in [0, 1]
};

// Throws coil::Error naming the field for an invalid schedule.
void check_schedule(const Schedule& s);
double lr_factor(const Schedule& s, int64_t step);

// "constant" / "cosine" / "linear"; throws naming the allowed values.
ScheduleKind parse_schedule_kind(const std::string& name);
const char* schedule_kind_name(ScheduleKind k);

}  // namespace coil::optim
