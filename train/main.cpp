// The `coil` command. For now: version, visible devices and a smoke computation on each device.
#include <fmt/format.h>

#include "core/copy.h"
#include "core/factory.h"
#include "core/linalg.h"
#include "core/random.h"
#include "core/reduce.h"
#include "core/elementwise.h"

int main() {
  using namespace coil;
  try {
    fmt::print("coil {}\n", COIL_VERSION);
    int n_gpu = cuda_device_count();
    fmt::print("devices: cpu{}\n", n_gpu > 0 ? fmt::format(", {} x cuda", n_gpu) : "");
    std::vector<Device> devices = {Device::cpu()};
    for (int i = 0; i < n_gpu; ++i) devices.push_back(Device::cuda(i));
    for (Device dev : devices) {
      // (64, 64) @ (64, 64) of normals: the mean of the product's squares is about 64.
      Tensor a = randn({64, 64}, {DType::f32, dev}), b = randn({64, 64}, {DType::f32, dev});
      Tensor c = core::matmul(a, b);
      double msq = core::mean(core::unary(UnaryOp::square, c)).item<double>();
      fmt::print("smoke on {}: mean((A @ B)^2) = {:.2f} (expected about 64)\n", dev.str(), msq);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "coil: {}\n", e.what());
    return 1;
  }
  return 0;
}
