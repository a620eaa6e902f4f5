// Memory budget: refuse work that would not fit in this machine's memory before allocating it,
// with the estimate and the limit, instead of being killed by the kernel's OOM killer.
// The limit is MemAvailable from /proc/meminfo (what can be allocated without swapping), or
// MOESIM_MEMORY_LIMIT_MB when set (tests, or to keep a run below a share of a shared machine).
#pragma once

#include <cstddef>
#include <string_view>

namespace moesim::network {

/// Bytes this process may still allocate; 0 if unknown (then nothing is refused).
std::size_t memory_limit_bytes();

/// Throws InputError (path `flag`, e.g. "--nodes") when `estimate_bytes` exceeds the limit.
/// `what` names the work ("cluster of 100000 nodes").
void check_memory_budget(std::size_t estimate_bytes, std::string_view flag, std::string_view what);

}  // namespace moesim::network
