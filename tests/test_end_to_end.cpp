// End to end on the CPU: a tiny model made of coil ops learns a fixed synthetic task with SGD.
#include <doctest/doctest.h>

#include "tests/support/tiny_model.h"

TEST_CASE("a tiny embedding-MLP trained with SGD drives the cross-entropy below 0.05") {
  std::vector<float> losses = coil::testing::train_tiny_model(coil::Device::cpu(), 400);
  INFO("first loss " << losses.front() << ", last loss " << losses.back());
  CHECK(losses.front() > 1.2f);  // about log(4) at the start
  CHECK(losses.back() < 0.05f);
  CHECK(losses[losses.size() / 2] < losses.front());
}
