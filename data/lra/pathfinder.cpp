// Reader of the released Pathfinder / Path-X layout: metadata/k.npy text lines "imgs/k
// sample_i.png i LABEL ..." naming gray PNGs under the same root.
#include <omp.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/lra/png_io.h"
#include "data/lra/read_util.h"
#include "data/lra/readers.h"
#include "data/lra/stored.h"

namespace fs = std::filesystem;

namespace coil::data::lra {

int pathfinder_split_of(int64_t g) {
  int r = int(g % 10);
  return r == 8 ? 1 : r == 9 ? 2 : 0;  // 0 train, 1 val, 2 test
}

std::shared_ptr<Dataset> read_pathfinder(const LraOptions& o, BadInputLog& log) {
  const int res = o.task == "pathx" ? 128 : 32;
  const std::string layout = fmt::format(
      "imgs/k/sample_i.png ({0}x{0} gray) and metadata/k.npy text lines \"imgs/k sample_i.png i "
      "LABEL ...\"",
      res);
  require_path(o.root, true, o.task, layout);
  fs::path meta_dir = fs::path(o.root) / "metadata";
  require_path(meta_dir, true, o.task, layout);
  // Metadata files in numeric order of k (directory order is not portable).
  std::vector<std::pair<int64_t, fs::path>> metas;
  for (const auto& entry : fs::directory_iterator(meta_dir)) {
    const fs::path& p = entry.path();
    std::string stem = p.stem().string();
    if (p.extension() != ".npy" || stem.empty() ||
        !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    metas.emplace_back(std::stoll(stem), p);
  }
  std::sort(metas.begin(), metas.end());
  COIL_CHECK(!metas.empty(), "[lra {}] no metadata/k.npy files in {}: expected {}", o.task,
             meta_dir.string(), layout);

  const int want = o.split == "train" ? 0 : o.split == "val" ? 1 : 2;
  struct Item {
    std::string meta;
    int64_t line;
    fs::path png;
    int label;
  };
  std::vector<Item> items;
  int64_t g = 0;  // data lines so far: a bad line still takes its place in the split
  std::string text;
  for (const auto& [k, meta] : metas) {
    COIL_CHECK(read_file(meta, text), "[lra {}] cannot read {}", o.task, meta.string());
    auto lines = split_lines(text);
    for (size_t n = 0; n < lines.size(); ++n) {
      std::vector<std::string_view> f;
      for (std::string_view w : split(lines[n], ' '))
        if (!w.empty()) f.push_back(w);
      if (f.empty()) continue;
      if (pathfinder_split_of(g++) != want) continue;
      std::string bad;
      if (f.size() < 4)
        bad = fmt::format(
            "malformed line: expected \"imgs/k sample_i.png i LABEL ...\", found {} "
            "field{}",
            f.size(), f.size() == 1 ? "" : "s");
      else if (f[3] != "0" && f[3] != "1")
        bad = fmt::format("label \"{}\" outside the classes 0..1", f[3]);
      if (!bad.empty()) {
        log.bad(meta.string(), int64_t(n + 1), bad);
        continue;
      }
      items.push_back({meta.string(), int64_t(n + 1),
                       fs::path(o.root) / std::string(f[0]) / std::string(f[1]), f[3][0] - '0'});
    }
  }

  // Decode in parallel; report in order afterwards (a throw cannot leave an OpenMP region).
  const int64_t n_items = int64_t(items.size());
  std::vector<std::string> pixels(n_items), errors(n_items);
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n_items; ++i) {
    std::error_code ec;
    if (!fs::is_regular_file(items[i].png, ec)) {
      errors[i] = fmt::format("points at a missing file {}", items[i].png.string());
      continue;
    }
    int w = 0, h = 0;
    std::vector<uint8_t> px;
    std::string why = read_png_gray(items[i].png.string(), w, h, px);
    if (!why.empty()) errors[i] = fmt::format("unreadable PNG {}: {}", items[i].png.string(), why);
    else if (w != res || h != res)
      errors[i] = fmt::format("{} is {}x{}, expected {}x{}", items[i].png.string(), w, h, res, res);
    else pixels[i].assign(px.begin(), px.end());
  }
  auto data = std::make_shared<StoredDataset>(fmt::format("lra {} {}", o.task, o.split), 256, 2, 0);
  for (int64_t i = 0; i < n_items; ++i) {
    if (!errors[i].empty()) {
      log.bad(items[i].meta, items[i].line, errors[i]);
      continue;
    }
    data->add(pixels[i], items[i].label);
    std::string().swap(pixels[i]);
  }
  return data;
}

}  // namespace coil::data::lra
