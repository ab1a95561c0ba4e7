// The Philox stream of one generated example, shared by the synthetic tasks and the LRA
// generators: key = seed, counters from index * 2^28 on, so examples never share counters
// (2^30 words each) and any example can be produced alone, on any thread.
#pragma once
#include <cstdint>

#include "core/philox.h"

namespace coil::data {

class ExampleRng {
 public:
  ExampleRng(uint64_t seed, int64_t index) : seed_(seed), counter_(uint64_t(index) << 28) {}
  uint32_t next() {
    if (used_ == 4) {
      block_ = philox::block(seed_, counter_++);
      used_ = 0;
    }
    return block_.v[used_++];
  }
  // Uniform integer in [0, n), n < 2^32 (Lemire's multiply-shift; bias below n / 2^32).
  int64_t below(int64_t n) { return int64_t((uint64_t(next()) * uint64_t(n)) >> 32); }
  double uniform() { return double(next()) * (1.0 / 4294967296.0); }  // [0, 1)

 private:
  uint64_t seed_, counter_;
  philox::U4 block_{};
  int used_ = 4;
};

}  // namespace coil::data
