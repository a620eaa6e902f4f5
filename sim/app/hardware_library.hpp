// Finds and opens the hardware executor (libmoesim_hardware.so, kernels/runtime/
// hardware_plugin_abi.hpp) for `moesim execute` and `moesim validate`. moesim links no CUDA
// library: the executor, and with it cudart, cuBLAS, NCCL and MPI, is loaded only here.
#pragma once

#include <string>

#include "kernels/runtime/hardware_runner.hpp"

namespace moesim::app {

/// Where the executor is looked for: $MOESIM_HARDWARE_LIBRARY when set, else
/// libmoesim_hardware.so in the directory of the running moesim binary.
std::string hardware_library_path();

/// Opens the library and asks it for a runner. Never throws; on failure the runner is null and
/// `reason` says which: the library is absent (a build without CUDA), cannot be loaded (a
/// missing CUDA/NCCL library, with dlerror's message), comes from another build, or reports no
/// usable CUDA device.
runtime::HardwareAvailability load_hardware_executor();

}  // namespace moesim::app
