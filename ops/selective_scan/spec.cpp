// Test spec of the selective scan (see ops/op_spec.h). Inputs are u, delta, A, B, C, then the
// optional ones that a sample has, then an i64 flag tensor saying which those are (the harness
// cannot carry undefined inputs). Sizes cover L = 1, odd L, L just past the CPU's 32-step
// checkpoint chunk and across several chunks, G > 1 with two lane tiles per group, one channel per
// group, N = 1, and resets at t = 0, mid-chunk and on a chunk boundary.
#include "core/copy.h"
#include "core/factory.h"
#include "ops/op_spec.h"
#include "ops/selective_scan/selective_scan.h"

namespace coil::ops {
namespace {

enum Flag { kD, kZ, kBias, kState, kReset, kSoftplus, kFlags };

struct Case {
  const char* label;
  int64_t Bt, L, Dch, N, G;
  bool has[kFlags];
  std::vector<int64_t> resets;  // flat (b * L + t) positions set to true
};

OpSample make(Generator& g, const Case& c) {
  const bool softplus = c.has[kSoftplus];
  std::vector<Tensor> in{sample_normal(g, {c.Bt, c.L, c.Dch}),
                         // Without softplus delta is the step itself: keep it positive, as in use.
                         softplus ? sample_normal(g, {c.Bt, c.L, c.Dch})
                                  : sample_uniform(g, {c.Bt, c.L, c.Dch}, 0.05, 0.8),
                         sample_uniform(g, {c.Dch, c.N}, -1.5, -0.1),
                         sample_normal(g, {c.Bt, c.L, c.G, c.N}),
                         sample_normal(g, {c.Bt, c.L, c.G, c.N})};
  if (c.has[kD]) in.push_back(sample_normal(g, {c.Dch}));
  if (c.has[kZ]) in.push_back(sample_normal(g, {c.Bt, c.L, c.Dch}));
  if (c.has[kBias])
    in.push_back(softplus ? sample_uniform(g, {c.Dch}, -1.0, 0.5)
                          : sample_uniform(g, {c.Dch}, 0.0, 0.3));
  if (c.has[kState]) in.push_back(sample_normal(g, {c.Bt, c.Dch, c.N}));
  if (c.has[kReset]) {
    std::vector<uint8_t> r(size_t(c.Bt * c.L), 0);
    for (int64_t at : c.resets) r[size_t(at)] = 1;
    in.push_back(core::to(from_vector(r, {c.Bt, c.L}), DType::boolean));
  }
  std::vector<int64_t> flags(c.has, c.has + kFlags);
  in.push_back(from_vector(flags));
  return {c.label, in};
}

}  // namespace

OpSpec spec_selective_scan() {
  OpSpec s;
  s.name = "selective_scan";
  s.samples = [](Generator& g) {
    // Columns: label, Bt, L, Dch, N, G, {D, z, bias, state, reset, softplus}, reset positions.
    // clang-format off
    const std::vector<Case> cases{
        {"everything, resets at t = 0 and mid-row", 2, 7, 5, 3, 1, {1, 1, 1, 1, 1, 1}, {0, 7 + 4}},
        {"L = 1, no optional input", 2, 1, 3, 2, 1, {0, 0, 0, 0, 0, 0}, {}},
        {"L = 65: one step past a chunk, reset on the boundary", 1, 65, 3, 2, 1, {1, 1, 1, 1, 1, 1},
         {10, 64}},
        {"L = 130: five chunks, state in and out, no z", 1, 130, 2, 2, 1, {1, 0, 1, 1, 0, 1}, {}},
        {"G = 2 with two lane tiles per group", 2, 5, 18, 4, 2, {1, 1, 1, 0, 0, 1}, {}},
        {"one channel per group, odd sizes, reset at t = 0 only", 3, 9, 7, 5, 7, {0, 1, 0, 1, 1, 0},
         {0, 9, 18}},
        {"N = 1", 2, 3, 4, 1, 2, {1, 0, 1, 0, 0, 1}, {}}};
    // clang-format on
    std::vector<OpSample> out;
    for (const Case& c : cases) out.push_back(make(g, c));
    return out;
  };
  s.run = [](const std::vector<Tensor>& in) {
    const std::vector<int64_t> f = core::to(in.back(), Device::cpu()).to_vector<int64_t>();
    size_t next = 5;
    auto opt = [&](Flag k) { return f[k] ? in[next++] : Tensor(); };
    const Tensor D = opt(kD), z = opt(kZ), bias = opt(kBias), state = opt(kState),
                 reset = opt(kReset);
    auto [out, final_state] = selective_scan(in[0], in[1], in[2], in[3], in[4], D, z, bias,
                                             f[kSoftplus] != 0, state, reset);
    return std::vector<Tensor>{out, final_state};
  };
  s.invalid = [] {
    auto u = [](int64_t Bt, int64_t L, int64_t D, DType t = DType::f32) {
      return ones({Bt, L, D}, {t});
    };
    auto bc = [](int64_t Bt, int64_t L, int64_t G, int64_t N, DType t = DType::f32) {
      return ones({Bt, L, G, N}, {t});
    };
    auto A = [](int64_t D, int64_t N, DType t = DType::f32) { return full({D, N}, -1.0, {t}); };
    return std::vector<InvalidCase>{
        {"delta shape differs from u",
         [=] { selective_scan(u(2, 5, 4), u(2, 6, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3)); }},
        {"B time length differs from u",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 6, 1, 3), bc(2, 5, 1, 3)); }},
        {"C differs from B",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 2)); }},
        {"A channel mismatch",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(5, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3)); }},
        {"A state size differs from B",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 2), bc(2, 5, 1, 3), bc(2, 5, 1, 3)); }},
        {"G does not divide Dch",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 3, 3), bc(2, 5, 3, 3)); }},
        {"N above the maximum",
         [=] {
           selective_scan(u(1, 2, 1), u(1, 2, 1), A(1, 257), bc(1, 2, 1, 257), bc(1, 2, 1, 257));
         }},
        {"u of rank 2",
         [=] {
           selective_scan(ones({5, 4}), ones({5, 4}), A(4, 3), bc(1, 5, 1, 3), bc(1, 5, 1, 3));
         }},
        {"integer u",
         [=] {
           selective_scan(u(2, 5, 4, DType::i64), u(2, 5, 4, DType::i64), A(4, 3), bc(2, 5, 1, 3),
                          bc(2, 5, 1, 3));
         }},
        {"mixed dtypes: delta f64, u f32",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4, DType::f64), A(4, 3), bc(2, 5, 1, 3),
                          bc(2, 5, 1, 3));
         }},
        {"A f64 with f32 inputs on the CPU",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3, DType::f64), bc(2, 5, 1, 3),
                          bc(2, 5, 1, 3));
         }},
        {"bf16 inputs on the CPU",
         [=] {
           selective_scan(u(2, 5, 4, DType::bf16), u(2, 5, 4, DType::bf16), A(4, 3),
                          bc(2, 5, 1, 3, DType::bf16), bc(2, 5, 1, 3, DType::bf16));
         }},
        {"D of the wrong size",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3),
                          ones({3}));
         }},
        {"z shape differs from u",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3), Tensor(),
                          u(2, 5, 3));
         }},
        {"initial_state of the wrong shape",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3), Tensor(),
                          Tensor(), Tensor(), true, ones({2, 3, 4}));
         }},
        {"reset of the wrong shape",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3), Tensor(),
                          Tensor(), Tensor(), true, Tensor(), zeros({2, 4}, {DType::boolean}));
         }},
        {"reset that is not bool",
         [=] {
           selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), bc(2, 5, 1, 3), Tensor(),
                          Tensor(), Tensor(), true, Tensor(), zeros({2, 5}));
         }},
        {"missing C",
         [=] { selective_scan(u(2, 5, 4), u(2, 5, 4), A(4, 3), bc(2, 5, 1, 3), Tensor()); }}};
  };
  return s;
}

}  // namespace coil::ops
