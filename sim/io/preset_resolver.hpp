// PresetDirectory: the one rule by which a model, topology or GPU argument names a file.
//   - a path (contains '/', ends in ".json", or names an existing file) is read as given;
//   - otherwise it is a preset name, read from <dir>/<name>.json;
//   - an unknown name is an InputError on the flag, listing the presets that exist.
// So `--gpu my.json`, `--model my.json` and `--topology my.json` behave alike, as do the names.
// Directories: models $MOESIM_MODEL_DIR, else the source tree's traces/models; topologies
// $MOESIM_TOPOLOGY_DIR, else the source tree's topologies; GPUs <topology dir>/gpus.
#pragma once

#include <string>
#include <vector>

namespace moesim::io {

struct PresetDirectory {
  std::string dir;   ///< where preset files live
  std::string flag;  ///< the flag naming one ("--model"), for errors
  std::string what;  ///< what a preset is ("model preset"), for errors
};

PresetDirectory model_presets_dir();
PresetDirectory topology_presets_dir();
PresetDirectory gpu_presets_dir();

/// The file `path_or_name` refers to under the rule above (InputError when neither).
std::string resolve_preset(const PresetDirectory& presets, const std::string& path_or_name);

/// The preset names in the directory, sorted (empty when it does not exist).
std::vector<std::string> preset_names(const PresetDirectory& presets);

}  // namespace moesim::io
