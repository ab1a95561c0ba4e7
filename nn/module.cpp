// nn::Module: registration, hierarchical traversal, state dicts and in-place device moves.
#include "nn/module.h"

#include <set>

#include "autograd/autograd.h"
#include "core/copy.h"

namespace coil::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Points the handle t at `moved`'s data (same handle, so every holder of t sees the move). A
// parameter stays a leaf that requires grad; its old gradient is dropped.
void replace_in_place(const Tensor& t, const Tensor& moved) {
  if (moved.is_same(t)) return;
  bool wants_grad = requires_grad(t);
  TensorImpl& impl = t.impl();
  impl.shape = moved.shape();
  impl.strides = moved.strides();
  impl.offset = moved.offset();
  impl.dtype = moved.dtype();
  impl.device = moved.device();
  impl.storage = moved.storage();
  impl.autograd.reset();
  if (wants_grad) set_requires_grad(t);
}

}  // namespace

template <class F>
void Module::visit(const std::string& prefix, F&& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(join(prefix, name), f);
}

void Module::check_new_name(const std::string& name) const {
  COIL_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "[{}] a parameter, buffer or child name must be non-empty and contain no '.', got "
             "'{}'",
             type_name_, name);
  bool taken = false;
  for (const auto& p : params_) taken |= p.name == name;
  for (const auto& b : buffers_) taken |= b.first == name;
  for (const auto& c : children_) taken |= c.first == name;
  COIL_CHECK(!taken, "[{}] the name '{}' is already registered", type_name_, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor t, ParamHints hints) {
  check_new_name(name);
  COIL_CHECK(t.defined() && is_floating(t.dtype()),
             "[{}] parameter '{}' must be a defined floating tensor", type_name_, name);
  if (!requires_grad(t)) set_requires_grad(t);
  params_.push_back({name, t, hints});
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  COIL_CHECK(t.defined(), "[{}] buffer '{}' is undefined", type_name_, name);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name);
  COIL_CHECK(m != nullptr, "[{}] child module '{}' is null", type_name_, name);
  children_.emplace_back(name, std::move(m));
}

std::vector<NamedParameter> Module::named_parameters() const {
  std::vector<NamedParameter> out;
  std::set<const TensorImpl*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.params_)
      if (seen.insert(&p.tensor.impl()).second)
        out.push_back({join(prefix, p.name), p.tensor, p.hints});
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& p : named_parameters()) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.buffers_) out.emplace_back(join(prefix, name), t);
  });
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : named_parameters()) n += p.tensor.numel();
  return n;
}

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& p : m.params_) out[join(prefix, p.name)] = p.tensor;
    for (const auto& [name, t] : m.buffers_) out[join(prefix, name)] = t;
  });
  return out;
}

void Module::load_state_dict(const StateDict& state) {
  StateDict mine = state_dict();
  for (const auto& [key, want] : mine) {
    auto it = state.find(key);
    COIL_CHECK(it != state.end(), "[load_state_dict] {}: missing key '{}' (expected {} {})",
               type_name_, key, dtype_name(want.dtype()), shape_str(want.shape()));
    const Tensor& got = it->second;
    COIL_CHECK(got.defined(), "[load_state_dict] {}: key '{}' holds an undefined tensor",
               type_name_, key);
    COIL_CHECK(got.shape() == want.shape(),
               "[load_state_dict] {}: key '{}' has shape {} in the state dict but {} in the "
               "module",
               type_name_, key, shape_str(got.shape()), shape_str(want.shape()));
    COIL_CHECK(got.dtype() == want.dtype(),
               "[load_state_dict] {}: key '{}' has dtype {} in the state dict but {} in the "
               "module (shape {} in both)",
               type_name_, key, dtype_name(got.dtype()), dtype_name(want.dtype()),
               shape_str(want.shape()));
  }
  for (const auto& [key, got] : state)
    COIL_CHECK(mine.count(key),
               "[load_state_dict] {}: unexpected key '{}' ({} {}) in the state "
               "dict; the module has no such parameter or buffer",
               type_name_, key, got.defined() ? dtype_name(got.dtype()) : "undefined",
               got.defined() ? shape_str(got.shape()) : "()");
  NoGradGuard no_grad;
  for (const auto& [key, dst] : mine) core::copy_(dst, state.at(key));
}

void Module::train(bool on) {
  visit("", [&](const std::string&, const Module& m) { const_cast<Module&>(m).training_ = on; });
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  visit("", [&](const std::string&, const Module& m) {
    for (const auto& p : m.params_) replace_in_place(p.tensor, core::to(p.tensor, device));
    for (const auto& [name, t] : m.buffers_) replace_in_place(t, core::to(t, device));
  });
}

void Module::to(DType dtype) {
  COIL_CHECK(is_floating(dtype), "[{}] to(dtype) needs a floating dtype, got {}", type_name_,
             dtype_name(dtype));
  NoGradGuard no_grad;
  visit("", [&](const std::string&, const Module& m) {
    for (const auto& p : m.params_) replace_in_place(p.tensor, core::to(p.tensor, dtype));
    for (const auto& [name, t] : m.buffers_)
      if (is_floating(t.dtype())) replace_in_place(t, core::to(t, dtype));
  });
}

void Module::zero_grad() {
  for (const auto& p : named_parameters()) coil::zero_grad(p.tensor);
}

}  // namespace coil::nn
