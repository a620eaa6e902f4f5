// GPU spec files (topologies/gpus/<name>.json): reading, strict, through JsonReader.
// Schema: topologies/gpus/README.md. A name ("h100") resolves to <topology_dir()>/gpus/<name>.json
// and a path (my.json, a/b) is read as given, by the rule every preset follows
// (preset_resolver.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/compute/gpu_spec.hpp"

namespace moesim::io {

compute::GpuSpec load_gpu_spec(const std::string& path_or_name);
compute::GpuSpec gpu_spec_from_json_text(const std::string& text, const std::string& origin);
std::vector<std::string> gpu_spec_names();
/// The spec in the schema load_gpu_spec reads (kernel_model included).
nlohmann::json gpu_spec_to_json(const compute::GpuSpec& gpu);

}  // namespace moesim::io
