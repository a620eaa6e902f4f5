#include "sim/app/hardware_library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "kernels/runtime/hardware_plugin_abi.hpp"

namespace moesim::app {

std::string hardware_library_path() {
  if (const char* env = std::getenv("MOESIM_HARDWARE_LIBRARY"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return runtime::kHardwareLibraryName;  // let dlopen search its default paths
  return (self.parent_path() / runtime::kHardwareLibraryName).string();
}

runtime::HardwareAvailability load_hardware_executor() {
  const std::string path = hardware_library_path();
  std::error_code ec;
  if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ec)) {
    return {nullptr, fmt::format("the hardware executor is not installed: no {} (this moesim was "
                                 "built without CUDA, or the library was not copied beside it; "
                                 "rebuild with nvcc and NCCL present, or set "
                                 "MOESIM_HARDWARE_LIBRARY)",
                                 path)};
  }
  // RTLD_NODELETE: CUDA and NCCL register exit handlers inside the library, so it must stay
  // mapped until the process ends; the handle is deliberately never closed.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = dlerror();
    return {nullptr, fmt::format("the hardware executor {} cannot be loaded: {}", path,
                                 why != nullptr ? why : "unknown dlopen error")};
  }
  auto entry =
      reinterpret_cast<runtime::HardwareEntryPoint>(dlsym(handle, runtime::kHardwareEntryPoint));
  if (entry == nullptr) {
    return {nullptr, fmt::format("the hardware executor {} has no entry point {} (not a moesim "
                                 "hardware library)",
                                 path, runtime::kHardwareEntryPoint)};
  }
  runtime::HardwareAvailability out;
  const int abi = entry(runtime::kHardwarePluginAbi, &out);
  if (abi != runtime::kHardwarePluginAbi) {
    return {nullptr, fmt::format("the hardware executor {} is from another moesim build (interface "
                                 "version {}, expected {}); rebuild it with this moesim",
                                 path, abi, runtime::kHardwarePluginAbi)};
  }
  return out;
}

}  // namespace moesim::app
