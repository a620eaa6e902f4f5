#include "sim/io/gpu_spec_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "sim/io/json_reader.hpp"
#include "sim/io/topology_json.hpp"

namespace moesim::io {
namespace {

compute::GpuSpec read_gpu(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader r(doc, origin);
  r.expect_object({"name", "description", "sm_count", "peak_tflops", "hbm_gbps", "sources"});
  compute::GpuSpec g;
  g.name = r.at("name").as_string();
  g.description = r.string_or("description", "");
  // Ranges: up to 65536 SMs (an H100 has 132), 1e-3..1e5 TFLOP/s (a B200 has ~4500 FP8 dense),
  // 1e-3..1e6 GB/s of memory bandwidth (HBM3e: ~8000).
  g.sm_count = static_cast<int>(r.at("sm_count").as_int_in(1, 1 << 16));
  const JsonReader peaks = r.at("peak_tflops");
  const auto members = peaks.members();
  if (members.empty()) peaks.fail("no dtype", "at least one of fp32, fp16, bf16, fp8");
  for (const auto& [key, value] : members) {
    const auto dtype = parse_dtype(key);
    if (!dtype) {
      value.fail_got("unknown dtype", fmt::format("\"{}\"", key), "fp32, fp16, bf16 or fp8");
    }
    g.peak_tflops[*dtype] = value.as_double_in(1e-3, 1e5);
  }
  g.hbm_gbps = r.at("hbm_gbps").as_double_in(1e-3, 1e6);
  if (auto s = r.find("sources")) {
    for (const auto& [key, value] : s->members()) g.sources[key] = value.as_string();
  }
  return g;
}

std::string gpu_dir() { return topology_dir() + "/gpus"; }

}  // namespace

std::vector<std::string> gpu_spec_names() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(gpu_dir(), ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      out.push_back(entry.path().stem().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

compute::GpuSpec gpu_spec_from_json_text(const std::string& text, const std::string& origin) {
  return read_gpu(parse_json_text(text, origin), origin);
}

compute::GpuSpec load_gpu_spec(const std::string& path_or_name) {
  if (path_or_name.find('/') != std::string::npos) {
    return read_gpu(parse_json_file(path_or_name), path_or_name);
  }
  const std::string file = gpu_dir() + "/" + path_or_name + ".json";
  if (!std::filesystem::is_regular_file(file)) {
    std::string known;
    for (const auto& p : gpu_spec_names()) known += (known.empty() ? "" : ", ") + p;
    throw input_error("", "--gpu", "unknown GPU", fmt::format("\"{}\"", path_or_name),
                      fmt::format("a .json file or one of: {}", known));
  }
  return read_gpu(parse_json_file(file), file);
}

}  // namespace moesim::io
