#include "sim/io/gpu_spec_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "sim/io/attention_rates_json.hpp"
#include "sim/io/json_reader.hpp"
#include "sim/io/preset_resolver.hpp"

namespace moesim::io {
namespace {

compute::GpuSpec read_gpu(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader r(doc, origin);
  r.expect_object(
      {"name", "description", "sm_count", "peak_tflops", "hbm_gbps", "sources", "kernel_model"});
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
  if (auto km = r.find("kernel_model")) {
    km->expect_object({"mma_efficiency", "tile_overhead_us", "tile_128x128_efficiency",
                       "tile_64x128_efficiency", "hbm_efficiency", "launch_us",
                       "fp8_mma_efficiency", "fp32_mma_efficiency", "attention_rates",
                       "unfused_attention_rates", "source"});
    compute::KernelModelSpec& k = g.kernel_model;
    const auto fraction = [&](const char* key, double& out) {
      if (auto v = km->find(key)) {
        out = v->as_positive();
        if (out > 1.0) v->fail("out of range", "a fraction in (0, 1]");
      }
    };
    fraction("mma_efficiency", k.mma_efficiency);
    fraction("tile_128x128_efficiency", k.tile_128x128_efficiency);
    fraction("tile_64x128_efficiency", k.tile_64x128_efficiency);
    fraction("hbm_efficiency", k.hbm_efficiency);
    if (km->find("fp8_mma_efficiency")) {
      double fp8 = 0;
      fraction("fp8_mma_efficiency", fp8);
      k.fp8_mma_efficiency = fp8;
    }
    if (km->find("fp32_mma_efficiency")) {
      double fp32 = 0;
      fraction("fp32_mma_efficiency", fp32);
      k.fp32_mma_efficiency = fp32;
    }
    if (auto v = km->find("tile_overhead_us")) k.tile_overhead_us = v->as_double_at_least(0.0);
    if (auto v = km->find("launch_us")) k.launch_us = v->as_double_at_least(0.0);
    const auto table = [&](const char* key, bool fused) {
      std::shared_ptr<const compute::AttentionRateTable> out;
      if (auto v = km->find(key)) {
        out = load_attention_rates(v->as_string(), fmt::format("{}: {}", v->file(), v->where()));
        if (out->skips_masked_tiles() != fused) {
          v->fail(fused ? "names an unfused table" : "names a fused table",
                  fused ? "a table with skips_masked_tiles true"
                        : "a table with skips_masked_tiles false");
        }
      }
      return out;
    };
    k.attention_rates = table("attention_rates", true);
    k.unfused_attention_rates = table("unfused_attention_rates", false);
    k.source = km->at("source").as_string();
  }
  return g;
}

}  // namespace

std::vector<std::string> gpu_spec_names() { return preset_names(gpu_presets_dir()); }

nlohmann::json gpu_spec_to_json(const compute::GpuSpec& gpu) {
  nlohmann::ordered_json j;
  j["name"] = gpu.name;
  if (!gpu.description.empty()) j["description"] = gpu.description;
  j["sm_count"] = gpu.sm_count;
  for (const auto& [dtype, tflops] : gpu.peak_tflops) j["peak_tflops"][to_string(dtype)] = tflops;
  j["hbm_gbps"] = gpu.hbm_gbps;
  for (const auto& [key, value] : gpu.sources) j["sources"][key] = value;
  const compute::KernelModelSpec& k = gpu.kernel_model;
  j["kernel_model"] = {{"mma_efficiency", k.mma_efficiency},
                       {"tile_overhead_us", k.tile_overhead_us},
                       {"tile_128x128_efficiency", k.tile_128x128_efficiency},
                       {"tile_64x128_efficiency", k.tile_64x128_efficiency},
                       {"hbm_efficiency", k.hbm_efficiency},
                       {"launch_us", k.launch_us},
                       {"source", k.source.empty() ? std::string("defaults") : k.source}};
  if (k.fp8_mma_efficiency) j["kernel_model"]["fp8_mma_efficiency"] = *k.fp8_mma_efficiency;
  if (k.fp32_mma_efficiency) j["kernel_model"]["fp32_mma_efficiency"] = *k.fp32_mma_efficiency;
  if (k.attention_rates) j["kernel_model"]["attention_rates"] = k.attention_rates->name();
  if (k.unfused_attention_rates) {
    j["kernel_model"]["unfused_attention_rates"] = k.unfused_attention_rates->name();
  }
  return nlohmann::json::parse(j.dump());
}

compute::GpuSpec gpu_spec_from_json_text(const std::string& text, const std::string& origin) {
  return read_gpu(parse_json_text(text, origin), origin);
}

compute::GpuSpec load_gpu_spec(const std::string& path_or_name) {
  const std::string file = resolve_preset(gpu_presets_dir(), path_or_name);
  return read_gpu(parse_json_file(file), file);
}

}  // namespace moesim::io
