// Routing trace files (traces/routing/): recorded token-to-expert counts per iteration, MoE
// layer, source and expert, as JSON or CSV (schema: traces/routing/README.md). Read strictly;
// errors name the file and the JSON path or CSV line.
#pragma once

#include <string>

#include "sim/workload/routing.hpp"

namespace moesim::io {

/// Reads `path` (".csv" = CSV, anything else = JSON).
RoutingTrace load_routing_trace(const std::string& path);
RoutingTrace routing_trace_from_json_text(const std::string& text, const std::string& origin);
RoutingTrace routing_trace_from_csv_text(const std::string& text, const std::string& origin);

}  // namespace moesim::io
