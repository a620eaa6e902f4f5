#include "sim/network/gpu_generation.hpp"

#include <array>
#include <utility>

namespace moesim::network {

GpuGeneration nccl_gpu_generation(std::string_view gpu_model) {
  // Compute capabilities: NVIDIA's CUDA GPUs list (V100 7.0, RTX 2080 Ti 7.5, A100 8.0, RTX 3090
  // and RTX A6000 8.6, H100 / H200 / H800 9.0, B200 / GB200 10.0) [recalled].
  static constexpr std::array<std::pair<std::string_view, GpuGeneration>, 10> kModels{{
      {"v100", GpuGeneration::volta},
      {"rtx2080ti", GpuGeneration::volta},
      {"a100", GpuGeneration::ampere},
      {"rtx3090", GpuGeneration::ampere},
      {"rtx-a6000", GpuGeneration::ampere},
      {"h100", GpuGeneration::hopper},
      {"h200", GpuGeneration::hopper},
      {"h800", GpuGeneration::hopper},
      {"b200", GpuGeneration::hopper},
      {"gb200", GpuGeneration::hopper},
  }};
  for (const auto& [name, generation] : kModels) {
    if (name == gpu_model) return generation;
  }
  return GpuGeneration::hopper;
}

}  // namespace moesim::network
