// RUN_DIR/metrics.jsonl: one JSON object per logged step (step, split, loss, accuracy, lr, grad
// norm, tokens/s, wall time), appended and flushed line by line; read back by `coil plot`.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace coil::train {

struct MetricsRecord {
  int64_t step = 0;
  std::string split;  // "train" or "eval"
  double loss = 0;
  std::optional<double> accuracy, lr, grad_norm, tokens_per_s;
  double wall_time = 0;
};

class MetricsWriter {
 public:
  // Opens `path` for appending; with `keep_through_step` >= 0 first drops every record with a
  // larger step (a resumed run replays those steps).
  MetricsWriter(const std::string& path, int64_t keep_through_step = -1);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const MetricsRecord& r);

 private:
  std::string path_;
  FILE* f_ = nullptr;
};

// Every record of a metrics file; a malformed line is an error naming the file and the line.
std::vector<MetricsRecord> read_metrics(const std::string& path);

}  // namespace coil::train
