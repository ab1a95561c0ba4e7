// End to end on CUDA: the tiny model of tests/support/tiny_model.h gives the CPU's losses.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/support/tiny_model.h"

TEST_CASE("the tiny model trains on CUDA with the same losses as on the CPU (to 1e-4)") {
  std::vector<float> cpu = coil::testing::train_tiny_model(coil::Device::cpu(), 400);
  std::vector<float> gpu = coil::testing::train_tiny_model(coil::Device::cuda(), 400);
  REQUIRE(cpu.size() == gpu.size());
  double worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) worst = std::max(worst, double(std::abs(cpu[i] - gpu[i])));
  INFO("max |loss_cpu - loss_gpu| over 400 steps = " << worst);
  CHECK(worst <= 1e-4);
  CHECK(gpu.back() < 0.05f);
}
