// 8-bit grayscale PNG files through libpng's simplified API (no setjmp in coil's code): a bad or
// truncated file is an error message, never a crash.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace coil::data::lra {

// Reads `path` as 8-bit gray (colour files are converted by libpng). Returns "" on success,
// else why it failed.
std::string read_png_gray(const std::string& path, int& width, int& height,
                          std::vector<uint8_t>& pixels);

// Writes width x height gray pixels (row major); throws coil::Error naming the file on failure.
void write_png_gray(const std::string& path, int width, int height, const uint8_t* pixels);

}  // namespace coil::data::lra
