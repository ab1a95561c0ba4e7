// Test specs of the reductions (see ops/op_spec.h). The harness hands an op only tensors, so a
// sample's rank picks what it reduces (reduction_for), and every op draws one sample per rank.
#include <cmath>

#include "core/factory.h"
#include "ops/elementwise/elementwise.h"
#include "ops/op_spec.h"
#include "ops/reduce/reduce.h"

namespace coil::ops {
namespace {

struct ReduceArgs {
  std::vector<int64_t> dims;
  bool keepdim;
  int64_t correction;  // var only
};

ReduceArgs reduction_for(const Tensor& x) {
  switch (x.dim()) {
    case 0: return {{}, false, 0};         // a scalar reduces to itself
    case 1: return {{}, true, 0};          // all dims, kept
    case 2: return {{-1}, false, 1};       // rows
    case 3: return {{0, 2}, true, 1};      // dims that are not adjacent, kept
    default: return {{1, 2}, false, 0};    // adjacent middle dims
  }
}

using ReduceFn = Tensor (*)(const Tensor&, std::vector<int64_t>, bool);

std::vector<OpSample> reduce_samples(Generator& g, bool separated) {
  auto draw = [&](const Shape& s) {
    return separated ? sample_separated(g, s) : sample_normal(g, s);
  };
  return {{"scalar", {draw({})}},
          {"L=1, all dims kept", {draw({1})}},
          {"odd length, all dims kept", {draw({13})}},
          {"(4, 257) over the last dim", {draw({4, 257})}},
          {"(3, 7, 5) over dims (0, 2) kept", {draw({3, 7, 5})}},
          {"(2, 3, 4, 5) over dims (1, 2)", {draw({2, 3, 4, 5})}}};
}

using ReduceCall = std::function<void(const Tensor&, std::vector<int64_t>)>;

// The cases every reduction rejects; specs append their op's own.
std::vector<InvalidCase> reduce_invalid(ReduceCall fn) {
  return {{"dim out of range", [fn] { fn(ones({2, 3}), {2}); }},
          {"negative dim out of range", [fn] { fn(ones({2, 3}), {-3}); }},
          {"repeated dim", [fn] { fn(ones({2, 3}), {1, -1}); }},
          {"undefined input", [fn] { fn(Tensor(), {}); }}};
}

OpSpec reduce_spec(const char* name, ReduceFn fn, bool separated) {
  OpSpec s;
  s.name = name;
  s.samples = [separated](Generator& g) { return reduce_samples(g, separated); };
  s.run = [fn](const std::vector<Tensor>& in) {
    ReduceArgs a = reduction_for(in[0]);
    return std::vector<Tensor>{fn(in[0], a.dims, a.keepdim)};
  };
  s.invalid = [fn] {
    return reduce_invalid([fn](const Tensor& x, std::vector<int64_t> d) { fn(x, d, false); });
  };
  return s;
}

}  // namespace

OpSpec spec_sum() { return reduce_spec("sum", sum, false); }

OpSpec spec_mean() {
  OpSpec s = reduce_spec("mean", mean, false);
  s.invalid = [] {
    auto cases = reduce_invalid([](const Tensor& x, std::vector<int64_t> d) { mean(x, d); });
    cases.push_back({"integer input", [] { mean(zeros({3}, {DType::i64})); }});
    return cases;
  };
  return s;
}

// Separated values: no ties, so finite differences never straddle a switch of the maximum.
OpSpec spec_max() {
  OpSpec s = reduce_spec("max", max, true);
  s.invalid = [] {
    auto cases = reduce_invalid([](const Tensor& x, std::vector<int64_t> d) { max(x, d); });
    cases.push_back({"empty dim", [] { max(ones({0, 3}), {0}); }});
    return cases;
  };
  return s;
}

OpSpec spec_logsumexp() {
  OpSpec s = reduce_spec("logsumexp", logsumexp, false);
  s.samples = [](Generator& g) {
    auto samples = reduce_samples(g, false);
    // Masked entries (as in attention) contribute exp(-inf) = 0 and receive zero gradient;
    // every row keeps at least one finite entry.
    Tensor flags = from_vector<double>({0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0}, {3, 5});
    Tensor mask = gt(flags, zeros({}, {DType::f64}));
    Tensor masked = masked_fill(sample_normal(g, {3, 5}), mask, -INFINITY);
    samples.push_back({"rows with -inf entries", {masked}});
    samples.push_back({"values near 30", {add(sample_normal(g, {3, 7, 5}), 30.0)}});
    return samples;
  };
  s.invalid = [] {
    auto cases =
        reduce_invalid([](const Tensor& x, std::vector<int64_t> d) { logsumexp(x, d); });
    cases.push_back({"integer input", [] { logsumexp(zeros({3}, {DType::i64})); }});
    return cases;
  };
  return s;
}

OpSpec spec_var() {
  OpSpec s;
  s.name = "var";
  s.samples = [](Generator& g) { return reduce_samples(g, false); };
  s.run = [](const std::vector<Tensor>& in) {
    ReduceArgs a = reduction_for(in[0]);
    return std::vector<Tensor>{var(in[0], a.dims, a.correction, a.keepdim)};
  };
  s.invalid = [] {
    auto cases = reduce_invalid([](const Tensor& x, std::vector<int64_t> d) { var(x, d); });
    cases.push_back({"correction >= count", [] { var(ones({2, 3}), {1}, 3); }});
    cases.push_back({"unbiased variance of one element", [] { var(ones({4, 1}), {1}); }});
    cases.push_back({"negative correction", [] { var(ones({2, 3}), {}, -1); }});
    cases.push_back({"integer input", [] { var(zeros({3}, {DType::i64})); }});
    return cases;
  };
  return s;
}

}  // namespace coil::ops
