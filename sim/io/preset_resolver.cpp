#include "sim/io/preset_resolver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "sim/core/errors.hpp"

#ifndef MOESIM_TOPOLOGY_DIR
#define MOESIM_TOPOLOGY_DIR "topologies"
#endif
#ifndef MOESIM_MODEL_DIR
#define MOESIM_MODEL_DIR "traces/models"
#endif

namespace moesim::io {
namespace {

std::string dir_from(const char* env_name, const char* built_in) {
  if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') return env;
  return built_in;
}

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos ||
         (s.size() > 5 && s.compare(s.size() - 5, 5, ".json") == 0);
}

}  // namespace

PresetDirectory model_presets_dir() {
  return {dir_from("MOESIM_MODEL_DIR", MOESIM_MODEL_DIR), "--model", "model preset"};
}

PresetDirectory topology_presets_dir() {
  return {dir_from("MOESIM_TOPOLOGY_DIR", MOESIM_TOPOLOGY_DIR), "--topology", "topology preset"};
}

PresetDirectory gpu_presets_dir() { return {topology_presets_dir().dir + "/gpus", "--gpu", "GPU"}; }

std::vector<std::string> preset_names(const PresetDirectory& presets) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(presets.dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      out.push_back(entry.path().stem().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string resolve_preset(const PresetDirectory& presets, const std::string& path_or_name) {
  if (looks_like_path(path_or_name) || std::filesystem::is_regular_file(path_or_name)) {
    return path_or_name;
  }
  const std::string file = presets.dir + "/" + path_or_name + ".json";
  if (!std::filesystem::is_regular_file(file)) {
    std::string known;
    for (const auto& p : preset_names(presets)) known += (known.empty() ? "" : ", ") + p;
    throw input_error("", presets.flag, "unknown " + presets.what,
                      fmt::format("\"{}\"", path_or_name),
                      fmt::format("a .json file or one of: {}", known));
  }
  return file;
}

}  // namespace moesim::io
