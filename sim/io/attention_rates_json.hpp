// Attention rate tables (topologies/gpus/attention/<name>.json): reading, strict, through
// JsonReader. A GPU file names one in kernel_model.attention_rates; a name resolves to
// <gpu dir>/attention/<name>.json, a path is read as given (preset_resolver.hpp's rule).
// Schema: topologies/gpus/README.md; model: sim/compute/attention_rate_table.hpp.
#pragma once

#include <memory>
#include <string>

#include "sim/compute/attention_rate_table.hpp"

namespace moesim::io {

/// The table `name_or_path` names; errors are InputErrors on the file, at the offending node,
/// and an unknown name one on `referred_from` (where the name was read, e.g. "h.json:
/// /kernel_model/attention_rates").
std::shared_ptr<const compute::AttentionRateTable> load_attention_rates(
    const std::string& name_or_path, const std::string& referred_from);

}  // namespace moesim::io
