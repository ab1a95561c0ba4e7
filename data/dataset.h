// Datasets of token sequences: the Example every task produces and the interface the loader
// reads (size() + get(i)), as ../shared/DESIGN.md section 6 describes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace coil::data {

// A target that carries no loss and no accuracy (cross_entropy's default ignore_index).
constexpr int32_t kIgnore = -100;
// size() of a generator: example i exists for every i >= 0.
constexpr int64_t kInfinite = -1;

// One sequence. `target` is either per position (same length as `input`, kIgnore where nothing
// is predicted) or one label for the whole sequence (length 1: classification tasks).
struct Example {
  std::vector<int32_t> input;
  std::vector<int32_t> target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Number of examples, or kInfinite.
  virtual int64_t size() const = 0;
  // Fills `out` with example i (reusing its buffers). Must be a pure function of i and the
  // dataset's construction arguments, callable from any thread: the loader's prefetch thread
  // and exact resume rely on it.
  virtual void get(int64_t i, Example& out) const = 0;
  virtual int64_t vocab_size() const = 0;   // input tokens lie in [0, vocab_size)
  virtual int64_t num_classes() const = 0;  // targets lie in [0, num_classes) or are kIgnore
  virtual int64_t max_len() const = 0;      // longest input
  virtual std::string name() const = 0;
};

}  // namespace coil::data
