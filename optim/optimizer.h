// Optimizers over parameter groups (never modules): SGD (momentum, dampening, Nesterov), Adam
// (weight decay as L2 on the gradient) and AdamW (decoupled decay), with PyTorch's update rules.
// One step is one multi-tensor launch per (device, dtype) on CUDA and one OpenMP loop on the CPU.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/safetensors.h"  // TensorDict
#include "optim/update_math.h"

namespace coil::optim {

// Defaults for every group; a group may override lr and weight_decay. PyTorch's defaults: Adam
// and SGD weight_decay 0, AdamW 0.01 (set it explicitly; here it is 0 for all).
struct Hyper {
  double lr = 1e-3;
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double momentum = 0, dampening = 0;             // SGD
  bool nesterov = false;                          // SGD; needs momentum > 0 and dampening 0
};

struct ParamGroup {
  std::vector<Tensor> params;      // leaves that require grad; f32 or f64, contiguous
  std::vector<std::string> names;  // one per param (state_dict keys), or empty: the index of
                                   // the parameter over all groups ("0", "1", ...)
  std::optional<double> lr;        // unset: Hyper::lr
  std::optional<double> weight_decay;
};

class Optimizer {
 public:
  // Throws coil::Error for bad hyperparameters (naming the field and value), repeated
  // parameters or names, and non-floating or non-contiguous parameters.
  Optimizer(Algorithm algorithm, std::vector<ParamGroup> groups, Hyper hyper = {});

  // One update of every parameter that has a gradient (others are skipped and keep their step
  // count, as in PyTorch). Runs under NoGradGuard and never records autograd. No host sync.
  void step();
  void zero_grad();  // drops every parameter's gradient

  // Schedules: the lr of group g becomes base_lr(g) * factor from the next step() on.
  void set_lr_factor(double factor);
  double lr_factor() const { return lr_factor_; }
  double base_lr(size_t group) const { return groups_.at(group).lr; }
  double lr(size_t group) const { return base_lr(group) * lr_factor_; }

  Algorithm algorithm() const { return algorithm_; }
  const Hyper& hyper() const { return hyper_; }
  size_t num_groups() const { return groups_.size(); }
  std::vector<Tensor> params() const;                 // every parameter, group by group
  std::vector<std::string> names() const;             // their names, in the same order
  int64_t step_count(const std::string& name) const;  // updates so far of that parameter

  // Named tensors: "state.<name>.step" (i64, 0-dim), "state.<name>.exp_avg" and
  // ".exp_avg_sq" (Adam, AdamW), "state.<name>.momentum_buffer" (SGD with momentum); only
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
  struct Group {
    double lr, weight_decay;
  };
  std::vector<std::string> fields() const;  // state fields besides "step", in buf[] order

  Algorithm algorithm_;
  Hyper hyper_;
  double lr_factor_ = 1;
  std::vector<Group> groups_;
  std::vector<Param> params_;
};

// Parses "sgd" / "adam" / "adamw"; throws naming the allowed values.
Algorithm parse_algorithm(const std::string& name);
const char* algorithm_name(Algorithm a);

}  // namespace coil::optim
