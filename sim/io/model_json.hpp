// Model preset files (traces/models/<name>.json): reading, strict, through JsonReader.
// Schema: traces/models/README.md. A preset name ("mixtral-8x7b") resolves to
// <dir>/<name>.json, <dir> = $MOESIM_MODEL_DIR or the source tree's traces/models, by the rule
// every preset follows (preset_resolver.hpp).
#pragma once

#include <string>
#include <vector>

#include "sim/workload/model_spec.hpp"

namespace moesim::io {

/// `path_or_preset`: a .json path or a preset name. Throws InputError naming file and field.
ModelSpec load_model(const std::string& path_or_preset);
ModelSpec model_from_json_text(const std::string& text, const std::string& origin);
std::string model_dir();
std::vector<std::string> model_presets();

}  // namespace moesim::io
