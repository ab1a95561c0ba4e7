// Small helpers the LRA readers share: whole-file reads, line splitting, and the "expected
// layout" error for a missing directory or file.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace coil::data::lra {

// Throws coil::Error "[lra task] no <what> at <path>: expected <layout>" unless `path` exists
// (a directory when `dir`).
void require_path(const std::filesystem::path& path, bool dir, const std::string& task,
                  const std::string& layout);

// The bytes of a file; false when it cannot be opened or read.
bool read_file(const std::filesystem::path& path, std::string& out);

// Lines without their "\n" / "\r\n"; a last line without a newline (a truncated file) is kept.
std::vector<std::string_view> split_lines(std::string_view text);

// Fields separated by `sep`.
std::vector<std::string_view> split(std::string_view text, char sep);

}  // namespace coil::data::lra
