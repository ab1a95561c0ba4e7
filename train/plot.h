// `coil plot`: line charts of a run's metrics as standalone SVG files (a small writer of our
// own: axes with round ticks, one polyline per series, a legend), no plotting dependency.
#pragma once
#include <string>
#include <vector>

namespace coil::train {

struct Series {
  std::string name;
  std::vector<double> x, y;  // non-finite y values are skipped
};

struct ChartOptions {
  std::string title, x_label, y_label;
  bool log_y = false;  // used only when every y is positive
  int width = 720, height = 420;
};

// The SVG text of a chart.
std::string line_chart_svg(const std::vector<Series>& series, const ChartOptions& options);

// Writes RUN_DIR/plots/{loss,accuracy,lr}.svg from RUN_DIR/metrics.jsonl (accuracy and lr only
// when the run logged them) and returns the files written. Throws coil::Error naming what is
// missing.
std::vector<std::string> plot_run(const std::string& run_dir);

}  // namespace coil::train
