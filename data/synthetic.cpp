// Generators of the synthetic tasks (copying, selective copying, induction heads, MQAR).
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/example_rng.h"

namespace coil::data {
namespace {

// `count` distinct values from [0, n) in random order (Floyd's subset, then Fisher-Yates).
void distinct(ExampleRng& rng, int64_t n, int64_t count, std::vector<int32_t>& out) {
  out.clear();
  for (int64_t j = n - count; j < n; ++j) {
    int32_t t = int32_t(rng.below(j + 1));
    bool seen = std::find(out.begin(), out.end(), t) != out.end();
    out.push_back(seen ? int32_t(j) : t);
  }
  for (int64_t k = count - 1; k > 0; --k) std::swap(out[k], out[rng.below(k + 1)]);
}

class CopyingTask : public Dataset {
 public:
  CopyingTask(const TaskOptions& o, bool selective) : o_(o), selective_(selective) {}
  int64_t size() const override { return kInfinite; }
  int64_t vocab_size() const override { return o_.vocab; }
  int64_t num_classes() const override { return o_.vocab; }
  int64_t max_len() const override { return o_.seq_len; }
  std::string name() const override { return selective_ ? "selective_copying" : "copying"; }

  void get(int64_t i, Example& ex) const override {
    const int64_t m = o_.num_tokens, region = o_.seq_len - m;  // noise + data region: s4's L + M
    ExampleRng rng(o_.seed, i);
    ex.input.assign(o_.seq_len, 0);
    ex.target.assign(o_.seq_len, kIgnore);
    thread_local std::vector<int32_t> pos;
    if (selective_) {
      distinct(rng, region, m, pos);
      std::sort(pos.begin(), pos.end());
    } else {
      pos.resize(m);
      for (int64_t k = 0; k < m; ++k) pos[k] = int32_t(k);
    }
    for (int64_t k = 0; k < m; ++k) {
      int32_t token = int32_t(1 + rng.below(o_.vocab - 2));  // [1, vocab - 2]
      ex.input[pos[k]] = token;
      ex.input[region + k] = int32_t(o_.vocab - 1);  // marker
      ex.target[region + k] = token;
    }
  }

 private:
  TaskOptions o_;
  bool selective_;
};

class InductionHeadsTask : public Dataset {
 public:
  explicit InductionHeadsTask(const TaskOptions& o) : o_(o), all_(o.loss == "all") {}
  int64_t size() const override { return kInfinite; }
  int64_t vocab_size() const override { return o_.vocab; }
  int64_t num_classes() const override { return o_.vocab; }
  int64_t max_len() const override { return o_.seq_len; }
  std::string name() const override { return "induction_heads"; }

  void get(int64_t i, Example& ex) const override {
    const int64_t n = o_.seq_len;
    const int32_t special = int32_t(o_.vocab - 1);
    ExampleRng rng(o_.seed, i);
    ex.input.resize(n);
    for (int64_t t = 0; t < n - 1; ++t) ex.input[t] = int32_t(rng.below(o_.vocab - 2));
    int64_t p = rng.below(n - 3);
    ex.input[p] = special;
    ex.input[n - 1] = special;
    int32_t answer = ex.input[p + 1];
    if (all_) {
      ex.target.resize(n);
      for (int64_t t = 0; t < n - 1; ++t) ex.target[t] = ex.input[t + 1];
    } else {
      ex.target.assign(n, kIgnore);
    }
    ex.target[n - 1] = answer;
  }

 private:
  TaskOptions o_;
  bool all_;
};

class MqarTask : public Dataset {
 public:
  explicit MqarTask(const TaskOptions& o) : o_(o) {
    const int64_t space = (o.seq_len - 2 * o.num_pairs) / 2;
    weights_.resize(space);
    for (int64_t g = 0; g < space; ++g)
      weights_[g] = o.power_a * std::pow(double(g + 1), o.power_a - 1);
  }
  int64_t size() const override { return kInfinite; }
  int64_t vocab_size() const override { return o_.vocab; }
  int64_t num_classes() const override { return o_.vocab; }
  int64_t max_len() const override { return o_.seq_len; }
  std::string name() const override { return "mqar"; }

  void get(int64_t i, Example& ex) const override {
    const int64_t pairs = o_.num_pairs, context = 2 * pairs, half = o_.vocab / 2;
    ExampleRng rng(o_.seed, i);
    thread_local std::vector<int32_t> keys, values;
    thread_local std::vector<double> w;
    distinct(rng, half - 1, pairs, keys);
    distinct(rng, o_.vocab - half, pairs, values);
    ex.input.assign(o_.seq_len, 0);
    ex.target.assign(o_.seq_len, kIgnore);
    for (int64_t k = 0; k < pairs; ++k) {
      keys[k] += 1;
      values[k] += int32_t(half);
      ex.input[2 * k] = keys[k];
      ex.input[2 * k + 1] = values[k];
    }
    // Gaps drawn one at a time without replacement, renormalising what is left (numpy's
    // choice(replace=False, p=...)).
    w = weights_;
    double total = 0;
    for (double x : w) total += x;
    for (int64_t k = 0; k < pairs; ++k) {
      double u = rng.uniform() * total, acc = 0;
      int64_t g = 0, last = -1;
      for (; g < int64_t(w.size()); ++g) {
        if (w[g] == 0) continue;
        last = g;
        acc += w[g];
        if (u < acc) break;
      }
      if (g == int64_t(w.size())) g = last;  // rounding at the top end
      total -= w[g];
      w[g] = 0;
      ex.input[context + 2 * g] = keys[k];
      ex.target[context + 2 * g] = values[k];
    }
    if (o_.random_non_queries)
      for (int32_t& t : ex.input)
        if (t == 0) t = int32_t(rng.below(o_.vocab));
  }

 private:
  TaskOptions o_;
  std::vector<double> weights_;
};

}  // namespace

uint64_t heldout_seed(uint64_t seed) { return seed ^ 0x9E3779B97F4A7C15ull; }

std::shared_ptr<Dataset> make_task(const TaskOptions& o) {
  const std::string& n = o.name;
  COIL_CHECK(o.seq_len >= 4 && o.seq_len < (int64_t(1) << 29),
             "[task {}] seq_len must lie in [4, 2^29), got {}", n, o.seq_len);
  if (n == "copying" || n == "selective_copying") {
    COIL_CHECK(o.vocab >= 3, "[task {}] vocab must be at least 3 (noise, data, marker), got {}", n,
               o.vocab);
    COIL_CHECK(o.num_tokens >= 1 && 2 * o.num_tokens < o.seq_len,
               "[task {}] num_tokens must lie in [1, seq_len/2), got {} with seq_len {}", n,
               o.num_tokens, o.seq_len);
    return std::make_shared<CopyingTask>(o, n == "selective_copying");
  }
  if (n == "induction_heads") {
    COIL_CHECK(o.vocab >= 3, "[task {}] vocab must be at least 3, got {}", n, o.vocab);
    COIL_CHECK(o.loss == "final" || o.loss == "all",
               "[task {}] loss must be \"final\" or \"all\", got \"{}\"", n, o.loss);
    return std::make_shared<InductionHeadsTask>(o);
  }
  if (n == "mqar") {
    COIL_CHECK(o.seq_len % 2 == 0, "[task mqar] seq_len must be even, got {}", o.seq_len);
    COIL_CHECK(o.num_pairs >= 1 && 4 * o.num_pairs <= o.seq_len,
               "[task mqar] num_pairs must lie in [1, seq_len/4], got {} with seq_len {}",
               o.num_pairs, o.seq_len);
    COIL_CHECK(o.vocab / 2 - 1 >= o.num_pairs,
               "[task mqar] vocab {} has fewer than num_pairs = {} distinct keys", o.vocab,
               o.num_pairs);
    COIL_CHECK(o.power_a > 0, "[task mqar] power_a must be positive, got {}", o.power_a);
    return std::make_shared<MqarTask>(o);
  }
  COIL_FAIL("[task] unknown task \"{}\" (copying, selective_copying, induction_heads, mqar)", n);
}

}  // namespace coil::data
