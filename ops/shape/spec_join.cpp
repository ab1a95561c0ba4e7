// Test specs of cat, stack, pad, flip and cumsum (see ops/op_spec.h). cumsum's samples cross
// the CUDA scan's tile (1024) and sequential (64) limits.
#include "core/factory.h"
#include "ops/shape/shape.h"
#include "ops/shape/spec_helpers.h"

namespace coil::ops {
namespace {

using shape_spec::unary_spec;

// One sample per list of shapes, each input drawn normal.
std::function<std::vector<OpSample>(Generator&)> list_samples(std::vector<std::vector<Shape>> lists) {
  return [lists](Generator& g) {
    std::vector<OpSample> out;
    for (const auto& shapes : lists) {
      OpSample s;
      for (const Shape& sh : shapes) {
        s.label += (s.label.empty() ? "" : " + ") + shape_str(sh);
        s.inputs.push_back(sample_normal(g, sh));
      }
      out.push_back(std::move(s));
    }
    return out;
  };
}

}  // namespace

OpSpec spec_cat() {
  OpSpec s;
  s.name = "cat";
  s.samples = list_samples({{{2, 3}, {2, 1}, {2, 4}},
                            {{5}, {1}},
                            {{1, 3}, {4, 3}, {2, 3}},
                            {{2, 2, 3}, {2, 1, 3}},
                            {{2, 3, 1}, {2, 3, 2}},
                            {{3, 2}}});
  // Joins along the dim where the sample's shapes differ (the last one when they agree).
  s.run = [](const std::vector<Tensor>& in) {
    int64_t dim = -1;
    for (const Tensor& t : in)
      for (int64_t d = 0; d < t.dim(); ++d)
        if (t.size(d) != in[0].size(d)) dim = d;
    return std::vector<Tensor>{cat(in, dim)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"empty list", [] { cat({}, 0); }},
        {"shapes differ outside dim", [] { cat({ones({2, 3}), ones({3, 3})}, 1); }},
        {"ranks differ", [] { cat({ones({2, 3}), ones({3})}, 0); }},
        {"dtypes differ", [] { cat({ones({2}), ones({2}, {DType::f64})}, 0); }},
        {"dim out of range", [] { cat({ones({2}), ones({2})}, 1); }},
        {"scalars", [] { cat({ones({}), ones({})}, 0); }},
        {"undefined tensor", [] { cat({ones({2}), Tensor()}, 0); }}};
  };
  return s;
}

OpSpec spec_stack() {
  OpSpec s;
  s.name = "stack";
  s.samples = list_samples({{{3, 4}, {3, 4}}, {{5}, {5}, {5}}, {{}, {}}, {{2, 1, 3}}});
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{stack(in, 0), stack(in, -1)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"empty list", [] { stack({}, 0); }},
        {"shapes differ", [] { stack({ones({2, 3}), ones({2, 4})}, 0); }},
        {"dtypes differ", [] { stack({ones({2}), ones({2}, {DType::f64})}, 0); }},
        {"dim out of range", [] { stack({ones({2}), ones({2})}, 2); }},
        {"negative dim out of range", [] { stack({ones({2}), ones({2})}, -3); }}};
  };
  return s;
}

OpSpec spec_pad() {
  return unary_spec(
      "pad", {{3, 4}, {2, 1, 5}, {1, 1}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{pad(in[0], {1, 2, 0, 3}, -0.5), pad(in[0], {0, 1}),
                                   pad(in[0], {})};
      },
      {{"odd length", [] { pad(ones({3, 4}), {1, 2, 3}); }},
       {"longer than 2 * rank", [] { pad(ones({3}), {1, 1, 1, 1}); }},
       {"negative pad", [] { pad(ones({3, 4}), {-1, 0}); }},
       {"undefined input", [] { pad(Tensor(), {}); }}});
}

OpSpec spec_flip() {
  return unary_spec(
      "flip", {{3, 4}, {2, 3, 5}, {1, 6}, {7}, {}},
      [](const std::vector<Tensor>& in) {
        const Tensor& x = in[0];
        if (x.dim() == 0) return std::vector<Tensor>{flip(x, {})};
        std::vector<int64_t> ends = x.dim() == 1 ? std::vector<int64_t>{0}
                                                 : std::vector<int64_t>{0, -1};
        return std::vector<Tensor>{flip(x, ends), flip(x, {-1}), flip(x, {})};
      },
      {{"repeated dim", [] { flip(ones({3, 4}), {0, 0}); }},
       {"repeated dim, negative alias", [] { flip(ones({3, 4}), {1, -1}); }},
       {"dim out of range", [] { flip(ones({3, 4}), {2}); }},
       {"scalar has no dims", [] { flip(ones({}), {0}); }}});
}

OpSpec spec_cumsum() {
  return unary_spec(
      "cumsum", {{}, {1}, {7}, {3, 5}, {2, 1025}, {1, 4097}, {70, 3}},
      [](const std::vector<Tensor>& in) {
        return std::vector<Tensor>{cumsum(in[0], -1), cumsum(in[0], 0)};
      },
      {{"dim out of range", [] { cumsum(ones({3, 4}), 2); }},
       {"scalar dim out of range", [] { cumsum(ones({}), 1); }},
       {"bool input", [] { cumsum(ones({3}, {DType::boolean}), 0); }},
       {"undefined input", [] { cumsum(Tensor(), 0); }}});
}

}  // namespace coil::ops
