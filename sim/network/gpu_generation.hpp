// GpuGeneration: the GPU generations NCCL's tuning tables tell apart. NCCL indexes its per-
// architecture constants by the lowest compute capability of the communicator (NVIDIA/nccl
// src/graph/tuning.cc, compCapIndex: >= 9.0 Hopper, >= 8.0 Ampere, else Volta), and runs NVLS
// (NVLink SHARP) only where the CUDA driver offers multicast objects, i.e. Hopper-class GPUs on a
// third-generation NVSwitch (NVIDIA/nccl src/transport/nvls.cc checks
// CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED [recalled]). An A100 node's second-generation NVSwitch
// has no NVLS: its all-reduce is ring or tree.
#pragma once

#include <cstdint>
#include <string_view>

namespace moesim::network {

enum class GpuGeneration : std::uint8_t { volta, ampere, hopper };

/// The generation of a topology's `gpu_model` (a topologies/gpus/ name): v100 and rtx2080ti
/// (sm70 / sm75) Volta's row; a100, rtx3090 and rtx-a6000 (sm80 / sm86) Ampere's; h100, h200,
/// h800, b200 and gb200 Hopper's (Blackwell takes Hopper's row here [assumption]: the rows moesim
/// was fitted with). A name not listed takes Hopper's row, as moesim did before it told them apart.
GpuGeneration nccl_gpu_generation(std::string_view gpu_model);

/// NVLS (NVLink SHARP multicast) exists on this generation's NVSwitch nodes.
inline bool has_nvlink_sharp(GpuGeneration g) { return g == GpuGeneration::hopper; }

}  // namespace moesim::network
