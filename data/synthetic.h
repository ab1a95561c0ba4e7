// The synthetic tasks of ../shared/REFERENCE.md section 9 as infinite datasets: example i is a
// pure function of (seed, i) through Philox, so any batch can be regenerated and resume is exact.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"

namespace coil::data {

// Every task's knobs in one struct (the config's `task` section maps onto it one to one).
// seq_len is always the full input length the model sees.
struct TaskOptions {
  std::string name = "selective_copying";  // copying | selective_copying | induction_heads | mqar
  int64_t seq_len = 64;
  int64_t vocab = 16;
  uint64_t seed = 0;
  // copying, selective_copying (s4's recipe): num_tokens data tokens from [1, vocab - 2] among
  // seq_len - 2 * num_tokens noise tokens (0), then num_tokens markers (vocab - 1); the targets
  // are the data tokens, at the last num_tokens positions. Copying puts the data tokens first,
  // selective copying at sorted uniformly random positions. (s4's L is seq_len - 2*num_tokens.)
  int64_t num_tokens = 16;
  // induction_heads (H3/safari layout): tokens from [0, vocab - 2) (vocab - 2 is H3's unused
  // no-op token), the special token S = vocab - 1 at a random position p in [0, seq_len - 3)
  // followed by X, and S again at the end; the answer X is the target of the last position.
  // loss "final": only that target; "all": next-token targets at every position (H3's training
  // targets), the last one being X.
  std::string loss = "final";
  // mqar (zoology's multiquery_ar): num_pairs (key, value) pairs, keys distinct from
  // [1, vocab/2), values distinct from [vocab/2, vocab); each key queried once at an even offset
  // 2g after the pairs, g drawn without replacement with p(g) ~ (g+1)^(power_a - 1); the target
  // at the query is the value; other positions are random tokens (random_non_queries) or 0.
  int64_t num_pairs = 8;
  double power_a = 0.01;
  bool random_non_queries = true;
};

// Checks the options (coil::Error naming the task and the key otherwise) and builds the task.
std::shared_ptr<Dataset> make_task(const TaskOptions& options);

// The seed of the held-out split of a task trained with `seed`: a different Philox key, so no
// held-out example is a training example by construction of the stream.
uint64_t heldout_seed(uint64_t seed);

}  // namespace coil::data
