#include "sim/io/gpu_spec_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "sim/io/json_reader.hpp"
#include "sim/io/preset_resolver.hpp"

namespace moesim::io {
namespace {

compute::GpuSpec read_gpu(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader r(doc, origin);
  r.expect_object({"name", "description", "sm_count", "peak_tflops", "hbm_gbps", "sources"});
  compute::GpuSpec g;
  g.name = r.at("name").as_string();
  g.description = r.string_or("description", "");
  g.sm_count = static_cast<int>(r.at("sm_count").as_int_at_least(1));
  const JsonReader peaks = r.at("peak_tflops");
  const auto members = peaks.members();
  if (members.empty()) peaks.fail("no dtype", "at least one of fp32, fp16, bf16, fp8");
  for (const auto& [key, value] : members) {
    const auto dtype = parse_dtype(key);
    if (!dtype) {
      value.fail_got("unknown dtype", fmt::format("\"{}\"", key), "fp32, fp16, bf16 or fp8");
    }
    g.peak_tflops[*dtype] = value.as_positive();
  }
  g.hbm_gbps = r.at("hbm_gbps").as_positive();
  if (auto s = r.find("sources")) {
    for (const auto& [key, value] : s->members()) g.sources[key] = value.as_string();
  }
  return g;
}

}  // namespace

std::vector<std::string> gpu_spec_names() { return preset_names(gpu_presets_dir()); }

compute::GpuSpec gpu_spec_from_json_text(const std::string& text, const std::string& origin) {
  return read_gpu(parse_json_text(text, origin), origin);
}

compute::GpuSpec load_gpu_spec(const std::string& path_or_name) {
  const std::string file = resolve_preset(gpu_presets_dir(), path_or_name);
  return read_gpu(parse_json_file(file), file);
}

}  // namespace moesim::io
