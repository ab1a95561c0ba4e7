// Reverse-mode autograd: the user API (requires_grad, backward, grad, NoGradGuard, detach) and
// the two calls op authors use (needs_grad, record).
#pragma once
#include <initializer_list>
#include <vector>

#include "autograd/graph.h"
#include "core/tensor.h"

namespace coil {

// ---- user API ------------------------------------------------------------------------------
bool requires_grad(const Tensor& t);
// Marks a leaf as a parameter to differentiate; returns t for chaining. Throws on non-leaves
// (their requires_grad comes from the graph) and on non-floating dtypes.
const Tensor& set_requires_grad(const Tensor& t, bool on = true);
bool is_leaf(const Tensor& t);
Tensor grad(const Tensor& t);  // undefined until a backward() reaches t
void zero_grad(const Tensor& t);  // drops the accumulated gradient
void set_grad(const Tensor& t, const Tensor& g);
// The same data with no history: a new handle sharing storage, never requires grad.
Tensor detach(const Tensor& t);
const std::shared_ptr<Node>& grad_fn(const Tensor& t);

struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors so backward can run through the graph again
};
// Accumulates d(root)/d(leaf) into every leaf's .grad. `gradient` must be given unless root has
// one element. Runs on the devices where the forward ran.
void backward(const Tensor& root, const Tensor& gradient = {}, BackwardOptions opts = {});

// Recording is on by default; NoGradGuard turns it off for its scope (eval, optimizer steps).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
bool grad_mode_enabled();

// ---- op author API ------------------------------------------------------------------------
// True when recording is on and some input requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records one op call: outputs get a grad_fn whose backward is `fn`. Capture what fn needs by
// value: inputs as they are, outputs only through detach() (an output holding its own node
// would be a reference cycle).
void record(const char* name, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& outputs, BackwardFn fn);

}  // namespace coil
