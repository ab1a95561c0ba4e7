// The Pathfinder generator, after Linsley et al. 2018's "pathfinder" code (which LRA used):
// snakes are chains of short antialiased paddles with a gap between successive paddles and a
// smooth random turn at each gap. Two main snakes start seed_distance apart near the centre and
// grow in turn; one marker sits at the start of one of them, the other at the far end of the
// same snake (label 1) or of the other one (label 0); then distractor snakes. Written in the
// released layout: imgs/k/sample_i.png + metadata/k.npy text lines.
//
// Why the labels can be checked on the pixels: successive paddles of a snake are 2 * margin
// apart, so the pixels holding their facing endpoints are within Chebyshev distance 2 * margin,
// and both are inked (a pixel centre is at most 0.71 px from a point of its pixel, under the
// 0.75 px reach of a stroke of thickness >= 0.5); ink of different snakes (markers included)
// keeps Chebyshev distance >= 2 * margin + 1. Linking ink pixels at most 2 * margin apart
// therefore rebuilds each snake, and joins the two markers exactly when the label is 1. The
// original lets different snakes come about as close as a gap (its labels follow its drawing,
// not its pixels); the extra blank pixel here is the price of labels a test can verify.
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
  // 128, the Path-X "hard" setting chosen here: contours of 25 paddles x 4 px (100 px of ink, 3.6x
  // the 32 px task's 28 px at 4x the size), thickness 1.5, 2 px margins, markers of radius 3 with
  // the two snakes starting 28 px apart, and 20 distractor snakes of 5 paddles.
  COIL_CHECK(resolution == 128, "[lra pathfinder] resolution: expected 32 or 128, got {}",
             resolution);
  return {25, 4.0, 1.5, 2, 1.0, 28.0, 3.0, 20, 5};
}

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kCandidates = 16;      // directions considered for one paddle (the original: ~10)
constexpr int kDistractorTries = 5;  // attempts at one distractor snake (the original's 1 + 4)
constexpr int kMainTries = 1000;     // attempts at the two main snakes before an error
constexpr int kFreeDraws = 100;      // pixels drawn to find a free start for a distractor

struct Pt {
  double x, y;
};

// Box-filter coverage of a pixel whose centre lies at distance d from the axis of a stroke of
// half-width r, across the stroke: a 0.5 px line covers at most half a pixel (128 of 255), a
// disk of radius 1.5 covers its inner pixels fully. Positive exactly when d < r + 0.5.
float coverage(double d, double r) {
  return float(std::clamp(std::min(d + r, 0.5) - std::max(d - r, -0.5), 0.0, 1.0));
}

using Ink = std::vector<std::pair<int, float>>;  // (pixel index, coverage)

struct Span {  // pixels x0..x1 of one row
  int row, x0, x1;
};

// A snake being grown: its ink so far, not yet on the canvas. Its last paddle (with its marker)
// is held: the next paddle is meant to come near it, so its zone (the pixels within reach of its
// ink) blocks only the other snakes until the next paddle is placed or the snake is finished.
struct Snake {
  int slot = 0;            // 0 or 1: which bit of the blocked map marks the held zone
  Pt start{}, end{}, u{};  // u: unit direction of the last paddle
  double dir = 0;          // its angle
  Ink ink;
  std::vector<Span> zone;
};

class Canvas {
 public:
  Canvas(const SnakeParams& p, int res)
      : p_(p),
        res_(res),
        reach_(2 * p.margin),
        ink_(res * res),
        blocked_(res * res),
        row_lo_(res),
        row_hi_(res) {}

  void clear() {
    std::fill(ink_.begin(), ink_.end(), 0.f);
    std::fill(blocked_.begin(), blocked_.end(), 0);
    recording_ = false;
  }

  // Paddle 0 of a fresh snake from `start` in a direction drawn uniformly among those that fit,
  // with a marker disk at `start` when asked.
  bool seed(Snake& s, ExampleRng& rng, Pt start, bool marker) {
    s.start = s.end = start, s.ink.clear(), s.zone.clear();
    if (!inside(start, marker ? p_.marker_radius + 1 : edge())) return false;
    return pick(rng, 0, false, [&](double dir, Pt u) {
      Pt end{start.x + p_.paddle_length * u.x, start.y + p_.paddle_length * u.y};
      return inside(end, edge()) && place(s, start, end, dir, u, marker ? &start : nullptr);
    });
  }

  // The next paddle across a gap, as in the original: the pivot lies `margin` beyond the last
  // paddle's end along its direction, the new paddle starts `margin` past the pivot along the
  // turned direction (a gap of 2 * margin when straight, 2 * margin * cos(turn / 2) in general).
  // A marker disk at its far end when asked.
  bool extend(Snake& s, ExampleRng& rng, bool marker) {
    const double m = p_.margin, l = p_.paddle_length;
    const Pt pivot{s.end.x + m * s.u.x, s.end.y + m * s.u.y};
    return pick(rng, s.dir, true, [&](double dir, Pt u) {
      Pt a{pivot.x + m * u.x, pivot.y + m * u.y}, b{a.x + l * u.x, a.y + l * u.y};
      return inside(a, edge()) && inside(b, marker ? p_.marker_radius + 1 : edge()) &&
             place(s, a, b, dir, u, marker ? &b : nullptr);
    });
  }

  // Records the changes to the blocked map from now on, so discard() can undo them.
  void checkpoint() { undo_.clear(), recording_ = true; }

  // Puts a grown snake on the canvas: its last paddle blocks everyone, its ink is drawn.
  void finish(Snake& s) {
    block(s.zone, 1);
    for (const auto& [idx, v] : s.ink) ink_[idx] = std::max(ink_[idx], v);
    recording_ = false;
  }

  // Drops a snake that could not be completed: the blocked map as at the checkpoint.
  void discard() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) blocked_[it->first] = it->second;
    recording_ = false;
  }

  // A point drawn uniformly over the unblocked pixels away from the border (by rejection), where
  // a distractor may start; false after kFreeDraws blocked draws, i.e. when about 1% or less of
  // the canvas is free, where the original stops adding snakes.
  bool free_point(ExampleRng& rng, Pt& out) const {
    const int lo = int(edge()), n = res_ - 2 * lo;
    for (int t = 0; t < kFreeDraws; ++t) {
      const int i = lo + int(rng.below(n)), j = lo + int(rng.below(n));
      if (blocked_[j * res_ + i]) continue;
      out = {i + rng.uniform(), j + rng.uniform()};
      return true;
    }
    return false;
  }
  double edge() const { return p_.thickness / 2 + 1; }

  void to_bytes(uint8_t* out) const {
    for (int i = 0; i < res_ * res_; ++i) out[i] = uint8_t(std::lround(255.f * ink_[i]));
  }

 private:
  bool inside(Pt q, double b) const {
    return q.x >= b && q.y >= b && q.x <= res_ - b && q.y <= res_ - b;
  }

  // Draws a direction among kCandidates evenly spaced ones (random phase): around `base` within
  // the turn limit and weighted by cos^2(continuity * turn) when `turning`, else uniform over the
  // circle; then draws again among the rest until `fits` accepts one. This is the original's
  // weighting of candidate directions, conditioned on the paddle fitting (it drops blocked
  // candidates before drawing). Continuity 1 allows turns up to +-90 degrees.
  template <class Fits>
  bool pick(ExampleRng& rng, double base, bool turning, const Fits& fits) const {
    const double c = p_.continuity, limit = !turning || c <= 0.5 ? kPi : kPi / (2 * c);
    const double step = 2 * limit / kCandidates, t0 = (rng.uniform() - kCandidates / 2.0) * step;
    // Angles advance by rotation: two sincos per paddle, not one per candidate.
    double w[kCandidates], total = 0;
    Pt u[kCandidates];
    Pt wu{std::cos(c * t0), std::sin(c * t0)}, uu{std::cos(base + t0), std::sin(base + t0)};
    const Pt wr{std::cos(c * step), std::sin(c * step)}, ur{std::cos(step), std::sin(step)};
    for (int k = 0; k < kCandidates; ++k) {
      w[k] = turning ? wu.x * wu.x : 1.0, u[k] = uu, total += w[k];
      wu = {wu.x * wr.x - wu.y * wr.y, wu.y * wr.x + wu.x * wr.y};
      uu = {uu.x * ur.x - uu.y * ur.y, uu.y * ur.x + uu.x * ur.y};
    }
    for (int left = kCandidates; left > 0; --left) {
      const double draw = rng.uniform() * total;
      int k = -1;
      double acc = 0;
      for (int q = 0; q < kCandidates; ++q)
        if (w[q] > 0) {
          k = q, acc += w[q];
          if (acc > draw) break;
        }
      if (k < 0) return false;
      if (fits(base + t0 + k * step, u[k])) return true;
      total -= w[k], w[k] = 0;
    }
    return false;
  }

  // Stages the ink of paddle a-b (and of a marker disk centred at *marker), refusing it when a
  // pixel is blocked for s; on success the previous held paddle of s blocks everyone and the new
  // one is held.
  bool place(Snake& s, Pt a, Pt b, double dir, Pt u, const Pt* marker) {
    unit_.clear(), zone_.clear();
    const uint8_t own = uint8_t(2 << s.slot);
    // The pixels holding the endpoints get ink: a quick refusal before staging the whole paddle.
    if ((blocked_[int(a.y) * res_ + int(a.x)] | blocked_[int(b.y) * res_ + int(b.x)]) & ~own)
      return false;
    if (!stage(a, b, p_.thickness / 2, own)) return false;
    if (marker && !stage(*marker, *marker, p_.marker_radius, own)) return false;
    block(s.zone, 1);
    block(zone_, own);
    s.zone.swap(zone_);
    s.ink.insert(s.ink.end(), unit_.begin(), unit_.end());
    s.end = b, s.u = u, s.dir = dir;
    return true;
  }

  // Appends to unit_ the pixels a capsule (segment a-b, radius r; a disk when a == b) inks and to
  // zone_ the rows of pixels within Chebyshev distance reach_ of them; false when an inked pixel
  // is blocked by another bit than `own`.
  bool stage(Pt a, Pt b, double r, uint8_t own) {
    const double reach = r + 0.5;
    const int i0 = std::max(0, int(std::floor(std::min(a.x, b.x) - reach))),
              i1 = std::min(res_ - 1, int(std::ceil(std::max(a.x, b.x) + reach)));
    const int j0 = std::max(0, int(std::floor(std::min(a.y, b.y) - reach))),
              j1 = std::min(res_ - 1, int(std::ceil(std::max(a.y, b.y) + reach)));
    const double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
    for (int j = j0; j <= j1; ++j) {
      row_lo_[j] = res_, row_hi_[j] = -1;
      for (int i = i0; i <= i1; ++i) {
        const double x = i + 0.5 - a.x, y = j + 0.5 - a.y;
        const double t = len2 > 0 ? std::clamp((x * dx + y * dy) / len2, 0.0, 1.0) : 0.0;
        const double ex = x - t * dx, ey = y - t * dy, d2 = ex * ex + ey * ey;
        if (d2 >= reach * reach) continue;
        if (blocked_[j * res_ + i] & ~own) return false;
        unit_.push_back({j * res_ + i, coverage(std::sqrt(d2), r)});
        row_lo_[j] = std::min(row_lo_[j], i), row_hi_[j] = i;
      }
    }
    // Row y of the zone spans the inked pixels of rows y - reach_ .. y + reach_, widened by
    // reach_ (one interval: the rows of a convex shape overlap or touch diagonally).
    for (int y = std::max(0, j0 - reach_); y <= std::min(res_ - 1, j1 + reach_); ++y) {
      int lo = res_, hi = -1;
      for (int j = std::max(j0, y - reach_); j <= std::min(j1, y + reach_); ++j)
        if (row_hi_[j] >= 0) lo = std::min(lo, row_lo_[j]), hi = std::max(hi, row_hi_[j]);
      if (hi >= 0) zone_.push_back({y, std::max(0, lo - reach_), std::min(res_ - 1, hi + reach_)});
    }
    return true;
  }

  // Sets `bit` on the pixels of a zone. Bit 0 blocks everyone; bit 1 + slot marks a held zone,
  // which blocks the other snakes only.
  void block(const std::vector<Span>& zone, uint8_t bit) {
    for (const Span& z : zone)
      for (int x = z.x0; x <= z.x1; ++x) {
        uint8_t& v = blocked_[z.row * res_ + x];
        if (recording_ && !(v & bit)) undo_.push_back({z.row * res_ + x, v});
        v |= bit;
      }
  }

  SnakeParams p_;
  int res_, reach_;
  std::vector<float> ink_;
  std::vector<uint8_t> blocked_;
  std::vector<std::pair<int, uint8_t>> undo_;  // (pixel, value before) since the checkpoint
  bool recording_ = false;
  std::vector<int> row_lo_, row_hi_;  // inked columns of each row of the shape staged
  Ink unit_;                          // the paddle being staged
  std::vector<Span> zone_;
};

// A distractor snake of n paddles from `start`; false (and nothing drawn) when it did not fit.
bool grow_distractor(Canvas& c, Snake& s, ExampleRng& rng, Pt start, int n) {
  c.checkpoint();
  bool ok = c.seed(s, rng, start, false);
  for (int k = 1; k < n && ok; ++k) ok = c.extend(s, rng, false);
  if (ok) c.finish(s);
  else c.discard();
  return ok;
}

}  // namespace

void render_pathfinder(const SnakeParams& p, int res, uint64_t seed, int64_t g, int label,
                       uint8_t* pixels, double* markers) {
  COIL_CHECK(
      p.thickness >= 0.5 && p.margin >= 1,
      "[lra pathfinder] thickness {} and margin {}: need >= 0.5 and >= 1 px, else the ink of "
      "successive paddles may not come within 2 * margin pixels",
      p.thickness, p.margin);
  ExampleRng rng(seed, g);
  Canvas canvas(p, res);
  Snake s[2];
  s[1].slot = 1;
  // As in the original, the first snake starts at least 2 seed distances from the borders.
  const double lo = 2 * p.seed_distance, span = std::max(0.0, res - 4 * p.seed_distance);
  for (int attempt = 0; attempt < kMainTries; ++attempt) {
    canvas.clear();
    const int origin = int(rng.below(2)), terminal = label == 1 ? origin : 1 - origin;
    const Pt a{lo + rng.uniform() * span, lo + rng.uniform() * span};
    const double toward = rng.uniform() * 2 * kPi;
    const Pt b{a.x + p.seed_distance * std::cos(toward), a.y + p.seed_distance * std::sin(toward)};
    bool ok = canvas.seed(s[0], rng, a, origin == 0) && canvas.seed(s[1], rng, b, origin == 1);
    for (int k = 1; k < p.contour_length && ok; ++k)
      for (int i = 0; i < 2 && ok; ++i)
        ok = canvas.extend(s[i], rng, k == p.contour_length - 1 && terminal == i);
    if (!ok) continue;
    canvas.finish(s[0]);
    canvas.finish(s[1]);
    if (markers) {
      markers[0] = s[origin].start.x, markers[1] = s[origin].start.y;
      markers[2] = s[terminal].end.x, markers[3] = s[terminal].end.y;
    }
    // Distractors start at free points, as the original draws its seeds among the free
    // coordinates; one that does not fit is dropped.
    for (int d = 0; d < p.distractors; ++d) {
      Pt start;
      for (int t = 0; t < kDistractorTries && canvas.free_point(rng, start); ++t)
        if (grow_distractor(canvas, s[0], rng, start, p.distractor_length)) break;
    }
    canvas.to_bytes(pixels);
    return;
  }
  COIL_FAIL("[lra pathfinder] image {} did not fit after {} attempts", g, kMainTries);
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
