// The recorded graph: one Node per differentiable op call, edges from a node to the nodes that
// produced its inputs. Written by ops (through record() in autograd.h), walked by the engine.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace coil {

struct Node;

// Where the gradient for one input of a node goes: output `output_nr` of node `fn`.
struct Edge {
  std::shared_ptr<Node> fn;
  int output_nr = 0;
};

// What an input or output looked like in the forward pass (for zero-filling and checks).
struct TensorMeta {
  Shape shape;
  DType dtype = DType::f32;
  Device device;
};

// Gradients of the outputs (undefined ones are zero-filled by the engine) and which inputs
// want a gradient; returns one gradient per input (undefined where not needed).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs,
                                                     const std::vector<bool>& needs_input_grad)>;

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // releases long chains iteratively (recursion would overflow the stack)

  std::string name;                  // the op, for error messages
  std::vector<Edge> next;            // per input; fn == nullptr where no gradient is wanted
  std::vector<bool> needs_input_grad;  // per input: next[i].fn != nullptr
  std::vector<TensorMeta> inputs;    // per input
  std::vector<TensorMeta> outputs;   // per output
  BackwardFn backward;               // holds the saved tensors; reset after use
  // Leaf accumulators write into a leaf's .grad instead of calling backward.
  bool is_accumulator = false;
  std::weak_ptr<TensorImpl> leaf;
  bool released = false;
  // Engine scratch, valid during one backward(): gradients arriving for each output, and the
  // traversal mark (no hash maps on the hot path).
  std::vector<Tensor> pending;
  uint64_t visit_epoch = 0;
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_nr = 0;
  std::shared_ptr<Node> accumulator;  // leaves only: the node that writes .grad
};

}  // namespace coil
