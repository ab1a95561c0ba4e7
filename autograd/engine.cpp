// The backward engine: orders the graph reachable from the root so every node runs after all
// of its consumers, sums gradients that meet at a node, and frees saved tensors as it goes.
#include <atomic>

#include "autograd/autograd.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"

namespace coil {
namespace {

// Post-order of the nodes reachable from root, into `post`, with an explicit stack so that long
// chains cannot overflow the call stack; reversed, it puts consumers before producers.
void post_order(Node* root, std::vector<Node*>& post) {
  static std::atomic<uint64_t> epochs{0};
  thread_local std::vector<std::pair<Node*, size_t>> stack;  // reused: see TraversalBuffer
  const uint64_t epoch = ++epochs;
  post.clear();
  stack.clear();
  root->visit_epoch = epoch;
  stack.push_back({root, 0});
  while (!stack.empty()) {
    auto& [node, next_edge] = stack.back();
    if (next_edge < node->next.size()) {
      Node* child = node->next[next_edge++].fn.get();
      if (child && child->visit_epoch != epoch) {
        child->visit_epoch = epoch;
        stack.push_back({child, 0});
      }
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
}

// The order buffer is borrowed from a thread_local and handed back afterwards: a large fresh
// allocation on every backward makes glibc consolidate its free lists, which cost more than the
// traversal itself. (A nested backward on the same thread just starts with an empty buffer.)
class TraversalBuffer {
 public:
  TraversalBuffer() { nodes.swap(spare()); }
  ~TraversalBuffer() {
    nodes.clear();
    spare().swap(nodes);
  }
  std::vector<Node*> nodes;

 private:
  static std::vector<Node*>& spare() {
    thread_local std::vector<Node*> buffer;
    return buffer;
  }
};

void check_grad(const Node& node, size_t i, const Tensor& g) {
  const TensorMeta& want = node.inputs[i];
  COIL_CHECK(g.shape() == want.shape && g.device() == want.device && g.dtype() == want.dtype,
             "[backward of {}] gradient for input {} is {}, expected {} {} on {}", node.name, i,
             describe(g), dtype_name(want.dtype), shape_str(want.shape), want.device.str());
}

void accumulate(Tensor& slot, const Tensor& g) {
  slot = slot.defined() ? core::binary(BinaryOp::add, slot, g) : g;
}

void write_leaf_grad(const Node& acc, const Tensor& g) {
  auto leaf = acc.leaf.lock();
  if (!leaf) return;  // the parameter is gone; nothing to update
  Tensor t(leaf);
  Tensor current = grad(t);
  if (current.defined()) {
    set_grad(t, core::binary(BinaryOp::add, current, g));
  } else {
    // .grad must own its storage: optimizers and clipping update it in place.
    // (Handles share one impl, views share one storage: either count means someone else holds g.)
    bool shared = g.impl_ptr().use_count() > 1 || g.storage().use_count() > 1 || !g.is_contiguous();
    set_grad(t, shared ? core::clone(g) : g);
  }
}

}  // namespace

void backward(const Tensor& root, const Tensor& gradient, BackwardOptions opts) {
  COIL_CHECK(root.defined(), "[backward] called on an undefined tensor");
  COIL_CHECK(requires_grad(root),
             "[backward] tensor {} does not require grad and has no grad_fn", describe(root));
  Tensor seed = gradient;
  if (!seed.defined()) {
    COIL_CHECK(root.numel() == 1,
               "[backward] a gradient must be given for a non-scalar output of shape {}",
               shape_str(root.shape()));
    seed = ones_like(root);
  }
  COIL_CHECK(seed.shape() == root.shape() && seed.device() == root.device(),
             "[backward] gradient {} does not match output {}", describe(seed), describe(root));
  seed = core::to(seed, root.dtype());

  NoGradGuard no_grad;  // backward rules run ops; they must not record
  const auto& fn = grad_fn(root);
  if (!fn) {  // backward on a leaf: its gradient is the seed
    Tensor current = grad(root);
    set_grad(root, current.defined() ? core::binary(BinaryOp::add, current, seed) : seed);
    return;
  }
  Node* start = fn.get();
  TraversalBuffer order;
  post_order(start, order.nodes);
  const std::vector<Node*>& post = order.nodes;
  start->pending.resize(start->outputs.size());
  start->pending[size_t(root.impl().autograd->output_nr)] = seed;

  for (auto it = post.rbegin(); it != post.rend(); ++it) {
    Node* node = *it;
    std::vector<Tensor> grads = std::move(node->pending);
    node->pending.clear();
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    if (!any) continue;

    if (node->is_accumulator) {
      write_leaf_grad(*node, grads[0]);
      continue;
    }
    COIL_CHECK(!node->released,
               "[backward] trying to backward through the graph a second time (at {}): its saved "
               "tensors were freed after the first backward; pass retain_graph = true",
               node->name);
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined()) {
        const TensorMeta& m = node->outputs[i];
        grads[i] = zeros(m.shape, {m.dtype, m.device});
      }
    std::vector<Tensor> input_grads = node->backward(grads, node->needs_input_grad);
    if (!opts.retain_graph) {
      node->backward = nullptr;  // frees the saved tensors now
      node->released = true;
    }
    COIL_CHECK(input_grads.size() == node->next.size(),
               "[backward of {}] returned {} gradients for {} inputs", node->name,
               input_grads.size(), node->next.size());
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Edge& e = node->next[i];
      if (!e.fn || !input_grads[i].defined()) continue;
      check_grad(*node, i, input_grads[i]);
      auto& slots = e.fn->pending;
      slots.resize(e.fn->outputs.size());
      accumulate(slots[size_t(e.output_nr)], input_grads[i]);
    }
  }
}

}  // namespace coil
