// Test spec of the S4D kernel (see ops/op_spec.h): ZOH and bilinear, Cn = 1 and 2, L = 1, L just
// past a CPU tile (257) and a GPU tile (2049), a single mode. The last input is an i64 tensor
// (L, disc) carrying the options.
#include "core/factory.h"
#include "ops/op_spec.h"
#include "ops/s4d_kernel/s4d_kernel.h"

namespace coil::ops {

OpSpec spec_s4d_kernel() {
  OpSpec s;
  s.name = "s4d_kernel";
  s.samples = [](Generator& g) {
    auto make = [&g](const char* label, int64_t Cn, int64_t H, int64_t N2, int64_t L, int disc,
                     double dt_lo, double dt_hi) {
      return OpSample{label,
                      {sample_uniform(g, {H}, std::log(dt_lo), std::log(dt_hi)),
                       sample_uniform(g, {H, N2}, -1.0, -0.1), sample_uniform(g, {H, N2}, -4, 4),
                       sample_normal(g, {H, N2, 2}), sample_normal(g, {Cn, H, N2, 2}),
                       from_vector<int64_t>({L, int64_t(disc)})}};
    };
    return std::vector<OpSample>{make("zoh, Cn 1", 1, 3, 4, 9, 0, 0.1, 0.5),
                                 make("bilinear, Cn 2", 2, 2, 3, 7, 1, 0.1, 0.5),
                                 make("L = 1", 1, 2, 2, 1, 0, 0.1, 0.5),
                                 make("one mode, bilinear", 2, 1, 1, 5, 1, 0.2, 0.8),
                                 make("L = 257: two CPU tiles", 1, 1, 2, 257, 0, 0.01, 0.05),
                                 make("L = 2049: two GPU tiles", 1, 1, 2, 2049, 1, 0.001, 0.003)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    const auto opt = in[5].to_vector<int64_t>();
    return std::vector<Tensor>{
        s4d_kernel(in[0], in[1], in[2], in[3], in[4], opt[0], SsmDisc(int(opt[1])))};
  };
  s.invalid = [] {
    auto call = [](Shape dt, Shape ar, Shape ai, Shape b, Shape c, int64_t L, TensorOptions o = {},
                   SsmDisc disc = SsmDisc::zoh) {
      s4d_kernel(ones(dt, o), full(ar, -0.5), ones(ai), ones(b), ones(c), L, disc);
    };
    return std::vector<InvalidCase>{
        {"mismatched H",
         [=] {
           call({3}, {2, 4}, {2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 8);
         }},
        {"mismatched N2",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 5, 2}, {1, 2, 4, 2}, 8);
         }},
        {"B without a pair dim",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 1}, {1, 2, 4, 2}, 8);
         }},
        {"C of rank 3",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 2}, {2, 4, 2}, 8);
         }},
        {"L = 0",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 0);
         }},
        {"dtype mismatch",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 8, {DType::f64});
         }},
        {"integer inputs",
         [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 8, {DType::i64});
         }},
        {"unknown discretisation", [=] {
           call({2}, {2, 4}, {2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 8, {}, SsmDisc(7));
         }}};
  };
  s.parity_tol =
      1e-4;  // f32 powers are formed by repeated products on the GPU, in double on the CPU
  return s;
}

}  // namespace coil::ops
