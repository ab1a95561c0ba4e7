// Where a tensor lives: the host (cpu) or one NVIDIA GPU (cuda:N).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace coil {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  constexpr bool is_cpu() const { return type == DeviceType::cpu; }
  constexpr bool is_cuda() const { return type == DeviceType::cuda; }
  constexpr bool operator==(const Device&) const = default;

  std::string str() const;               // "cpu", "cuda:0"
  static Device parse(std::string_view);  // inverse of str(); "cuda" means cuda:0
};

// Number of CUDA devices usable by this process (0 when coil was built without CUDA).
int cuda_device_count();
inline bool cuda_available() { return cuda_device_count() > 0; }

}  // namespace coil
