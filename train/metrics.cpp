// metrics.jsonl writing (append, flush per line, truncation on resume) and reading.
#include "train/metrics.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace coil::train {
namespace {

nlohmann::json to_json(const MetricsRecord& r) {
  nlohmann::json j = {{"step", r.step}, {"split", r.split}, {"loss", r.loss}};
  if (r.accuracy) j["accuracy"] = *r.accuracy;
  if (r.lr) j["lr"] = *r.lr;
  if (r.grad_norm) j["grad_norm"] = *r.grad_norm;
  if (r.tokens_per_s) j["tokens_per_s"] = *r.tokens_per_s;
  j["wall_time"] = r.wall_time;
  return j;
}

std::optional<double> opt(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<double>();
}

}  // namespace

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_through_step) : path_(path) {
  if (keep_through_step >= 0) {
    std::ifstream in(path);
    std::string line, kept;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.contains("step") && j["step"].get<int64_t>() <= keep_through_step)
        kept += line + "\n";
    }
    in.close();
    std::ofstream out(path, std::ios::trunc);
    out << kept;
    COIL_CHECK(out.good(), "[metrics] cannot rewrite {}: {}", path, std::strerror(errno));
  }
  f_ = std::fopen(path.c_str(), "a");
  COIL_CHECK(f_, "[metrics] cannot open {}: {}", path, std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (f_) std::fclose(f_);
}

void MetricsWriter::write(const MetricsRecord& r) {
  std::string line = to_json(r).dump() + "\n";
  bool ok = std::fwrite(line.data(), 1, line.size(), f_) == line.size() && std::fflush(f_) == 0;
  COIL_CHECK(ok, "[metrics] cannot write {}: {}", path_, std::strerror(errno));
}

std::vector<MetricsRecord> read_metrics(const std::string& path) {
  std::ifstream in(path);
  COIL_CHECK(in, "[metrics] cannot read {}: {}", path, std::strerror(errno));
  std::vector<MetricsRecord> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    bool ok = !j.is_discarded() && j.is_object() && j.contains("step") && j["step"].is_number() &&
              j.contains("split") && j["split"].is_string() && j.contains("loss") &&
              (j["loss"].is_number() || j["loss"].is_null());
    COIL_CHECK(ok, "[metrics] {}:{}: not a metrics record: {}", path, n, line.substr(0, 80));
    MetricsRecord r;
    r.step = j["step"].get<int64_t>();
    r.split = j["split"].get<std::string>();
    r.loss = j["loss"].is_null() ? NAN : j["loss"].get<double>();
    r.accuracy = opt(j, "accuracy");
    r.lr = opt(j, "lr");
    r.grad_norm = opt(j, "grad_norm");
    r.tokens_per_s = opt(j, "tokens_per_s");
    r.wall_time = opt(j, "wall_time").value_or(0);
    out.push_back(r);
  }
  return out;
}

}  // namespace coil::train
