// The loader: seeded per-epoch shuffling, padding and masks, prefetching that changes nothing,
// and a cursor that resumes the exact batch sequence.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "data/loader.h"
#include "data/synthetic.h"

using namespace coil;
using namespace coil::data;

namespace {
// Finite dataset: example i has length 1 + i % 5, tokens i, targets i + 1; example 13 throws.
class RampDataset : public Dataset {
 public:
  explicit RampDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  void get(int64_t i, Example& ex) const override {
    COIL_CHECK(i != 13 || n_ != 14, "[ramp] example 13 is broken");
    int64_t len = 1 + i % 5;
    ex.input.assign(len, int32_t(i));
    ex.target.assign(len, int32_t(i + 1));
  }
  int64_t vocab_size() const override { return n_; }
  int64_t num_classes() const override { return n_ + 1; }
  int64_t max_len() const override { return 5; }
  std::string name() const override { return "ramp"; }

 private:
  int64_t n_;
};

std::vector<int64_t> firsts(const Batch& b) {  // token 0 of each row = the example index
  std::vector<int64_t> out;
  auto v = b.input.to_vector<int64_t>();
  for (int64_t r = 0; r < b.input.size(0); ++r) out.push_back(v[r * b.input.size(1)]);
  return out;
}
}  // namespace

TEST_CASE("each epoch of a finite dataset is a seeded permutation, different per epoch") {
  auto ds = std::make_shared<RampDataset>(12);
  Loader loader(ds, {.batch_size = 4, .seed = 3});
  std::vector<std::vector<int64_t>> epochs(2);
  for (int e = 0; e < 2; ++e)
    for (int k = 0; k < 3; ++k)
      for (int64_t i : firsts(loader.next())) epochs[e].push_back(i);
  for (auto& ep : epochs) {
    std::set<int64_t> seen(ep.begin(), ep.end());
    CHECK(seen.size() == 12);
  }
  CHECK(epochs[0] != epochs[1]);
  std::vector<int64_t> sorted(epochs[0]);
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted != epochs[0]);  // shuffled
  Loader again(ds, {.batch_size = 4, .seed = 3});
  CHECK(firsts(again.next()) == std::vector<int64_t>(epochs[0].begin(), epochs[0].begin() + 4));
  Loader other(ds, {.batch_size = 4, .seed = 4});
  CHECK(firsts(other.next()) != std::vector<int64_t>(epochs[0].begin(), epochs[0].begin() + 4));
}

TEST_CASE("batches are padded to their longest example with masks, lengths and ignored targets") {
  auto ds = std::make_shared<RampDataset>(10);
  Loader loader(ds, {.batch_size = 5, .shuffle = false, .pad_id = -1});
  Batch b = loader.next();  // examples 0..4, lengths 1..5
  REQUIRE(b.input.shape() == Shape{5, 5});
  CHECK(b.tokens == 15);
  CHECK(b.lengths.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3, 4, 5});
  auto in = b.input.to_vector<int64_t>(), tg = b.target.to_vector<int64_t>();
  auto mk = b.mask.to_vector<float>();
  for (int r = 0; r < 5; ++r)
    for (int t = 0; t < 5; ++t) {
      bool real = t <= r;
      CHECK(mk[r * 5 + t] == (real ? 1.f : 0.f));
      CHECK(in[r * 5 + t] == (real ? r : -1));
      CHECK(tg[r * 5 + t] == (real ? r + 1 : kIgnore));
    }
}

TEST_CASE("drop_last skips the short last batch; without it the last batch is short") {
  auto ds = std::make_shared<RampDataset>(10);
  Loader dropping(ds, {.batch_size = 4, .shuffle = false});
  dropping.next();
  dropping.next();
  CHECK(firsts(dropping.next()) == std::vector<int64_t>{0, 1, 2, 3});  // epoch 1 starts
  Loader keeping(ds, {.batch_size = 4, .shuffle = false, .drop_last = false});
  keeping.next();
  keeping.next();
  CHECK(firsts(keeping.next()) == std::vector<int64_t>{8, 9});
  CHECK(keeping.cursor() == LoaderCursor{0, 10});
}

TEST_CASE("a loader resumed from a saved cursor yields the same batches, with or without "
          "prefetch") {
  for (bool infinite : {false, true}) {
    std::shared_ptr<const Dataset> ds;
    if (infinite) {
      TaskOptions o;
      o.name = "induction_heads";
      o.seq_len = 16;
      ds = make_task(o);
    } else {
      ds = std::make_shared<RampDataset>(11);
    }
    Loader a(ds, {.batch_size = 3, .seed = 9, .prefetch = 3});
    std::vector<std::vector<int64_t>> seq;
    LoaderCursor saved;
    for (int k = 0; k < 9; ++k) {
      if (k == 4) saved = a.cursor();
      seq.push_back(a.next().input.to_vector<int64_t>());
    }
    Loader b(ds, {.batch_size = 3, .seed = 9, .prefetch = 0});
    b.set_cursor(saved);
    for (int k = 4; k < 9; ++k) CHECK(b.next().input.to_vector<int64_t>() == seq[k]);
    a.set_cursor(saved);  // rewinding a prefetching loader drops what it had prepared
    CHECK(a.next().input.to_vector<int64_t>() == seq[4]);
  }
}

TEST_CASE("an error in the prefetch thread reaches the caller") {
  auto ds = std::make_shared<RampDataset>(14);
  Loader loader(ds, {.batch_size = 14, .shuffle = false, .prefetch = 2});
  CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("example 13 is broken"), Error);
}
