// Synthetic tasks: each generator's layout and statistics against its recipe
// (../shared/REFERENCE.md section 9), and example i as a pure function of (seed, i).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "data/synthetic.h"

using namespace coil;
using namespace coil::data;

namespace {
TaskOptions task(const std::string& name, int64_t seq_len, int64_t vocab) {
  TaskOptions o;
  o.name = name;
  o.seq_len = seq_len;
  o.vocab = vocab;
  o.seed = 7;
  return o;
}
// Chi-square statistic of counts against a uniform distribution.
double chi2_uniform(const std::vector<int64_t>& counts) {
  double total = 0, chi = 0;
  for (int64_t c : counts) total += double(c);
  double expect = total / double(counts.size());
  for (int64_t c : counts) chi += (double(c) - expect) * (double(c) - expect) / expect;
  return chi;
}
}  // namespace

TEST_CASE("selective copying: M data tokens at sorted random positions, then M markers; targets "
          "are the data tokens at the last M positions") {
  TaskOptions o = task("selective_copying", 64, 16);
  o.num_tokens = 8;
  auto ds = make_task(o);
  const int64_t region = 64 - 8;
  std::vector<int64_t> token_counts(14, 0), pos_counts(region, 0);
  Example ex;
  for (int64_t i = 0; i < 2000; ++i) {
    ds->get(i, ex);
    REQUIRE(ex.input.size() == 64);
    REQUIRE(ex.target.size() == 64);
    std::vector<int32_t> data;
    for (int64_t t = 0; t < region; ++t) {
      CHECK(ex.target[t] == kIgnore);
      if (ex.input[t] != 0) {
        REQUIRE(ex.input[t] >= 1);
        REQUIRE(ex.input[t] <= 14);
        data.push_back(ex.input[t]);
        ++pos_counts[t];
        ++token_counts[ex.input[t] - 1];
      }
    }
    REQUIRE(data.size() == 8);
    for (int64_t k = 0; k < 8; ++k) {
      CHECK(ex.input[region + k] == 15);
      CHECK(ex.target[region + k] == data[k]);
    }
  }
  // 13 degrees of freedom: the 99.9% quantile is 34.5; positions: 55 dof, 99.9% quantile 93.2.
  CHECK(chi2_uniform(token_counts) < 34.5);
  CHECK(chi2_uniform(pos_counts) < 93.2);
}

TEST_CASE("copying puts the data tokens first") {
  TaskOptions o = task("copying", 40, 10);
  o.num_tokens = 5;
  auto ds = make_task(o);
  Example ex;
  ds->get(3, ex);
  for (int k = 0; k < 5; ++k) {
    CHECK(ex.input[k] >= 1);
    CHECK(ex.input[k] <= 8);
    CHECK(ex.target[35 + k] == ex.input[k]);
    CHECK(ex.input[35 + k] == 9);
  }
  for (int t = 5; t < 35; ++t) CHECK(ex.input[t] == 0);
}

TEST_CASE("induction heads: S at a uniform position p followed by X, S at the end, answer X") {
  const int64_t n = 32;
  TaskOptions o = task("induction_heads", n, 16);
  auto ds = make_task(o);
  std::vector<int64_t> p_counts(n - 3, 0), token_counts(14, 0);
  Example ex;
  for (int64_t i = 0; i < 3000; ++i) {
    ds->get(i, ex);
    REQUIRE(ex.input.size() == size_t(n));
    CHECK(ex.input[n - 1] == 15);
    std::vector<int64_t> specials;
    for (int64_t t = 0; t < n; ++t) {
      if (ex.input[t] == 15) specials.push_back(t);
      else {
        REQUIRE(ex.input[t] >= 0);
        REQUIRE(ex.input[t] < 14);  // 14 is H3's no-op token: never drawn
        ++token_counts[ex.input[t]];
      }
    }
    REQUIRE(specials.size() == 2);
    int64_t p = specials[0];
    REQUIRE(p < n - 3);
    ++p_counts[p];
    for (int64_t t = 0; t < n - 1; ++t) CHECK(ex.target[t] == kIgnore);
    CHECK(ex.target[n - 1] == ex.input[p + 1]);
  }
  CHECK(chi2_uniform(p_counts) < 60.0);      // 28 dof: 99.9% quantile 56.9
  CHECK(chi2_uniform(token_counts) < 34.5);  // 13 dof
}

TEST_CASE("induction heads with loss=all: next-token targets everywhere, X at the end") {
  TaskOptions o = task("induction_heads", 20, 8);
  o.loss = "all";
  auto ds = make_task(o);
  Example ex, final_only;
  ds->get(11, ex);
  o.loss = "final";
  make_task(o)->get(11, final_only);
  CHECK(ex.input == final_only.input);  // the switch changes the targets only
  for (int t = 0; t < 19; ++t) CHECK(ex.target[t] == ex.input[t + 1]);
  CHECK(ex.target[19] == final_only.target[19]);
}

TEST_CASE("mqar: pairs first, each key queried once at an even offset with its value as target") {
  TaskOptions o = task("mqar", 64, 256);
  o.num_pairs = 8;
  o.random_non_queries = false;
  auto ds = make_task(o);
  const int64_t context = 16, space = (64 - context) / 2;
  std::vector<int64_t> gap_counts(space, 0);
  Example ex;
  for (int64_t i = 0; i < 2000; ++i) {
    ds->get(i, ex);
    std::map<int32_t, int32_t> kv;
    std::set<int32_t> values;
    for (int k = 0; k < 8; ++k) {
      int32_t key = ex.input[2 * k], value = ex.input[2 * k + 1];
      REQUIRE(key >= 1);
      REQUIRE(key < 128);
      REQUIRE(value >= 128);
      REQUIRE(value < 256);
      kv[key] = value;
      values.insert(value);
    }
    REQUIRE(kv.size() == 8);      // distinct keys
    REQUIRE(values.size() == 8);  // distinct values
    int labelled = 0;
    for (int64_t t = 0; t < 64; ++t) {
      if (ex.target[t] == kIgnore) {
        if (t >= context) CHECK(ex.input[t] == 0);
        continue;
      }
      ++labelled;
      REQUIRE(t >= context);
      REQUIRE((t - context) % 2 == 0);
      REQUIRE(kv.count(ex.input[t]) == 1);
      CHECK(ex.target[t] == kv[ex.input[t]]);
      ++gap_counts[(t - context) / 2];
    }
    CHECK(labelled == 8);
  }
  // p(g) ~ (g+1)^(-0.99): short gaps dominate; the first slot is used far more than the last.
  CHECK(gap_counts[0] > 3 * gap_counts[space - 1]);
  CHECK(gap_counts[0] >= gap_counts[space / 2]);
}

TEST_CASE("mqar with random_non_queries fills the other positions from the whole vocabulary") {
  TaskOptions o = task("mqar", 64, 256);
  o.num_pairs = 4;
  auto ds = make_task(o);
  Example ex;
  int64_t zeros = 0, high = 0, total = 0;
  for (int64_t i = 0; i < 200; ++i) {
    ds->get(i, ex);
    for (int64_t t = 8; t < 64; ++t)
      if (ex.target[t] == kIgnore) {
        zeros += ex.input[t] == 0;
        high += ex.input[t] >= 128;
        ++total;
      }
  }
  CHECK(zeros < total / 50);
  CHECK(std::abs(double(high) / double(total) - 0.5) < 0.05);
}

TEST_CASE("example i is a pure function of (seed, i)") {
  for (const char* name : {"copying", "selective_copying", "induction_heads", "mqar"}) {
    TaskOptions o = task(name, 64, 128);
    o.num_tokens = 4;
    o.num_pairs = 4;
    auto a = make_task(o), b = make_task(o);
    Example x, y, z;
    b->get(5, z);  // a different history must not matter
    a->get(9, x);
    b->get(9, y);
    CHECK(x.input == y.input);
    CHECK(x.target == y.target);
    a->get(10, z);
    CHECK(z.input != x.input);
    o.seed = heldout_seed(o.seed);
    make_task(o)->get(9, z);
    CHECK(z.input != x.input);
  }
}

TEST_CASE("bad task options name the task and the key") {
  TaskOptions o = task("selective_copying", 20, 16);
  o.num_tokens = 10;
  CHECK_THROWS_WITH_AS(make_task(o), doctest::Contains("num_tokens"), Error);
  o = task("mqar", 63, 256);
  CHECK_THROWS_WITH_AS(make_task(o), doctest::Contains("even"), Error);
  o = task("induction_heads", 64, 16);
  o.loss = "some";
  CHECK_THROWS_WITH_AS(make_task(o), doctest::Contains("loss"), Error);
  o = task("sorting", 64, 16);
  CHECK_THROWS_WITH_AS(make_task(o), doctest::Contains("sorting"), Error);
}
