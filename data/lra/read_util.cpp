// File and line helpers of the LRA readers.
#include "data/lra/read_util.h"

#include <fstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace coil::data::lra {

void require_path(const fs::path& path, bool dir, const std::string& task,
                  const std::string& layout) {
  std::error_code ec;
  bool ok = dir ? fs::is_directory(path, ec) : fs::is_regular_file(path, ec);
  COIL_CHECK(ok, "[lra {}] no {} {}: the data root must hold the released layout: {}", task,
             dir ? "directory" : "file", path.string(), layout);
}

bool read_file(const fs::path& path, std::string& out) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;  // a directory "opens" but cannot be read
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  out.resize(size_t(in.tellg()));
  in.seekg(0);
  in.read(out.data(), std::streamsize(out.size()));
  // A file that shrank while being read is a short read: keep what arrived.
  out.resize(size_t(in.gcount()));
  return !in.bad();
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    at = end + 1;
  }
  return lines;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (true) {
    size_t end = text.find(sep, at);
    if (end == std::string_view::npos) {
      fields.push_back(text.substr(at));
      return fields;
    }
    fields.push_back(text.substr(at, end - at));
    at = end + 1;
  }
}

}  // namespace coil::data::lra
