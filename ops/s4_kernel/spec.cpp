// Test spec of the S4 (DPLR) kernel (see ops/op_spec.h): every (Cn, R) in {1, 2}^2, even and odd
// L (omega = -1 appears only for even L), L = 1 and 2, more modes than a GPU mode chunk. The
// last input is an i64 tensor (L) carrying the option.
#include "core/factory.h"
#include "ops/op_spec.h"
#include "ops/s4_kernel/s4_kernel.h"

namespace coil::ops {

OpSpec spec_s4_kernel() {
  OpSpec s;
  s.name = "s4_kernel";
  s.samples = [](Generator& g) {
    auto make = [&g](const char* label, int64_t R, int64_t Cn, int64_t H, int64_t N2, int64_t L) {
      return OpSample{label,
                      {sample_uniform(g, {H}, std::log(0.05), std::log(0.5)),
                       sample_uniform(g, {H, N2}, -1.0, -0.2), sample_uniform(g, {H, N2}, -4, 4),
                       sample_normal(g, {R, H, N2, 2}, 0.5), sample_normal(g, {H, N2, 2}),
                       sample_normal(g, {Cn, H, N2, 2}), from_vector<int64_t>({L})}};
    };
    // L = 1: K_0 = -C~ A^-1 B does not depend on dt, so its (zero) dt gradient is not checked.
    auto make_l1 = [&] {
      OpSample s1 = make("L = 1", 1, 1, 2, 2, 1);
      s1.no_grad = {0};
      return s1;
    };
    return std::vector<OpSample>{make("R 1, Cn 1, L 8", 1, 1, 3, 4, 8),
                                 make("R 2, Cn 1, odd L", 2, 1, 2, 3, 9),
                                 make("R 1, Cn 2, L 2", 1, 2, 2, 2, 2),
                                 make("R 2, Cn 2, L 12", 2, 2, 1, 3, 12),
                                 make_l1(),
                                 make("70 modes", 1, 1, 1, 70, 16)};
  };
  s.run = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{
        s4_kernel(in[0], in[1], in[2], in[3], in[4], in[5], in[6].to_vector<int64_t>()[0])};
  };
  s.invalid = [] {
    auto call = [](Shape dt, Shape p, Shape b, Shape c, int64_t L, TensorOptions o = {}) {
      s4_kernel(ones(dt, o), full({dt[0], b[1]}, -0.5), ones({dt[0], b[1]}), ones(p), ones(b),
                ones(c), L);
    };
    return std::vector<InvalidCase>{
        {"mismatched H",
         [=] {
           call({2}, {1, 3, 4, 2}, {2, 4, 2}, {1, 2, 4, 2}, 8);
         }},
        {"mismatched N2",
         [=] {
           call({2}, {1, 2, 4, 2}, {2, 4, 2}, {1, 2, 5, 2}, 8);
         }},
        {"rank 3",
         [=] {
           call({2}, {3, 2, 4, 2}, {2, 4, 2}, {1, 2, 4, 2}, 8);
         }},
        {"Cn 3",
         [=] {
           call({2}, {1, 2, 4, 2}, {2, 4, 2}, {3, 2, 4, 2}, 8);
         }},
        {"P without a pair dim",
         [=] {
           call({2}, {1, 2, 4}, {2, 4, 2}, {1, 2, 4, 2}, 8);
         }},
        {"L = 0",
         [=] {
           call({2}, {1, 2, 4, 2}, {2, 4, 2}, {1, 2, 4, 2}, 0);
         }},
        {"dtype mismatch",
         [=] {
           call({2}, {1, 2, 4, 2}, {2, 4, 2}, {1, 2, 4, 2}, 8, {DType::f64});
         }},
        {"integer inputs", [=] {
           call({2}, {1, 2, 4, 2}, {2, 4, 2}, {1, 2, 4, 2}, 8, {DType::i32});
         }}};
  };
  s.parity_tol = 1e-4;  // f32 Cauchy sums on the GPU vs float64 arithmetic on the CPU
  return s;
}

}  // namespace coil::ops
