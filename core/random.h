// Random tensors from a counter-based Philox stream keyed by (seed, offset): the same seed gives
// bitwise the same values on the CPU and on CUDA, and a saved (seed, offset) resumes the stream.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace coil {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves `words` 32-bit words of the stream and returns where they start.
  uint64_t reserve(uint64_t words) {
    uint64_t at = offset_;
    offset_ += (words + 3) / 4 * 4;  // keep every draw aligned to a Philox block
    return at;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // resets the default generator to (seed, 0)

Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);   // [0, 1)
Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr);  // N(0, 1)
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opts = {},
               Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double stddev, TensorOptions opts = {},
              Generator* gen = nullptr);
// Integers in [low, high); default dtype i64.
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               TensorOptions opts = {DType::i64, Device::cpu()}, Generator* gen = nullptr);

}  // namespace coil
