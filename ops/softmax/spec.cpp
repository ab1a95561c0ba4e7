// Test specs of softmax and log_softmax (see ops/op_spec.h). Each run normalises over the last
// dim (contiguous rows) and over dim 0 (the permuted path), so every sample covers both.
#include "core/factory.h"
#include "ops/op_spec.h"
#include "ops/softmax/softmax.h"

namespace coil::ops {
namespace {

using SoftmaxFn = Tensor (*)(const Tensor&, int64_t);

OpSpec softmax_spec(const char* name, SoftmaxFn fn) {
  OpSpec s;
  s.name = name;
  s.samples = [](Generator& g) {
    return std::vector<OpSample>{
        {"scalar", {sample_normal(g, {})}},
        {"L=1", {sample_normal(g, {1})}},
        {"odd (3, 7, 5)", {sample_normal(g, {3, 7, 5})}},
        {"warp rows just past 32 (3, 33)", {sample_normal(g, {3, 33}, 2.0)}},
        {"block rows just past 1024 (2, 1025)", {sample_normal(g, {2, 1025}, 2.0)}}};
  };
  s.run = [fn](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{fn(in[0], -1), fn(in[0], 0)};
  };
  s.invalid = [fn] {
    return std::vector<InvalidCase>{{"dim out of range",
                                     [fn] {
                                       fn(ones({2, 3}), 2);
                                     }},
                                    {"negative dim out of range",
                                     [fn] {
                                       fn(ones({2, 3}), -3);
                                     }},
                                    {"integer input",
                                     [fn] {
                                       fn(ones({2, 3}, {DType::i64}), -1);
                                     }},
                                    {"undefined input", [fn] { fn(Tensor(), -1); }}};
  };
  return s;
}

}  // namespace

OpSpec spec_softmax() { return softmax_spec("softmax", softmax); }
OpSpec spec_log_softmax() { return softmax_spec("log_softmax", log_softmax); }

}  // namespace coil::ops
