// Optimizer front end: validates groups and hyperparameters, keeps per-parameter state and step
// counts, forms each step's scalars on the host and hands every parameter to one multi-tensor
// kernel per (device, dtype).
#include "optim/optimizer.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/factory.h"
#include "optim/kernels.h"

namespace coil::optim {
namespace {

constexpr const char* kOp = "Optimizer";

// `where` says which group's resolved hyperparameters are checked ("" for the defaults).
void check_hyper(const Hyper& h, const std::string& where) {
  auto nonneg = [&](const char* field, double v) {
    COIL_CHECK(std::isfinite(v) && v >= 0, "[{}] {} must be a finite number >= 0, got {}{}", kOp,
               field, v, where);
  };
  nonneg("lr", h.lr);
  nonneg("weight_decay", h.weight_decay);
  nonneg("eps", h.eps);
  nonneg("momentum", h.momentum);
  nonneg("dampening", h.dampening);
  for (auto [field, v] : {std::pair{"beta1", h.beta1}, std::pair{"beta2", h.beta2}})
    COIL_CHECK(v >= 0 && v < 1, "[{}] {} must be in [0, 1), got {}{}", kOp, field, v, where);
  COIL_CHECK(!h.nesterov || (h.momentum > 0 && h.dampening == 0),
             "[{}] nesterov needs momentum > 0 and dampening 0, got momentum {} and dampening "
             "{}{}",
             kOp, h.momentum, h.dampening, where);
}

}  // namespace

const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::sgd:
      return "sgd";
    case Algorithm::adam:
      return "adam";
    case Algorithm::adamw:
      return "adamw";
  }
  return "?";
}

Algorithm parse_algorithm(const std::string& name) {
  for (Algorithm a : {Algorithm::sgd, Algorithm::adam, Algorithm::adamw})
    if (name == algorithm_name(a)) return a;
  COIL_FAIL("[{}] unknown optimizer \"{}\" (allowed: sgd, adam, adamw)", kOp, name);
}

Optimizer::Optimizer(Algorithm algorithm, std::vector<ParamGroup> groups, Hyper hyper)
    : algorithm_(algorithm) {
  check_hyper(hyper, "");
  std::set<std::string> names;
  std::set<const TensorImpl*> seen;
  size_t index = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const ParamGroup& g = groups[gi];
    Hyper h = hyper;
    h.lr = g.lr.value_or(h.lr);
    h.weight_decay = g.weight_decay.value_or(h.weight_decay);
    h.beta1 = g.beta1.value_or(h.beta1);
    h.beta2 = g.beta2.value_or(h.beta2);
    h.eps = g.eps.value_or(h.eps);
    h.momentum = g.momentum.value_or(h.momentum);
    h.dampening = g.dampening.value_or(h.dampening);
    h.nesterov = g.nesterov.value_or(h.nesterov);
    check_hyper(h, fmt::format(" in parameter group {}", gi));
    groups_.push_back(h);
    COIL_CHECK(g.names.empty() || g.names.size() == g.params.size(),
               "[{}] group {} has {} parameters but {} names", kOp, gi, g.params.size(),
               g.names.size());
    for (size_t i = 0; i < g.params.size(); ++i, ++index) {
      const Tensor& t = g.params[i];
      std::string name = g.names.empty() ? std::to_string(index) : g.names[i];
      COIL_CHECK(!name.empty(), "[{}] group {} parameter {} has an empty name", kOp, gi, i);
      COIL_CHECK(names.insert(name).second, "[{}] parameter name '{}' appears twice", kOp, name);
      COIL_CHECK(t.defined(), "[{}] parameter '{}' is undefined", kOp, name);
      COIL_CHECK(seen.insert(t.impl_ptr().get()).second,
                 "[{}] parameter '{}' is the same tensor as an earlier parameter", kOp, name);
      COIL_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64,
                 "[{}] parameter '{}' must be f32 or f64, got {}", kOp, name, describe(t));
      COIL_CHECK(t.is_contiguous(), "[{}] parameter '{}' must be contiguous: {}", kOp, name,
                 describe(t));
      params_.push_back({std::move(name), t, gi, 0, {}});
    }
  }
}

std::vector<std::string> Optimizer::fields(const Param& p) const {
  if (algorithm_ != Algorithm::sgd) return {"exp_avg", "exp_avg_sq"};
  if (groups_[p.group].momentum != 0) return {"momentum_buffer"};
  return {};
}

void Optimizer::set_lr_factor(double factor) {
  COIL_CHECK(std::isfinite(factor) && factor >= 0, "[{}] lr factor must be finite and >= 0, got {}",
             kOp, factor);
  lr_factor_ = factor;
}

void Optimizer::step(const Tensor& skip) {
  NoGradGuard no_grad;
  COIL_CHECK(
      !skip.defined() || (skip.dtype() == DType::i64 && skip.numel() >= 1 && skip.is_contiguous()),
      "[{}] skip must be an i64 flag, got {}", kOp, skip.defined() ? describe(skip) : "");
  std::vector<size_t> counted;
  struct Bucket {
    Device device;
    DType dtype;
    std::vector<TensorUpdate> list;
  };
  std::vector<Bucket> buckets;
  std::vector<Tensor> keep_alive;  // contiguous copies of strided gradients, until the launch
  for (size_t pi = 0; pi < params_.size(); ++pi) {
    Param& p = params_[pi];
    Tensor g = grad(p.tensor);
    if (!g.defined()) continue;
    COIL_CHECK(!skip.defined() || skip.device() == p.tensor.device(),
               "[{}] skip is on {} but parameter '{}' is on {}", kOp, skip.device().str(), p.name,
               p.tensor.device().str());
    COIL_CHECK(g.shape() == p.tensor.shape() && g.dtype() == p.tensor.dtype() &&
                   g.device() == p.tensor.device(),
               "[{}] gradient of '{}' is {}, the parameter is {}", kOp, p.name, describe(g),
               describe(p.tensor));
    if (!g.is_contiguous()) keep_alive.push_back(g = core::contiguous(g));

    StepScalars s;
    s.hyper = groups_[p.group];
    s.hyper.lr *= lr_factor_;
    if (algorithm_ == Algorithm::sgd) {
      s.first = !p.buf[0].defined();
      if (s.hyper.momentum != 0 && s.first) p.buf[0] = empty_like(p.tensor);
    } else if (!p.buf[0].defined()) {
      p.buf[0] = zeros_like(p.tensor);
      p.buf[1] = zeros_like(p.tensor);
    }
    ++p.step;
    counted.push_back(pi);
    s.step_size = s.hyper.lr / (1.0 - std::pow(s.hyper.beta1, double(p.step)));
    s.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(s.hyper.beta2, double(p.step)));

    auto it = std::find_if(buckets.begin(), buckets.end(), [&](const Bucket& b) {
      return b.device == p.tensor.device() && b.dtype == p.tensor.dtype();
    });
    if (it == buckets.end()) it = buckets.insert(buckets.end(), {p.tensor.device(), g.dtype(), {}});
    it->list.push_back({p.tensor.data_ptr(), g.data_ptr(),
                        p.buf[0].defined() ? p.buf[0].data_ptr() : nullptr,
                        p.buf[1].defined() ? p.buf[1].data_ptr() : nullptr, p.tensor.numel(), s});
  }
  const int64_t* skip_ptr = skip.defined() ? skip.data<int64_t>() : nullptr;
  for (const Bucket& b : buckets)
    COIL_DEVICE_CALL(kOp, b.device, optim_update, b.dtype, b.device, algorithm_, b.list, skip_ptr);
  history_.push_back(std::move(counted));
  if (history_.size() > kHistory) history_.pop_front();
}

void Optimizer::uncount_steps(int64_t n) {
  COIL_CHECK(n >= 0 && size_t(n) <= history_.size(),
             "[{}] cannot uncount {} steps: only the last {} are remembered", kOp, n,
             history_.size());
  for (; n > 0; --n) {
    for (size_t pi : history_.back()) {
      Param& p = params_[pi];
      if (--p.step == 0) p.buf[0] = p.buf[1] = Tensor();
    }
    history_.pop_back();
  }
}

void Optimizer::zero_grad() {
  for (const Param& p : params_) coil::zero_grad(p.tensor);
}

std::vector<Tensor> Optimizer::params() const {
  std::vector<Tensor> out;
  for (const Param& p : params_) out.push_back(p.tensor);
  return out;
}

std::vector<std::string> Optimizer::names() const {
  std::vector<std::string> out;
  for (const Param& p : params_) out.push_back(p.name);
  return out;
}

int64_t Optimizer::step_count(const std::string& name) const {
  for (const Param& p : params_)
    if (p.name == name) return p.step;
  COIL_FAIL("[{}] no parameter named '{}'", kOp, name);
}

TensorDict Optimizer::state_dict() const {
  TensorDict out;
  for (const Param& p : params_) {
    if (p.step == 0) continue;
    const std::string prefix = "state." + p.name + ".";
    out[prefix + "step"] = from_vector<int64_t>({p.step});
    const std::vector<std::string> f = fields(p);
    for (size_t j = 0; j < f.size(); ++j) out[prefix + f[j]] = p.buf[j];
  }
  return out;
}

void Optimizer::load_state_dict(const TensorDict& state) {
  const std::string op = "Optimizer.load_state_dict";
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].name] = i;

  // Everything is checked before anything changes, so a refused load leaves the state intact.
  struct Pending {
    int64_t step = 0;
    std::map<std::string, Tensor> fields;
  };
  std::map<size_t, Pending> pending;
  for (const auto& [key, t] : state) {
    const std::string prefix = "state.";
    const size_t dot = key.rfind('.');
    COIL_CHECK(key.rfind(prefix, 0) == 0 && dot != std::string::npos && dot > prefix.size(),
               "[{}] unexpected key '{}' (keys are state.<parameter>.<field>)", op, key);
    const std::string name = key.substr(prefix.size(), dot - prefix.size());
    const std::string f = key.substr(dot + 1);
    auto it = index.find(name);
    COIL_CHECK(it != index.end(), "[{}] unexpected key '{}': no parameter named '{}'", op, key,
               name);
    COIL_CHECK(t.defined(), "[{}] key '{}' holds an undefined tensor", op, key);
    const Param& p = params_[it->second];
    Pending& pend = pending[it->second];
    if (f == "step") {
      COIL_CHECK(t.numel() == 1, "[{}] key '{}' must hold one value, got shape {}", op, key,
                 shape_str(t.shape()));
      double v = t.item<double>();
      COIL_CHECK(v >= 1 && v == std::floor(v) && v < 9.0e15,
                 "[{}] key '{}' must be a positive whole step count, got {}", op, key, v);
      pend.step = int64_t(v);
      continue;
    }
    const std::vector<std::string> wanted = fields(p);
    COIL_CHECK(std::find(wanted.begin(), wanted.end(), f) != wanted.end(),
               "[{}] unexpected key '{}': {} (momentum {}) keeps {}", op, key,
               algorithm_name(algorithm_), groups_[p.group].momentum,
               wanted.empty() ? std::string("only step")
                              : fmt::format("step, {}", fmt::join(wanted, ", ")));
    COIL_CHECK(t.shape() == p.tensor.shape(),
               "[{}] key '{}' has shape {} but parameter '{}' has shape {}", op, key,
               shape_str(t.shape()), p.name, shape_str(p.tensor.shape()));
    COIL_CHECK(t.dtype() == p.tensor.dtype(),
               "[{}] key '{}' has dtype {} but parameter '{}' has dtype {}", op, key,
               dtype_name(t.dtype()), p.name, dtype_name(p.tensor.dtype()));
    pend.fields[f] = t;
  }
  for (const auto& [i, pend] : pending) {
    const std::string prefix = "state." + params_[i].name + ".";
    COIL_CHECK(pend.step > 0, "[{}] missing key '{}step'", op, prefix);
    for (const std::string& f : fields(params_[i]))
      COIL_CHECK(pend.fields.count(f), "[{}] missing key '{}{}'", op, prefix, f);
  }

  NoGradGuard no_grad;
  history_.clear();
  for (Param& p : params_) {
    p.step = 0;
    p.buf[0] = p.buf[1] = Tensor();
  }
  for (const auto& [i, pend] : pending) {
    Param& p = params_[i];
    p.step = pend.step;
    const std::vector<std::string> wanted = fields(p);
    for (size_t j = 0; j < wanted.size(); ++j) {
      p.buf[j] = empty_like(p.tensor);  // a copy: never aliases the caller's tensors
      core::copy_(p.buf[j], pend.fields.at(wanted[j]));
    }
  }
}

}  // namespace coil::optim
