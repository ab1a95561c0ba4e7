// Autograd metadata on tensors, grad mode, and op recording.
#include "autograd/autograd.h"

#include "core/elementwise.h"

namespace coil {
namespace {

thread_local bool g_grad_enabled = true;

AutogradMeta* meta(const Tensor& t) { return t.defined() ? t.impl().autograd.get() : nullptr; }

AutogradMeta& ensure_meta(const Tensor& t) {
  auto& m = t.impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}

TensorMeta meta_of(const Tensor& t) { return {t.shape(), t.dtype(), t.device()}; }

// The edge through which gradient flows back into t: its producing node, or its leaf accumulator.
Edge edge_to(const Tensor& t) {
  AutogradMeta* m = meta(t);
  if (!m || !m->requires_grad) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  if (!m->accumulator) {
    m->accumulator = std::make_shared<Node>();
    m->accumulator->name = "accumulate_grad";
    m->accumulator->is_accumulator = true;
    m->accumulator->outputs = {meta_of(t)};
    m->accumulator->leaf = t.impl_ptr();
  }
  return {m->accumulator, 0};
}

}  // namespace

Node::~Node() {
  // Dropping the last reference to a node drops its inputs' nodes, and so on down the graph.
  // Collect sole-owned children on a thread-local stack and release them in a loop instead.
  thread_local std::vector<std::shared_ptr<Node>> to_release;
  thread_local bool draining = false;
  for (Edge& e : next)
    if (e.fn && e.fn.use_count() == 1) to_release.push_back(std::move(e.fn));
  if (draining) return;
  draining = true;
  while (!to_release.empty()) {
    std::shared_ptr<Node> n = std::move(to_release.back());
    to_release.pop_back();
    n.reset();  // may push n's own children
  }
  draining = false;
}

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
bool grad_mode_enabled() { return g_grad_enabled; }

bool requires_grad(const Tensor& t) {
  AutogradMeta* m = meta(t);
  return m && m->requires_grad;
}

bool is_leaf(const Tensor& t) {
  AutogradMeta* m = meta(t);
  return !m || !m->grad_fn;
}

const Tensor& set_requires_grad(const Tensor& t, bool on) {
  COIL_CHECK(t.defined(), "[requires_grad] undefined tensor");
  COIL_CHECK(is_leaf(t), "[requires_grad] can only be set on leaf tensors; {} was produced by {}",
             describe(t), meta(t)->grad_fn->name);
  COIL_CHECK(!on || is_floating(t.dtype()),
             "[requires_grad] only floating tensors can require grad, got {}", describe(t));
  if (on || meta(t)) ensure_meta(t).requires_grad = on;
  return t;
}

Tensor grad(const Tensor& t) {
  AutogradMeta* m = meta(t);
  return m ? m->grad : Tensor();
}

void zero_grad(const Tensor& t) {
  if (AutogradMeta* m = meta(t)) m->grad = Tensor();
}

void set_grad(const Tensor& t, const Tensor& g) {
  COIL_CHECK(!g.defined() || (g.shape() == t.shape() && g.device() == t.device()),
             "[set_grad] gradient {} does not match tensor {}", describe(g), describe(t));
  ensure_meta(t).grad = g;
}

Tensor detach(const Tensor& t) {
  // Always a new handle, even for a tensor with no history yet: a backward closure capturing
  // detach(out) before record() gives `out` its history must not hold out's own impl (a cycle).
  if (!t.defined()) return t;
  return make_view(t, t.shape(), t.strides(), t.offset());
}

const std::shared_ptr<Node>& grad_fn(const Tensor& t) {
  static const std::shared_ptr<Node> none;
  AutogradMeta* m = meta(t);
  return m ? m->grad_fn : none;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (requires_grad(t)) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (requires_grad(t)) return true;
  return false;
}

void record(const char* name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, BackwardFn fn) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->next.reserve(inputs.size());
  node->inputs.reserve(inputs.size());
  node->outputs.reserve(outputs.size());
  node->needs_input_grad.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    node->next.push_back(edge_to(in));
    node->needs_input_grad.push_back(node->next.back().fn != nullptr);
    node->inputs.push_back(in.defined() ? meta_of(in) : TensorMeta{});
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->outputs.push_back(meta_of(out));
    if (!is_floating(out.dtype())) continue;  // indices, masks: no gradient flows through them
    AutogradMeta& m = ensure_meta(out);
    COIL_CHECK(!m.grad_fn && !m.requires_grad,
               "[{}] output {} already has autograd history (outputs must be fresh tensors)",
               name, i);
    m.requires_grad = true;
    m.grad_fn = node;
    m.output_nr = int(i);
  }
}

}  // namespace coil
