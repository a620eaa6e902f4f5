#include "sim/network/memory_budget.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::network {

std::size_t memory_limit_bytes() {
  if (const char* env = std::getenv("MOESIM_MEMORY_LIMIT_MB"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0') return static_cast<std::size_t>(mb) << 20;
    throw input_error("", "MOESIM_MEMORY_LIMIT_MB", "not a number of MiB", env, "e.g. 4096");
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb << 10;
  }
  return 0;
}

void check_memory_budget(std::size_t estimate_bytes, std::string_view flag, std::string_view what) {
  const std::size_t limit = memory_limit_bytes();
  if (limit == 0 || estimate_bytes <= limit) return;
  throw input_error("", flag, fmt::format("{} does not fit in this machine's memory", what),
                    fmt::format("an estimated {} MiB", estimate_bytes >> 20),
                    fmt::format("at most {} MiB available", limit >> 20));
}

}  // namespace moesim::network
