// Topology files: reading (strict, through JsonReader), writing, and preset lookup.
// Schema: topologies/README.md. A preset name ("dgx-h100") resolves to <dir>/<name>.json where
// <dir> is $MOESIM_TOPOLOGY_DIR if set, else the source tree's topologies/, by the rule every
// preset follows (preset_resolver.hpp).
#pragma once

#include <string>
#include <vector>

#include "sim/network/topology.hpp"

namespace moesim::io {

/// `path_or_preset`: a file path (contains '/' or ends in ".json") or a preset name. Returns a
/// finalized topology; throws InputError with the file and JSON path of any problem.
network::Topology load_topology(const std::string& path_or_preset);
/// Parses JSON text that came from `origin` (for messages).
network::Topology topology_from_json_text(const std::string& text, const std::string& origin);
/// The topology as JSON (the same schema; load(write(t)) gives t back).
std::string topology_to_json(const network::Topology& topology);

std::string topology_dir();
/// Preset names found in topology_dir(), sorted.
std::vector<std::string> topology_presets();

}  // namespace moesim::io
