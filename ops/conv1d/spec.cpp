// Test spec of the causal depthwise conv (see ops/op_spec.h): K = 4 as in Mamba, L = 1, odd L,
// K > L, C = 1, C just past a warp, K > 8 (the one-thread-per-element CUDA kernels), C = 8 (the
// streaming CUDA kernels' 16-byte accesses), and packed sequences (reset at t = 0, mid-row, and
// closer together than K).
#include "core/copy.h"
#include "core/factory.h"
#include "ops/conv1d/conv1d.h"
#include "ops/op_spec.h"

namespace coil::ops {

namespace {

// Two rows of 9 steps packing sequences of lengths 3, 2, 4 (row 0) and 9 (row 1), K = 4.
OpSample packed(Generator& g, const char* label, int64_t C) {
  return {label,
          {sample_normal(g, {2, 9, C}), sample_normal(g, {C, 4}), sample_normal(g, {C}),
           core::to(from_vector(std::vector<uint8_t>{1, 0, 0, 1, 0, 1, 0, 0, 0,  //
                                                     1, 0, 0, 0, 0, 0, 0, 0, 0},
                                {2, 9}),
                    DType::boolean)}};
}

}  // namespace

OpSpec spec_conv1d_causal() {
  OpSpec s;
  s.name = "conv1d_causal";
  s.samples = [](Generator& g) {
    auto with_bias = [&g](const char* label, int64_t B, int64_t L, int64_t C, int64_t K) {
      return OpSample{
          label, {sample_normal(g, {B, L, C}), sample_normal(g, {C, K}), sample_normal(g, {C})}};
    };
    return std::vector<OpSample>{
        with_bias("K = 4, L = 7", 2, 7, 5, 4),
        with_bias("L = 1", 3, 1, 4, 4),
        with_bias("K > L", 2, 3, 3, 5),
        with_bias("K = 1", 2, 4, 3, 1),
        with_bias("C = 33", 1, 2, 33, 2),
        with_bias("K = 9", 1, 10, 2, 9),
        with_bias("258 rows: several reduction chunks", 2, 129, 3, 4),
        with_bias("C = 8, K = 6, L = 41: 16-byte accesses, 8 register taps, several runs", 2, 41, 8,
                  6),
        {"C = 1, no bias", {sample_normal(g, {2, 6, 1}), sample_normal(g, {1, 3})}},
        packed(g, "reset: packed sequences of lengths 3, 2, 4 and 9", 3),
        packed(g, "reset, C = 8 (16-byte accesses)", 8)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    const Tensor bias = in.size() > 2 ? in[2] : Tensor(), reset = in.size() > 3 ? in[3] : Tensor();
    return std::vector<Tensor>{conv1d_causal(in[0], in[1], bias, reset)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"channel mismatch",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({4, 2}));
         }},
        {"weight of rank 1",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({3}));
         }},
        {"x of rank 2",
         [] {
           conv1d_causal(ones({5, 3}), ones({3, 2}));
         }},
        {"bias of the wrong size",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({3, 2}), ones({4}));
         }},
        {"K = 0",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({3, 0}));
         }},
        {"dtype mismatch",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({3, 2}, {DType::f64}));
         }},
        {"integer x",
         [] {
           conv1d_causal(ones({2, 5, 3}, {DType::i64}), ones({3, 2}));
         }},
        {"reset of the wrong shape",
         [] {
           conv1d_causal(ones({2, 5, 3}), ones({3, 2}), Tensor(), zeros({2, 4}, {DType::boolean}));
         }},
        {"reset that is not bool", [] {
           conv1d_causal(ones({2, 5, 3}), ones({3, 2}), Tensor(), zeros({2, 5}));
         }}};
  };
  return s;
}

}  // namespace coil::ops
