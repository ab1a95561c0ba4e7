// Test spec of the FFT convolution (see ops/op_spec.h): L = 1, odd L, L just past a power of two,
// kernels shorter than the sequence, H past the CPU's channel tile, causal and bidirectional
// (C = 2 selects bidirectional in `run`), with and without D.
#include "core/factory.h"
#include "ops/fft_conv/fft_conv.h"
#include "ops/op_spec.h"

namespace coil::ops {

OpSpec spec_fft_conv() {
  OpSpec s;
  s.name = "fft_conv";
  s.samples = [](Generator& g) {
    auto make = [&g](const char* label, int64_t B, int64_t L, int64_t H, int64_t C, int64_t Lk,
                     bool with_d) {
      OpSample smp{label, {sample_normal(g, {B, L, H}), sample_normal(g, {C, H, Lk}, 0.5)}};
      if (with_d) smp.inputs.push_back(sample_normal(g, {H}));
      return smp;
    };
    return std::vector<OpSample>{
        make("causal, L = 7", 2, 7, 3, 1, 7, true),
        make("causal, L = 1", 2, 1, 2, 1, 1, true),
        make("causal, odd L = 9, Lk = 4, no D", 2, 9, 2, 1, 4, false),
        make("causal, L = 17 (just past 16)", 1, 17, 2, 1, 17, true),
        make("causal, H = 17 (past the CPU tile)", 2, 4, 17, 1, 4, true),
        make("bidirectional, L = 6", 2, 6, 3, 2, 6, true),
        make("bidirectional, L = 5, Lk = 3, no D", 1, 5, 2, 2, 3, false),
        make("bidirectional, L = 1", 2, 1, 2, 2, 1, true),
        make("bidirectional, L = 33 (just past 32), Lk = 20", 1, 33, 1, 2, 20, true)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    const bool bidirectional = in[1].size(0) == 2;
    return std::vector<Tensor>{
        fft_conv(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), bidirectional)};
  };
  s.invalid = [] {
    return std::vector<InvalidCase>{
        {"kernel longer than the sequence",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 5}));
         }},
        {"C = 2 for a causal conv",
         [] {
           fft_conv(ones({2, 4, 3}), ones({2, 3, 4}));
         }},
        {"C = 1 for a bidirectional conv",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 4}), Tensor(), true);
         }},
        {"H mismatch",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 2, 4}));
         }},
        {"L = 0",
         [] {
           fft_conv(ones({2, 0, 3}), ones({1, 3, 1}));
         }},
        {"Lk = 0",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 0}));
         }},
        {"D of the wrong size",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 4}), ones({2}));
         }},
        {"u of rank 2",
         [] {
           fft_conv(ones({4, 3}), ones({1, 3, 4}));
         }},
        {"dtype mismatch",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 4}, {DType::f64}));
         }},
        {"D dtype mismatch",
         [] {
           fft_conv(ones({2, 4, 3}), ones({1, 3, 4}), ones({3}, {DType::f64}));
         }},
        {"integer u", [] {
           fft_conv(ones({2, 4, 3}, {DType::i64}), ones({1, 3, 4}, {DType::i64}));
         }}};
  };
  return s;
}

}  // namespace coil::ops
