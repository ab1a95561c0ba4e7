// Generators of the two synthetic LRA tasks, writing the released layouts (so the readers in
// lra.h read them). Every example is a pure function of (seed, index) through Philox, so the
// output is identical for any number of threads.
#pragma once
#include <cstdint>
#include <string>

namespace coil::data::lra {

struct ListOpsGenOptions {
  std::string out;  // writes out/basic_{train,val,test}.tsv
  uint64_t seed = 0;
  int64_t train = 96000, val = 2000, test = 2000;
  int64_t min_len = 500, max_len = 2000;  // kept when min_len < length < max_len
  int max_depth = 10, max_args = 10;
  double leaf_prob = 0.75;
  int threads = 0;  // 0: OpenMP's default
};

struct ListOpsGenStats {
  int64_t candidates = 0;  // trees drawn
  int64_t duplicates = 0;  // in-range trees dropped as repeats
  int64_t kept = 0;
};

ListOpsGenStats generate_listops(const ListOpsGenOptions& options);

// The snake parameters of one resolution (pathfinder_gen.cpp documents the choices).
struct SnakeParams {
  int contour_length;     // paddles of each of the two main snakes
  double paddle_length;   // pixels
  double thickness;       // line width in pixels (antialiased)
  int margin;             // paddle margin: successive paddles of a snake are 2 * margin apart; ink
                          // of different snakes more than 2 * margin (Chebyshev)
  double continuity;      // turns weighted cos^2(continuity * turn), up to 90 / continuity degrees
  double seed_distance;   // distance between the starts of the two main snakes, pixels
  double marker_radius;   // pixels
  int distractors;        // distractor snakes (dropped when they do not fit)
  int distractor_length;  // paddles each
};
SnakeParams snake_params(int resolution);  // 32 (pathfinder32) or 128 (Path-X hard)

struct PathfinderGenOptions {
  std::string out;  // writes out/imgs/k/sample_i.png and out/metadata/k.npy
  int resolution = 32;
  int64_t count = 200000;
  int64_t per_dir = 1000;  // images per imgs/k directory and metadata file
  uint64_t seed = 0;
  int threads = 0;
};

// Renders image g (label = (g / 10) % 2, so every 80/10/10 split of pathfinder_split_of is
// balanced) into `pixels` (resolution^2, row major); `markers`, when given, receives the two
// marker centres x0, y0, x1, y1 in pixel units (pixel (i, j) covers [i, i+1) x [j, j+1)).
void render_pathfinder(const SnakeParams& p, int resolution, uint64_t seed, int64_t g, int label,
                       uint8_t* pixels, double* markers = nullptr);
inline int pathfinder_label_of(int64_t g) { return int((g / 10) % 2); }

void generate_pathfinder(const PathfinderGenOptions& options);

}  // namespace coil::data::lra
