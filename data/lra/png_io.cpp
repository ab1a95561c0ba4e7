// libpng simplified-API wrappers for the Pathfinder reader and generator.
#include "data/lra/png_io.h"

#include <png.h>

#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace coil::data::lra {

std::string read_png_gray(const std::string& path, int& width, int& height,
                          std::vector<uint8_t>& pixels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) return image.message;
  image.format = PNG_FORMAT_GRAY;
  width = int(image.width);
  height = int(image.height);
  pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) {
    std::string why = image.message;
    png_image_free(&image);
    return why;
  }
  return "";
}

void write_png_gray(const std::string& path, int width, int height, const uint8_t* pixels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(width);
  image.height = png_uint_32(height);
  image.format = PNG_FORMAT_GRAY;
  image.flags = PNG_IMAGE_FLAG_FAST;  // tiny images: encoding speed matters, not a few bytes
  bool ok = png_image_write_to_file(&image, path.c_str(), 0, pixels, 0, nullptr);
  COIL_CHECK(ok, "[lra] cannot write {}: {}", path, image.message);
}

}  // namespace coil::data::lra
