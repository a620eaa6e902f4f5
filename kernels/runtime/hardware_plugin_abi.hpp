// The one symbol through which `moesim` (CUDA-free) reaches the hardware executor: a shared
// library, libmoesim_hardware.so, built with CUDA next to the moesim binary and opened with
// dlopen by sim/app/hardware_library.cpp only when `execute` or `validate` needs a GPU. The
// simulator binary therefore links no CUDA, NCCL or MPI library and starts without them.
//
// The library and the binary come from one build (same compiler, same headers), so C++ types
// (HardwareRunner, TaskGraph, ExecutionRecord) cross the boundary as they are; the version
// number below guards against a library left over from another build.
#pragma once

#include "kernels/runtime/hardware_runner.hpp"

namespace moesim::runtime {

/// Bumped whenever HardwareRunner, HardwareRunOptions, TaskGraph or ExecutionRecord change
/// layout.
inline constexpr int kHardwarePluginAbi = 2;

/// File name of the library and the name of its entry point.
inline constexpr const char* kHardwareLibraryName = "libmoesim_hardware.so";
inline constexpr const char* kHardwareEntryPoint = "moesim_hardware_entry";

/// Signature of the entry point: returns kHardwarePluginAbi and, if `abi` matches it, fills
/// `out` with make_hardware_runner()'s result (a runner, or why no GPU is usable).
using HardwareEntryPoint = int (*)(int abi, HardwareAvailability* out);

}  // namespace moesim::runtime
