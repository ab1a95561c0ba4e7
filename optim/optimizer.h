// Optimizers over parameter groups (never modules): SGD (momentum, dampening, Nesterov), Adam
// (weight decay as L2 on the gradient) and AdamW (decoupled decay), with PyTorch's update rules.
// One step is one multi-tensor launch per (device, dtype) on CUDA and one OpenMP loop on the CPU.
#pragma once
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"  // TensorDict
#include "optim/update_math.h"

namespace coil::optim {

struct ParamGroup {
  std::vector<Tensor> params = {};      // leaves that require grad; f32 or f64, contiguous
  std::vector<std::string> names = {};  // one per param (state_dict keys), or empty: the index
                                        // of the parameter over all groups ("0", "1", ...)
  // Unset fields take the optimizer's Hyper (e.g. own lr, weight_decay 0 for SSM parameters).
  std::optional<double> lr = {}, weight_decay = {}, beta1 = {}, beta2 = {}, eps = {}, momentum = {},
                        dampening = {};
  std::optional<bool> nesterov = {};
};

class Optimizer {
 public:
  // Throws coil::Error for bad hyperparameters (naming the field and value), repeated
  // parameters or names, and non-floating or non-contiguous parameters.
  Optimizer(Algorithm algorithm, std::vector<ParamGroup> groups, Hyper hyper = {});

  // One update of every parameter that has a gradient (others are skipped and keep their step
  // count, as in PyTorch). Runs under NoGradGuard and never records autograd. No host sync.
  // `skip` (optional: optim/nonfinite.h's flag, or any i64 tensor on the parameters' device) is
  // read by the kernels: while its first element is nonzero no parameter or buffer changes. The
  // host cannot see that, so step counts still advance: uncount_steps() takes them back.
  void step(const Tensor& skip = Tensor());
  // Undoes the step counts of the last n step() calls (at most kHistory), for updates the device
  // skipped; a parameter back at 0 steps drops its state, as if never updated.
  void uncount_steps(int64_t n);
  static constexpr size_t kHistory = 8;
  void zero_grad();  // drops every parameter's gradient

  // Schedules: the lr of group g becomes base_lr(g) * factor from the next step() on.
  void set_lr_factor(double factor);
  double lr_factor() const { return lr_factor_; }
  double base_lr(size_t group) const { return groups_.at(group).lr; }
  const Hyper& group_hyper(size_t group) const { return groups_.at(group); }  // resolved
  double lr(size_t group) const { return base_lr(group) * lr_factor_; }

  Algorithm algorithm() const { return algorithm_; }
  size_t num_groups() const { return groups_.size(); }
  std::vector<Tensor> params() const;                 // every parameter, group by group
  std::vector<std::string> names() const;             // their names, in the same order
  int64_t step_count(const std::string& name) const;  // updates so far of that parameter

  // Named tensors: "state.<name>.step" (i64, 0-dim), "state.<name>.exp_avg" and
  // ".exp_avg_sq" (Adam, AdamW), "state.<name>.momentum_buffer" (SGD, groups with momentum); only
  // parameters updated at least once have state. The tensors are the live buffers, not copies.
  TensorDict state_dict() const;
  // Replaces all state. Strict: a key for an unknown parameter or field, a field that does not
  // belong to this algorithm, a missing field of a parameter that has state, or a mis-shaped,
  // mis-typed or non-positive step throws coil::Error naming the key (and both shapes).
  // Values are copied onto the parameters' devices.
  void load_state_dict(const TensorDict& state);

 private:
  struct Param {
    std::string name;
    Tensor tensor;
    size_t group;
    int64_t step = 0;
    Tensor buf[2];  // the fields() in order: buf1 and buf2 of TensorUpdate
  };
  // State fields of a parameter besides "step", in buf[] order.
  std::vector<std::string> fields(const Param& p) const;

  Algorithm algorithm_;
  double lr_factor_ = 1;
  std::vector<Hyper> groups_;
  std::vector<Param> params_;
  std::deque<std::vector<size_t>> history_;  // params_ indices each recent step() counted
};

// Parses "sgd" / "adam" / "adamw"; throws naming the allowed values.
Algorithm parse_algorithm(const std::string& name);
const char* algorithm_name(Algorithm a);

}  // namespace coil::optim
