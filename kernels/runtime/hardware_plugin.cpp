// Entry point of libmoesim_hardware.so (hardware_plugin_abi.hpp): the only exported symbol.
#include <exception>
#include <string>

#include "kernels/runtime/hardware_plugin_abi.hpp"

extern "C" __attribute__((visibility("default"))) int moesim_hardware_entry(
    int abi, moesim::runtime::HardwareAvailability* out) {
  if (abi != moesim::runtime::kHardwarePluginAbi || out == nullptr) {
    return moesim::runtime::kHardwarePluginAbi;
  }
  try {
    *out = moesim::runtime::make_hardware_runner();
  } catch (const std::exception& e) {
    // Nothing may unwind out of a C entry point: report it as "no usable GPU".
    out->runner = nullptr;
    out->reason = std::string("the hardware executor failed to start: ") + e.what();
  }
  return moesim::runtime::kHardwarePluginAbi;
}
