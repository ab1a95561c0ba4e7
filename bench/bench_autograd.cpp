// coil_bench_autograd: the fixed cost of autograd. Records a graph of 10,000 tiny elementwise ops
// on the CPU and runs backward through it; reports the time of each part and the cost per op,
// next to the same forward with recording off (the kernels alone).
//
//   coil_bench_autograd [ops=10000] [reps=20]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "autograd/autograd.h"
#include "core/factory.h"
#include "core/random.h"
#include "ops/elementwise/elementwise.h"

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A chain mixing unary and binary ops, every one recorded when x requires grad.
coil::Tensor chain(const coil::Tensor& x, const coil::Tensor& w, int n_ops) {
  coil::Tensor y = x;
  for (int i = 0; i < n_ops; ++i) {
    switch (i % 4) {
      case 0: y = coil::mul(y, w); break;
      case 1: y = coil::add(y, 0.5); break;
      case 2: y = coil::tanh(y); break;
      default: y = coil::add(y, x); break;
    }
  }
  return y;
}

}  // namespace

int main(int argc, char** argv) {
  int n_ops = argc > 1 ? std::atoi(argv[1]) : 10000;
  int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  coil::Tensor x = coil::randn({4}), w = coil::randn({4});
  coil::set_requires_grad(x);
  coil::set_requires_grad(w);
  std::vector<double> t_plain, t_record, t_backward;
  for (int r = 0; r < reps + 2; ++r) {
    auto t0 = clock_type::now();
    {
      coil::NoGradGuard no_grad;
      chain(x, w, n_ops);
    }
    double plain = seconds_since(t0);
    t0 = clock_type::now();
    coil::Tensor y = chain(x, w, n_ops);
    double record = seconds_since(t0);
    t0 = clock_type::now();
    coil::backward(y, coil::ones({4}));
    double back = seconds_since(t0);
    coil::zero_grad(x);
    coil::zero_grad(w);
    if (r < 2) continue;  // warm-up: allocator caches, page faults
    t_plain.push_back(plain), t_record.push_back(record), t_backward.push_back(back);
  }
  double plain = median(t_plain), record = median(t_record), back = median(t_backward);
  fmt::print("autograd overhead on cpu: {} tiny ops on a (4,) tensor, median of {} reps\n", n_ops,
             reps);
  fmt::print("  forward, recording off      {:8.2f} ms\n", plain * 1e3);
  fmt::print("  forward, recording on       {:8.2f} ms  ({:.2f} us/op over the kernels)\n",
             record * 1e3, (record - plain) / n_ops * 1e6);
  fmt::print("  backward                    {:8.2f} ms  ({:.2f} us/op)\n", back * 1e3,
             back / n_ops * 1e6);
  fmt::print("  record + backward           {:8.2f} ms  (target < 20 ms)\n", (record + back) * 1e3);
  return 0;
}
