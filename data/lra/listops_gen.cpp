// The ListOps generator (LRA's listops.py algorithm): random trees of MIN/MAX/MED/SM over
// digits, kept when 500 < length < 2000, deduplicated, written as basic_{train,val,test}.tsv.
#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <unordered_set>

#include "core/error.h"
#include "data/example_rng.h"
#include "data/lra/generate.h"
#include "data/lra/lra.h"

namespace fs = std::filesystem;

namespace coil::data::lra {
namespace {

// One candidate tree, drawn from its own stream. Stops early (and is dropped) once it reaches
// max_len tokens, so the heavy tail of the branching process costs nothing.
class TreeDraw {
 public:
  TreeDraw(const ListOpsGenOptions& o, ExampleRng& rng, std::vector<int32_t>& tokens)
      : o_(o), rng_(rng), tokens_(tokens) {}
  bool too_long() const { return int64_t(tokens_.size()) >= o_.max_len; }

  // The tree's value (LRA: a node at depth < max_depth is an operator with probability
  // 1 - leaf_prob; at max_depth it is always a digit).
  int draw(int depth) {
    if (depth >= o_.max_depth || rng_.uniform() < o_.leaf_prob) {
      int d = int(rng_.below(10));
      tokens_.push_back(kListOpsDigit0 + d);
      return d;
    }
    int n = 2 + int(rng_.below(o_.max_args - 1));  // 2..max_args arguments
    int op = int(rng_.below(4));
    tokens_.push_back(kListOpsMin + op);
    int values[16];
    for (int k = 0; k < n; ++k) {
      if (too_long()) return 0;
      values[k] = draw(depth + 1);
    }
    tokens_.push_back(kListOpsEnd);
    std::sort(values, values + n);
    switch (op) {
      case 0:
        return values[0];
      case 1:
        return values[n - 1];
      case 2:
        return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;  // floor
      default: {
        int sum = 0;
        for (int k = 0; k < n; ++k) sum += values[k];
        return sum % 10;
      }
    }
  }

 private:
  const ListOpsGenOptions& o_;
  ExampleRng& rng_;
  std::vector<int32_t>& tokens_;
};

struct Key {
  uint64_t a, b;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  size_t operator()(const Key& k) const { return size_t(k.a ^ (k.b * 0x9E3779B97F4A7C15ull)); }
};
// Two independent 64-bit hashes of the token sequence: a collision of both is out of reach.
Key key_of(const std::vector<int32_t>& t) {
  uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
  for (int32_t x : t) {
    a = (a ^ uint64_t(x)) * 1099511628211ull;
    b = (b + uint64_t(x) + 1) * 0x9E3779B97F4A7C15ull;
    b ^= b >> 29;
  }
  return {a, b};
}

}  // namespace

ListOpsGenStats generate_listops(const ListOpsGenOptions& o) {
  COIL_CHECK(o.train >= 0 && o.val >= 0 && o.test >= 0 && o.train + o.val + o.test > 0,
             "[lra listops] split sizes must be >= 0 with a positive total");
  COIL_CHECK(o.max_args >= 2 && o.max_args <= 16 && o.max_depth >= 1 && o.min_len < o.max_len,
             "[lra listops] bad generator options: max_args {}, max_depth {}, lengths ({}, {})",
             o.max_args, o.max_depth, o.min_len, o.max_len);
  std::error_code ec;
  fs::create_directories(o.out, ec);
  COIL_CHECK(fs::is_directory(o.out), "[lra listops] cannot create {}", o.out);
  const int64_t total = o.train + o.val + o.test;
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();

  ListOpsGenStats stats;
  std::vector<std::vector<int32_t>> kept;
  std::vector<int> targets;
  std::unordered_set<Key, KeyHash> seen;
  // Candidates are drawn in parallel blocks and accepted in index order, so the output does not
  // depend on the number of threads.
  constexpr int64_t kBlock = 8192;
  std::vector<std::vector<int32_t>> block(kBlock);
  std::vector<int> values(kBlock);
  while (int64_t(kept.size()) < total) {
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
    for (int64_t c = 0; c < kBlock; ++c) {
      ExampleRng rng(o.seed, stats.candidates + c);
      block[c].clear();
      TreeDraw tree(o, rng, block[c]);
      values[c] = tree.draw(1);
      if (tree.too_long() || int64_t(block[c].size()) <= o.min_len) block[c].clear();
    }
    for (int64_t c = 0; c < kBlock && int64_t(kept.size()) < total; ++c) {
      ++stats.candidates;
      if (block[c].empty()) continue;
      if (!seen.insert(key_of(block[c])).second) {
        ++stats.duplicates;
        continue;
      }
      kept.push_back(std::move(block[c]));
      targets.push_back(values[c]);
    }
  }
  stats.kept = int64_t(kept.size());

  const std::pair<const char*, int64_t> splits[] = {
      {"train", o.train}, {"val", o.val}, {"test", o.test}};
  int64_t at = 0;
  for (const auto& [name, count] : splits) {
    fs::path path = fs::path(o.out) / fmt::format("basic_{}.tsv", name);
    std::ofstream out(path, std::ios::binary);
    out << "Source\tTarget\n";
    for (int64_t k = at; k < at + count; ++k)
      out << listops_source(kept[k]) << '\t' << targets[k] << '\n';
    at += count;
    COIL_CHECK(out.good(), "[lra listops] cannot write {}", path.string());
  }
  return stats;
}

}  // namespace coil::data::lra
