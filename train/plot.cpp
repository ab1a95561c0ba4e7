// SVG line charts and the run plots built from metrics.jsonl.
#include "train/plot.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "train/metrics.h"

namespace fs = std::filesystem;

namespace coil::train {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Round tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
std::vector<double> ticks(double lo, double hi, int target = 6) {
  double span = hi - lo;
  double raw = span / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    out.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return out;
}

std::string tick_label(double v) {
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) return fmt::format("{:.0e}", v);
  return fmt::format("{:g}", v);
}

}  // namespace

std::string line_chart_svg(const std::vector<Series>& series, const ChartOptions& o) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  bool all_positive = true;
  for (const Series& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
      all_positive = all_positive && s.y[i] > 0;
    }
  COIL_CHECK(std::isfinite(x0), "[plot] {}: no finite values to draw", o.title);
  const bool log_y = o.log_y && all_positive && y1 / y0 > 10;
  auto ty = [&](double y) { return log_y ? std::log10(y) : y; };
  double ly0 = ty(y0), ly1 = ty(y1);
  if (ly1 - ly0 < 1e-12) ly0 -= 0.5, ly1 += 0.5;
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  double pad = (ly1 - ly0) * 0.05;
  ly0 -= pad, ly1 += pad;
  const double left = 70, right = 20, top = 36, bottom = 48;
  const double pw = o.width - left - right, ph = o.height - top - bottom;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double ly) { return top + (1 - (ly - ly0) / (ly1 - ly0)) * ph; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" "
      "font-size=\"15\">{3}</text>\n",
      o.width, o.height, left + pw / 2, escape(o.title));
  for (double t : ticks(x0, x1)) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
        "stroke=\"#e5e5e5\"/>\n<text x=\"{0:.1f}\" y=\"{3:.1f}\" "
        "text-anchor=\"middle\">{4}</text>\n",
        px(t), top, top + ph, top + ph + 16, tick_label(t));
  }
  std::vector<double> yt;
  if (log_y) {
    for (double e = std::ceil(ly0); e <= ly1; e += 1) yt.push_back(e);
    if (yt.size() < 2) yt = ticks(ly0, ly1);  // within one decade: linear ticks of the log
  } else {
    yt = ticks(ly0, ly1);
  }
  for (double t : yt) {
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" "
        "stroke=\"#e5e5e5\"/>\n<text x=\"{3:.1f}\" y=\"{4:.1f}\" "
        "text-anchor=\"end\">{5}</text>\n",
        left, py(t), left + pw, left - 6, py(t) + 4, tick_label(log_y ? std::pow(10.0, t) : t));
  }
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"#444\"/>\n",
      left, top, pw, ph);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2,
                     o.height - 10, escape(o.x_label));
  svg += fmt::format(
      "<text x=\"16\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
      "{0})\">{1}{2}</text>\n",
      top + ph / 2, escape(o.y_label), log_y ? " (log scale)" : "");
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    const char* color = kColors[k % std::size(kColors)];
    std::string points;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i]))
        points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(ty(s.y[i])));
    svg += fmt::format(
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" "
        "points=\"{}\"/>\n",
        color, points);
    double ly = top + 14 + 16 * double(k);
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" "
        "stroke-width=\"2\"/><text x=\"{4}\" y=\"{5}\">{6}</text>\n",
        left + pw - 110, ly, left + pw - 90, color, left + pw - 84, ly + 4, escape(s.name));
  }
  return svg + "</svg>\n";
}

std::vector<std::string> plot_run(const std::string& run_dir) {
  std::string metrics = (fs::path(run_dir) / "metrics.jsonl").string();
  COIL_CHECK(fs::exists(metrics), "[plot] {} has no metrics.jsonl (is it a run directory?)",
             run_dir);
  std::vector<MetricsRecord> records = read_metrics(metrics);
  COIL_CHECK(!records.empty(), "[plot] {} is empty: the run logged nothing yet", metrics);
  fs::path dir = fs::path(run_dir) / "plots";
  fs::create_directories(dir);
  std::vector<std::string> written;
  auto chart = [&](const std::string& file, const std::string& what, auto value, bool log_y) {
    std::vector<Series> series;
    for (const char* split : {"train", "eval"}) {
      Series s{split, {}, {}};
      for (const MetricsRecord& r : records) {
        std::optional<double> v = value(r);
        if (r.split == split && v) s.x.push_back(double(r.step)), s.y.push_back(*v);
      }
      if (!s.x.empty()) series.push_back(std::move(s));
    }
    if (series.empty()) return;
    std::string path = (dir / file).string();
    std::ofstream out(path);
    std::string run_name = fs::path(run_dir).lexically_normal().parent_path().filename().string();
    if (!fs::path(run_dir).filename().empty()) run_name = fs::path(run_dir).filename().string();
    out << line_chart_svg(series, {what + " — " + run_name, "step", what, log_y});
    COIL_CHECK(out.good(), "[plot] cannot write {}", path);
    written.push_back(path);
  };
  chart(
      "loss.svg", "loss", [](const MetricsRecord& r) { return std::optional<double>(r.loss); },
      true);
  chart(
      "accuracy.svg", "accuracy", [](const MetricsRecord& r) { return r.accuracy; }, false);
  chart(
      "lr.svg", "learning rate", [](const MetricsRecord& r) { return r.lr; }, false);
  return written;
}

}  // namespace coil::train
