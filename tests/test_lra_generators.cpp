// LRA generators: ListOps targets against an independent evaluator, lengths in range, no
// duplicates; Pathfinder labels against gap-tolerant connectivity on the pixels, dashed snakes,
// balanced splits; identical files for the same seed whatever the thread count; the `coil data`
// subcommands.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "data/lra/generate.h"
#include "data/lra/lra.h"
#include "test_lra_support.h"
#include "train/cmd_data.h"

using namespace coil::data;
using namespace coil::data::lra;
using namespace coil_lra_test;

namespace {

std::shared_ptr<Dataset> open(const std::string& task, const fs::path& root,
                              const std::string& split) {
  LraOptions o;
  o.task = task;
  o.root = root.string();
  o.split = split;
  return make_lra_dataset(o);
}

// Evaluates a ListOps token stream with an explicit stack (no recursion, no tree): written
// independently of the generator's recursive evaluator.
int evaluate(const std::vector<int32_t>& tokens) {
  std::vector<std::vector<int>> frames;  // the arguments seen by each open operator
  std::vector<int32_t> ops;
  int result = -1;
  for (int32_t t : tokens) {
    if (t >= kListOpsMin && t <= kListOpsSm) {
      ops.push_back(t);
      frames.emplace_back();
      continue;
    }
    int value;
    if (t == kListOpsEnd) {
      std::vector<int> a = frames.back();
      int32_t op = ops.back();
      frames.pop_back(), ops.pop_back();
      std::sort(a.begin(), a.end());
      long sum = 0;
      for (int v : a) sum += v;
      double median =
          a.size() % 2 ? a[a.size() / 2] : 0.5 * (a[a.size() / 2 - 1] + a[a.size() / 2]);
      value = op == kListOpsMin   ? a.front()
              : op == kListOpsMax ? a.back()
              : op == kListOpsMed ? int(std::floor(median))
                                  : int(sum % 10);
    } else {
      value = t - kListOpsDigit0;
    }
    if (frames.empty()) result = value;
    else frames.back().push_back(value);
  }
  return result;
}

std::string dir_fingerprint(const fs::path& root) {
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file())
      lines.push_back(fs::relative(e.path(), root).string() + ":" +
                      std::to_string(std::hash<std::string>()(read_bytes(e.path()))));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The ink pixels (> 0) linked to pixel `from` by steps of Chebyshev length <= link, i.e. across
// gaps of up to link - 1 blank pixels (link = 1: plain 8-connectivity). Pixels with `done` set
// are skipped; the ones reached are marked in it.
std::vector<int> linked(const std::vector<uint8_t>& px, int res, int from, int link,
                        std::vector<char>& done) {
  std::vector<int> out{from};
  done[from] = 1;
  for (size_t k = 0; k < out.size(); ++k) {
    int i = out[k] % res, j = out[k] / res;
    for (int y = std::max(0, j - link); y <= std::min(res - 1, j + link); ++y)
      for (int x = std::max(0, i - link); x <= std::min(res - 1, i + link); ++x)
        if (!done[y * res + x] && px[y * res + x] > 0)
          done[y * res + x] = 1, out.push_back(y * res + x);
  }
  return out;
}

// The number of 8-connected pieces the pixels `set` form.
int pieces(const std::vector<uint8_t>& px, int res, const std::vector<int>& set) {
  std::vector<uint8_t> only(px.size(), 0);
  for (int q : set) only[q] = 1;
  std::vector<char> done(px.size(), 0);
  int n = 0;
  for (int q : set)
    if (!done[q]) linked(only, res, q, 1, done), ++n;
  return n;
}

}  // namespace

TEST_CASE("lra listops generator: targets match an independent evaluator, lengths in range") {
  TempDir dir;
  ListOpsGenOptions o;
  o.out = dir.path.string();
  o.seed = 7;
  o.train = 300, o.val = 40, o.test = 40;
  o.threads = 2;
  ListOpsGenStats stats = generate_listops(o);
  CHECK(stats.kept == 380);
  CHECK(stats.candidates > stats.kept);
  std::set<std::vector<int32_t>> all;
  std::vector<int> histogram(4, 0);  // lengths in (500, 875], ..., (1625, 2000)
  std::vector<int> label_count(10, 0);
  for (auto [split, n] : {std::pair{"train", 300}, {"val", 40}, {"test", 40}}) {
    auto d = open("listops", dir.path, split);
    REQUIRE(d->size() == n);
    for (int64_t i = 0; i < d->size(); ++i) {
      Example ex;
      d->get(i, ex);
      CHECK(ex.target[0] == evaluate(ex.input));
      CHECK(ex.input.size() > 500);
      CHECK(ex.input.size() < 2000);
      histogram[std::min<size_t>(3, (ex.input.size() - 501) / 375)]++;
      label_count[ex.target[0]]++;
      all.insert(ex.input);
    }
  }
  CHECK(all.size() == 380);  // no duplicates across the splits
  MESSAGE("length histogram (500,875] .. (1625,2000): ", histogram[0], " ", histogram[1], " ",
          histogram[2], " ", histogram[3]);
  CHECK(histogram[0] > histogram[3]);  // the branching process favours short trees
  CHECK(histogram[3] > 0);
  CHECK(std::count_if(label_count.begin(), label_count.end(), [](int c) { return c > 0; }) >= 8);
  // The Source column is the released nested form, which the reader strips back.
  std::string tsv = read_bytes(dir / "basic_val.tsv");
  CHECK(tsv.rfind("Source\tTarget\n( ( ", 0) == 0);
}

TEST_CASE("lra listops generator: same seed -> identical files for 1 and 2 threads") {
  TempDir a, b, c;
  ListOpsGenOptions o;
  o.train = 60, o.val = 10, o.test = 10;
  o.seed = 3;
  o.out = a.path.string(), o.threads = 1;
  generate_listops(o);
  o.out = b.path.string(), o.threads = 2;
  generate_listops(o);
  o.out = c.path.string(), o.seed = 4;
  generate_listops(o);
  CHECK(read_bytes(a / "basic_train.tsv") == read_bytes(b / "basic_train.tsv"));
  CHECK(read_bytes(a / "basic_test.tsv") == read_bytes(b / "basic_test.tsv"));
  CHECK(read_bytes(a / "basic_train.tsv") != read_bytes(c / "basic_train.tsv"));
}

// Snakes are dashed (a gap of 2 * margin between successive paddles), so plain pixel
// connectivity says nothing; the generator instead keeps ink of different snakes more than
// 2 * margin pixels apart (Chebyshev) while each gap spans at most 2 * margin. Linking ink across
// gaps of that size must therefore join the two markers exactly on positives: a wrong label, a
// distractor or second snake brought too close, or a gap grown too wide all fail here.
TEST_CASE("lra pathfinder generator: labels agree with gap-tolerant connectivity; snakes dashed") {
  for (int res : {32, 128}) {
    const SnakeParams p = snake_params(res);
    const int n = res == 32 ? 2000 : 200, link = 2 * p.margin;
    std::vector<uint8_t> px(res * res);
    int agree = 0, positives = 0, solid = 0;
    double ink = 0, dashes = 0;
    for (int g = 0; g < n; ++g) {
      double m[4];
      int label = pathfinder_label_of(g);
      render_pathfinder(p, res, 11, g, label, px.data(), m);
      int a = int(m[1]) * res + int(m[0]), b = int(m[3]) * res + int(m[2]);
      REQUIRE(px[a] > 0);
      REQUIRE(px[b] > 0);
      std::vector<char> done(px.size(), 0);
      std::vector<int> snake = linked(px, res, a, link, done);
      agree += bool(done[b]) == (label == 1);
      positives += label;
      CHECK(std::hypot(m[0] - m[2], m[1] - m[3]) > 2 * p.marker_radius);
      if (label == 1) {
        int k = pieces(px, res, snake);
        dashes += k;
        solid += k == 1;  // the markers' snake as one unbroken stroke
      }
      for (uint8_t v : px) ink += v > 0;
    }
    MESSAGE("resolution ", res, ": ", agree, " of ", n, " labels agree; pieces per marked snake ",
            dashes / positives, " (", solid, " unbroken); inked pixels per image ", ink / n);
    CHECK(agree == n);
    CHECK(positives == n / 2);
    // A regression to continuous strokes makes a snake one piece.
    CHECK(dashes / positives >= (res == 32 ? 4 : 15));
    CHECK(solid * 10 < positives);
  }
  SnakeParams thin = snake_params(32);
  thin.thickness = 0.25;  // its gaps could lose their end pixels: refused
  std::vector<uint8_t> px(32 * 32);
  CHECK_THROWS_AS(render_pathfinder(thin, 32, 0, 0, 0, px.data()), coil::Error);
}

TEST_CASE("lra pathfinder generator: released layout, balanced splits, same seed same files") {
  TempDir a, b;
  PathfinderGenOptions o;
  o.count = 400, o.per_dir = 150, o.seed = 5;
  o.out = a.path.string(), o.threads = 1;
  generate_pathfinder(o);
  o.out = b.path.string(), o.threads = 2;
  generate_pathfinder(o);
  CHECK(fs::exists(a / "imgs/2/sample_99.png"));
  CHECK(fs::exists(a / "metadata/2.npy"));
  CHECK(dir_fingerprint(a.path) == dir_fingerprint(b.path));
  std::vector<uint8_t> px(32 * 32);
  for (auto [split, n] : {std::pair{"train", 320}, {"val", 40}, {"test", 40}}) {
    auto d = open("pathfinder", a.path, split);
    REQUIRE(d->size() == n);
    int ones = 0;
    for (int64_t i = 0; i < n; ++i) {
      Example ex;
      d->get(i, ex);
      ones += ex.target[0];
    }
    CHECK(ones * 2 == n);
  }
  // The files are the renderer's pixels: image 123 (train) read back equals a fresh render.
  auto train = open("pathfinder", a.path, "train");
  Example ex;
  train->get(123 / 10 * 8 + 123 % 10, ex);
  render_pathfinder(snake_params(32), 32, 5, 123, pathfinder_label_of(123), px.data());
  CHECK(std::equal(px.begin(), px.end(), ex.input.begin()));
}

TEST_CASE("lra: coil data listops / pathfinder subcommands write the layouts, refuse bad use") {
  TempDir dir;
  auto run = [](std::vector<std::string> args) {
    CLI::App app;
    coil::train::DataCommands data(app);
    std::reverse(args.begin(), args.end());
    app.parse(args);
    REQUIRE(data.parsed());
    return data.run();
  };
  fs::path lo = dir / "listops";
  CHECK(run({"data", "listops", "--out", lo.string(), "--train", "20", "--val", "5", "--test",
             "5"}) == 0);
  CHECK(open("listops", lo, "test")->size() == 5);
  CHECK(run({"data", "listops", "--out", lo.string()}) == 2);  // not empty, no --force
  fs::path pf = dir / "pf";
  CHECK(run({"data", "pathfinder", "--resolution", "32", "--out", pf.string(), "--count", "20"}) ==
        0);
  CHECK(open("pathfinder", pf, "val")->size() == 2);
  CHECK_THROWS_AS(run({"data", "pathfinder", "--resolution", "64", "--out", pf.string()}),
                  CLI::ValidationError);
}
