// Test spec of the embedding op (see ops/op_spec.h). padding_idx is not sampled: its row keeps
// its forward value but gets no gradient by design, which a gradient check would flag
// (tests/test_ops_sequence.cpp covers it).
#include "core/factory.h"
#include "core/random.h"
#include "ops/embedding/embedding.h"
#include "ops/op_spec.h"

namespace coil::ops {

OpSpec spec_embedding() {
  OpSpec s;
  s.name = "embedding";
  s.samples = [](Generator& g) {
    // Repeats (3 four times, 0 twice) check that gradients accumulate across positions.
    Tensor repeated = from_vector<int64_t>({3, 0, 3, 4, 1, 3, 0, 3, 2, 4, 4, 1}, {3, 4});
    Tensor i32 = from_vector<int32_t>({5, 0, 2, 2, 5, 1}, {2, 3});
    return std::vector<OpSample>{
        {"repeated indices, odd D", {sample_normal(g, {5, 7}), repeated}},
        {"V = 1", {sample_normal(g, {1, 3}), from_vector<int64_t>({0, 0, 0}, {3})}},
        {"i32 indices, rank-2", {sample_normal(g, {6, 5}), i32}},
        {"D = 1, scalar index", {sample_normal(g, {4, 1}), scalar_tensor(2, {DType::i64})}},
        // D = 8 takes the vectorised CUDA gather; 300 positions over 40 rows give long runs.
        {"many positions, D = 8",
         {sample_normal(g, {40, 8}), randint(0, 40, {3, 100}, {DType::i64}, &g)}}};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{embedding(in[0], in[1])};
  };
  s.invalid = [] {
    auto w = [] { return ones({4, 3}); };
    return std::vector<InvalidCase>{
        {"index out of range", [w] { embedding(w(), from_vector<int64_t>({1, 4}, {2})); }},
        {"negative index", [w] { embedding(w(), from_vector<int32_t>({-1}, {1})); }},
        {"float indices", [w] { embedding(w(), ones({2})); }},
        {"weight of rank 1", [] { embedding(ones({4}), from_vector<int64_t>({1}, {1})); }},
        {"weight of rank 3", [] { embedding(ones({4, 3, 2}), from_vector<int64_t>({1}, {1})); }},
        {"integer weight", [] { embedding(ones({4, 3}, {DType::i64}), from_vector<int64_t>({1}, {1})); }},
        {"padding_idx out of range", [w] { embedding(w(), from_vector<int64_t>({1}, {1}), 4); }}};
  };
  return s;
}

}  // namespace coil::ops
