// doctest entry point for the GPU suites: exits 77, which CTest reports as skipped, on a
// machine without a usable GPU, so GPU tests never pass silently there.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "core/device.h"

int main(int argc, char** argv) {
  if (!coil::cuda_available()) {
    fmt::print("no CUDA device (or coil built without CUDA): GPU tests skipped\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
