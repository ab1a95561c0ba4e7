// nn::Module: a tree of modules owning named parameters and buffers, with hierarchical names
// ("layers.0.mixer.A_log"), strict state-dict loading, train/eval and device/dtype moves.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace coil::nn {

// What the S4 and Mamba code bases attach to SSM parameters; train/ turns these into optimizer
// parameter groups (optim never sees modules).
struct ParamHints {
  std::optional<double> lr;  // own learning rate (e.g. 1e-3 for S4's dt, A, B, P), else the global
  bool weight_decay = true;  // false: excluded from weight decay (SSM params, norms, biases)
};
inline const ParamHints kNoWeightDecay{std::nullopt, false};

struct NamedParameter {
  std::string name;
  Tensor tensor;
  ParamHints hints;
};

// Parameters and buffers by full name. Tied tensors appear once under each of their names.
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // Registration order, depth first; a tensor registered under several names (a tied LM head)
  // is listed once, under its first name.
  std::vector<NamedParameter> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }
  int64_t num_parameters() const;  // elements, tied tensors counted once

  StateDict state_dict() const;
  // Strict: every key of state_dict() must be present with the same shape and dtype, and no
  // other key may appear; otherwise coil::Error names the key (and both shapes / dtypes) before
  // anything is written. Values are copied into the existing tensors (identity is kept, so an
  // optimizer holding them stays valid); any device is accepted.
  void load_state_dict(const StateDict& state);

  // train() turns dropout on and batch norm to batch statistics, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every parameter and buffer in place (each handle keeps its identity; gradients are
  // dropped). to(dtype) converts floating tensors only (integer buffers stay).
  void to(Device device);
  void to(DType dtype);
  void zero_grad();

  // Public as in PyTorch: an SSM core registers its parameters on the block that owns it, so
  // they carry mamba_ssm's names (mixer.A_log, not mixer.ssm.A_log).
  // Marks t as a parameter (requires grad) and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor t, ParamHints hints = {});
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  struct Param {
    std::string name;
    Tensor tensor;
    ParamHints hints;
  };
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name) const;
  template <class F>
  void visit(const std::string& prefix, F&& f) const;  // f(prefix, module) depth first

  std::string type_name_;
  std::vector<Param> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace coil::nn
