// The Pathfinder generator: paddle snakes (chains of short antialiased line segments) on a black
// canvas, two markers, and distractor snakes; label 1 when both markers sit on the same snake.
// Written in the released layout: imgs/k/sample_i.png + metadata/k.npy text lines.
//
// Snakes of different identity never come within `margin` blank pixels of each other (checked on
// the pixels they ink, markers included), so on the rendered image the two markers are connected
// exactly when they lie on one snake. Negative images also hold two main snakes, each with one
// marker, so the label is not visible in the amount of ink.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/example_rng.h"
#include "data/lra/generate.h"
#include "data/lra/png_io.h"

namespace fs = std::filesystem;

namespace coil::data::lra {

SnakeParams snake_params(int resolution) {
  // 32: ../shared/REFERENCE.md section 10 (pathfinder32, curv_contour_length_14).
  if (resolution == 32) return {14, 2.0, 0.5, 1, 1.0, 7.0, 1.5, 5, 4};
  // 128, the Path-X "hard" setting chosen here: contours of 25 paddles x 4 px (100 px, 3.6x the
  // 32 px task's 28 px at 4x the size), thickness 1.5, 2 px margins, markers of radius 3 at least
  // 28 px apart, and 20 distractor snakes of 5 paddles.
  COIL_CHECK(resolution == 128, "[lra pathfinder] resolution: expected 32 or 128, got {}",
             resolution);
  return {25, 4.0, 1.5, 2, 1.0, 28.0, 3.0, 20, 5};
}

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Pt {
  double x, y;
};

double distance(Pt a, Pt b) {
  return std::sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y));
}

class Canvas {
 public:
  Canvas(const SnakeParams& p, int res)
      : p_(p), res_(res), ink_(res * res), blocked_(res * res), stamp_(res * res) {}

  void clear() {
    std::fill(ink_.begin(), ink_.end(), 0.f);
    std::fill(blocked_.begin(), blocked_.end(), 0);
  }

  // Grows one snake of n paddles; markers at its start and/or end; the start at least
  // seed_distance from `avoid` when given. Commits it and returns true, or false after tries.
  bool grow(ExampleRng& rng, int n, bool marker_start, bool marker_end, const Pt* avoid, Pt* start,
            Pt* end) {
    const double half = p_.thickness / 2, edge = half + 1.0, medge = p_.marker_radius + 1.0;
    for (int attempt = 0; attempt < 50; ++attempt) {
      pending_.clear();
      double b = marker_start ? medge : edge;
      Pt cur{b + rng.uniform() * (res_ - 2 * b), b + rng.uniform() * (res_ - 2 * b)};
      Pt first = cur;
      if (avoid && distance(cur, *avoid) < p_.seed_distance) continue;
      if (marker_start && !stage_disk(cur)) continue;
      double dir = rng.uniform() * 2 * kPi;
      bool ok = true;
      for (int k = 0; k < n && ok; ++k) {
        ok = false;
        for (int t = 0; t < 20 && !ok; ++t) {
          double turn = (2 * rng.uniform() - 1) * p_.continuity * (kPi / 4);
          double nd = k == 0 ? dir : dir + turn;
          Pt next{cur.x + p_.paddle_length * std::cos(nd), cur.y + p_.paddle_length * std::sin(nd)};
          if (next.x < edge || next.y < edge || next.x > res_ - edge || next.y > res_ - edge)
            continue;
          if (!stage_segment(cur, next)) continue;
          cur = next, dir = nd, ok = true;
        }
      }
      if (!ok) continue;
      if (marker_end) {
        if (cur.x < medge || cur.y < medge || cur.x > res_ - medge || cur.y > res_ - medge)
          continue;
        if (marker_start && distance(cur, first) < p_.seed_distance) continue;
        if (!stage_disk(cur)) continue;
      }
      commit();
      if (start) *start = first;
      if (end) *end = cur;
      return true;
    }
    return false;
  }

  void to_bytes(uint8_t* out) const {
    for (int i = 0; i < res_ * res_; ++i) out[i] = uint8_t(std::lround(255.f * ink_[i]));
  }

 private:
  // Stages the pixels a shape inks (intensity = coverage of a pixel by a shape whose edge is
  // blurred over one pixel), refusing any pixel within the margin of another snake. dist2 gives
  // the squared distance of a pixel centre to the shape.
  template <class Dist2>
  bool stage(double x0, double y0, double x1, double y1, double radius, Dist2 dist2) {
    int i0 = std::max(0, int(std::floor(x0 - radius - 0.5))),
        i1 = std::min(res_ - 1, int(std::ceil(x1 + radius + 0.5)));
    int j0 = std::max(0, int(std::floor(y0 - radius - 0.5))),
        j1 = std::min(res_ - 1, int(std::ceil(y1 + radius + 0.5)));
    size_t before = pending_.size();
    const double reach = radius + 0.5;
    for (int j = j0; j <= j1; ++j)
      for (int i = i0; i <= i1; ++i) {
        double d2 = dist2(i + 0.5, j + 0.5);
        if (d2 >= reach * reach) continue;  // no ink: skip the square root
        float v = float(std::min(reach - std::sqrt(d2), 1.0));
        if (blocked_[j * res_ + i]) {
          pending_.resize(before);
          return false;
        }
        pending_.push_back({j * res_ + i, v});
      }
    return true;
  }
  bool stage_segment(Pt a, Pt b) {
    double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
    return stage(std::min(a.x, b.x), std::min(a.y, b.y), std::max(a.x, b.x), std::max(a.y, b.y),
                 p_.thickness / 2, [&](double x, double y) {
                   double t = std::clamp(((x - a.x) * dx + (y - a.y) * dy) / len2, 0.0, 1.0);
                   double ex = x - a.x - t * dx, ey = y - a.y - t * dy;
                   return ex * ex + ey * ey;
                 });
  }
  bool stage_disk(Pt c) {
    return stage(c.x, c.y, c.x, c.y, p_.marker_radius,
                 [&](double x, double y) { return (x - c.x) * (x - c.x) + (y - c.y) * (y - c.y); });
  }
  // Inks the staged pixels and blocks their margin neighbourhood for later snakes.
  void commit() {
    ++generation_;
    const int m = p_.margin;
    for (const auto& [idx, v] : pending_) {
      ink_[idx] = std::max(ink_[idx], v);
      if (stamp_[idx] == generation_) continue;
      stamp_[idx] = generation_;
      int i = idx % res_, j = idx / res_;
      for (int y = std::max(0, j - m); y <= std::min(res_ - 1, j + m); ++y)
        for (int x = std::max(0, i - m); x <= std::min(res_ - 1, i + m); ++x)
          blocked_[y * res_ + x] = 1;
    }
    pending_.clear();
  }

  SnakeParams p_;
  int res_;
  std::vector<float> ink_;
  std::vector<uint8_t> blocked_;
  std::vector<uint32_t> stamp_;
  uint32_t generation_ = 0;
  std::vector<std::pair<int, float>> pending_;
};

}  // namespace

void render_pathfinder(const SnakeParams& p, int res, uint64_t seed, int64_t g, int label,
                       uint8_t* pixels, double* markers) {
  ExampleRng rng(seed, g);
  Canvas fresh(p, res);
  // Positive: markers at both ends of snake A. Negative: one marker at the start of A and one at
  // the start of B, at least seed_distance apart.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    fresh.clear();
    Pt a0{}, a1{}, b0{};
    if (!fresh.grow(rng, p.contour_length, true, label == 1, nullptr, &a0, &a1)) continue;
    if (!fresh.grow(rng, p.contour_length, label == 0, false, label == 0 ? &a0 : nullptr, &b0,
                    nullptr))
      continue;
    Pt second = label == 1 ? a1 : b0;
    if (markers) markers[0] = a0.x, markers[1] = a0.y, markers[2] = second.x, markers[3] = second.y;
    for (int d = 0; d < p.distractors; ++d)
      fresh.grow(rng, p.distractor_length, false, false, nullptr, nullptr, nullptr);
    fresh.to_bytes(pixels);
    return;
  }
  COIL_FAIL("[lra pathfinder] image {} did not fit after 1000 attempts", g);
}

void generate_pathfinder(const PathfinderGenOptions& o) {
  const SnakeParams p = snake_params(o.resolution);
  COIL_CHECK(o.count > 0 && o.per_dir > 0, "[lra pathfinder] count and per_dir must be positive");
  const int64_t dirs = (o.count + o.per_dir - 1) / o.per_dir;
  for (int64_t k = 0; k < dirs; ++k) {
    std::error_code ec;
    fs::path dir = fs::path(o.out) / "imgs" / std::to_string(k);
    fs::create_directories(dir, ec);
    COIL_CHECK(fs::is_directory(dir), "[lra pathfinder] cannot create {}", dir.string());
  }
  fs::path meta_dir = fs::path(o.out) / "metadata";
  std::error_code ec;
  fs::create_directories(meta_dir, ec);
  COIL_CHECK(fs::is_directory(meta_dir), "[lra pathfinder] cannot create {}", meta_dir.string());

  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  std::vector<std::string> errors(threads);
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint8_t> pixels(size_t(o.resolution) * o.resolution);
    std::string& error = errors[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 16)
    for (int64_t g = 0; g < o.count; ++g) {
      if (!error.empty()) continue;
      try {
        render_pathfinder(p, o.resolution, o.seed, g, pathfinder_label_of(g), pixels.data());
        fs::path file = fs::path(o.out) / "imgs" / std::to_string(g / o.per_dir) /
                        fmt::format("sample_{}.png", g % o.per_dir);
        write_png_gray(file.string(), o.resolution, o.resolution, pixels.data());
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
  }
  for (const auto& e : errors) COIL_CHECK(e.empty(), "{}", e);

  for (int64_t k = 0; k < dirs; ++k) {
    fs::path path = meta_dir / fmt::format("{}.npy", k);
    std::ofstream out(path, std::ios::binary);
    for (int64_t g = k * o.per_dir; g < std::min(o.count, (k + 1) * o.per_dir); ++g)
      out << fmt::format("imgs/{} sample_{}.png {} {} {} {} {} {} {} {} 1\n", k, g % o.per_dir,
                         g % o.per_dir, pathfinder_label_of(g), p.continuity, p.contour_length,
                         p.distractor_length, p.paddle_length, p.thickness, p.margin);
    COIL_CHECK(out.good(), "[lra pathfinder] cannot write {}", path.string());
  }
}

}  // namespace coil::data::lra
