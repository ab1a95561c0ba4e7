// Test specs of the view ops and to() (see ops/op_spec.h). Runs pick shapes that stay valid when
// the harness hands them transposed inputs (view in particular must not need a copy).
#include "core/factory.h"
#include "core/views.h"
#include "ops/shape/shape.h"
#include "ops/shape/spec_helpers.h"

namespace coil::ops {
namespace {

using shape_spec::unary_spec;

// Transposed, hence non-contiguous: view must refuse to merge its dims.
Tensor transposed_2x3() { return core::transpose(ones({3, 2}), 0, 1); }

}  // namespace

OpSpec spec_reshape() {
  return unary_spec(
      "reshape", {{2, 3, 5}, {1}, {4, 1, 3}},
      [](const std::vector<Tensor>& in) {
        Shape rev(in[0].shape().rbegin(), in[0].shape().rend());
        return std::vector<Tensor>{reshape(in[0], rev), reshape(in[0], {-1})};
      },
      {{"numel mismatch", [] { reshape(ones({2, 3}), {4}); }},
       {"two -1 sizes", [] { reshape(ones({2, 3}), {-1, -1}); }},
       {"undefined input", [] { reshape(Tensor(), {1}); }}});
}

OpSpec spec_view() {
  // Merges the leading dims (rank >= 3) or splits a 1-D input: both valid on the harness's
  // transposed and strided layouts.
  return unary_spec(
      "view", {{2, 3, 4, 5}, {3, 1, 5}, {6}},
      [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        Shape target = x.dim() == 1 ? Shape{2, -1} : Shape{-1, x.size(-2), x.size(-1)};
        return std::vector<Tensor>{view(x, target)};
      },
      {{"needs a copy", [] { view(transposed_2x3(), {6}); }},
       {"numel mismatch", [] { view(ones({2, 3}), {5}); }},
       {"undefined input", [] { view(Tensor(), {1}); }}});
}

OpSpec spec_permute() {
  return unary_spec(
      "permute", {{2, 3, 4}, {3, 1, 5}, {1, 1, 1}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{permute(in[0], {2, 0, 1}), permute(in[0], {-2, -1, -3})};
      },
      {{"too few dims", [] { permute(ones({2, 3}), {0}); }},
       {"repeated dim", [] { permute(ones({2, 3}), {1, 1}); }},
       {"dim out of range", [] { permute(ones({2, 3}), {0, 2}); }}});
}

OpSpec spec_transpose() {
  return unary_spec(
      "transpose", {{3, 5}, {2, 3, 4}, {1, 7}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{transpose(in[0], 0, -1), transpose(in[0], -1, -1)};
      },
      {{"dim out of range", [] { transpose(ones({2, 3}), 0, 2); }},
       {"scalar", [] { transpose(ones({}), 0, 0); }}});
}

OpSpec spec_slice() {
  return unary_spec(
      "slice", {{5, 3}, {7, 2, 3}, {2, 1}},
      [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        return std::vector<Tensor>{slice(x, 0, 1, x.size(0), 2), slice(x, -1, -1, x.size(-1)),
                                   slice(slice(x, 0, 0, 2), 0, 1, 2)};
      },
      {{"end past the size", [] { slice(ones({4, 3}), 0, 1, 5); }},
       {"start after end", [] { slice(ones({4, 3}), 1, 2, 1); }},
       {"step 0", [] { slice(ones({4, 3}), 0, 0, 4, 0); }},
       {"dim out of range", [] { slice(ones({4, 3}), 2, 0, 1); }}});
}

OpSpec spec_narrow() {
  return unary_spec(
      "narrow", {{3, 4}, {2, 5, 3}, {1, 3}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{narrow(in[0], 1, 1, 2), narrow(in[0], -1, -1, 1)};
      },
      {{"length past the end", [] { narrow(ones({3, 4}), 1, 3, 2); }},
       {"negative length", [] { narrow(ones({3, 4}), 1, 0, -1); }},
       {"dim out of range", [] { narrow(ones({3, 4}), -3, 0, 1); }}});
}

OpSpec spec_select() {
  return unary_spec(
      "select", {{3, 4}, {2, 5, 3}, {4, 1}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{select(in[0], 1, -1), select(in[0], 0, 1)};
      },
      {{"index out of range", [] { select(ones({3, 4}), 1, 4); }},
       {"negative index out of range", [] { select(ones({3, 4}), 0, -4); }},
       {"scalar", [] { select(ones({}), 0, 0); }}});
}

OpSpec spec_expand() {
  // Size-1 dims grow to 4 and a new leading dim of 2 appears; the gradient sums over both.
  return unary_spec(
      "expand", {{3, 1}, {1, 5}, {1, 1, 1}},
      [](const std::vector<Tensor>& in) {
        Shape target{2};
        for (int64_t s : in[0].shape()) target.push_back(s == 1 ? 4 : -1);
        return std::vector<Tensor>{expand(in[0], target)};
      },
      {{"non-1 dim differs", [] { expand(ones({3}), {4}); }},
       {"fewer dims", [] { expand(ones({3, 1}), {3}); }},
       {"undefined input", [] { expand(Tensor(), {3}); }}});
}

OpSpec spec_unsqueeze() {
  return unary_spec(
      "unsqueeze", {{3, 4}, {5}, {}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{unsqueeze(in[0], 0), unsqueeze(in[0], -1)};
      },
      {{"dim out of range", [] { unsqueeze(ones({3}), 2); }},
       {"negative dim out of range", [] { unsqueeze(ones({3}), -3); }}});
}

OpSpec spec_squeeze() {
  return unary_spec(
      "squeeze", {{3, 1, 4}, {3, 2}, {1, 1}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{squeeze(in[0], 1), squeeze(in[0])};
      },
      {{"dim out of range", [] { squeeze(ones({3, 1}), 2); }},
       {"scalar dim out of range", [] { squeeze(ones({}), 1); }}});
}

OpSpec spec_flatten() {
  return unary_spec(
      "flatten", {{2, 3, 4}, {3, 1, 5}, {1, 2, 1}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{flatten(in[0]), flatten(in[0], 1, 2), flatten(in[0], 0, 1)};
      },
      {{"start after end", [] { flatten(ones({2, 3, 4}), 2, 1); }},
       {"dim out of range", [] { flatten(ones({2, 3}), 0, 2); }}});
}

OpSpec spec_contiguous() {
  return unary_spec(
      "contiguous", {{3, 4}, {7}, {2, 1, 5}},
      [](const std::vector<Tensor>& in) { return std::vector<Tensor>{contiguous(in[0])}; },
      {{"undefined input", [] { contiguous(Tensor()); }}});
}

OpSpec spec_to() {
  // A round trip through f64 and the host that ends where it began: exact (f32 -> f64 -> f32),
  // so the f64 gradient check passes, and a CUDA run crosses devices both ways.
  return unary_spec(
      "to", {{3, 4}, {5}, {}},
      [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        Tensor y = to(to(x, DType::f64), Device::cpu());
        return std::vector<Tensor>{to(to(y, x.device()), x.dtype())};
      },
      {{"undefined input (device)", [] { to(Tensor(), Device::cpu()); }},
       {"undefined input (dtype)", [] { to(Tensor(), DType::f32); }}});
}

}  // namespace coil::ops
