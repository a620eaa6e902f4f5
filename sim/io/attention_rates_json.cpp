#include "sim/io/attention_rates_json.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "sim/io/json_reader.hpp"
#include "sim/io/preset_resolver.hpp"
#include "sim/workload/model_spec.hpp"

namespace moesim::io {
namespace {

PresetDirectory attention_rates_dir(const std::string& referred_from) {
  return {gpu_presets_dir().dir + "/attention", referred_from, "attention rate table"};
}

compute::AttentionRateSeries read_series(const JsonReader& r) {
  r.expect_object({"pass", "head_dim", "causal", "seq", "tflops"});
  compute::AttentionRateSeries s;
  const JsonReader pass = r.at("pass");
  const auto parsed = compute::parse_attention_pass(pass.as_string());
  if (!parsed) pass.fail("unknown pass", "forward or backward");
  s.pass = *parsed;
  // Head dims and sequences far beyond any published kernel are typos; rates above 1e5 TFLOP/s
  // are above every GPU's peak.
  s.head_dim = r.at("head_dim").as_int_in(1, 4096);
  s.causal = r.at("causal").as_bool();
  const std::vector<JsonReader> seq = r.at("seq").elements();
  const std::vector<JsonReader> tflops = r.at("tflops").elements();
  if (seq.empty()) r.at("seq").fail("no sequence length", "at least one");
  if (seq.size() != tflops.size()) {
    r.at("tflops").fail_got("one rate per sequence length", fmt::format("{} rates", tflops.size()),
                            fmt::format("{}", seq.size()));
  }
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const std::int64_t v = seq[i].as_int_in(1, std::int64_t{1} << 24);
    if (!s.seq.empty() && v <= s.seq.back()) {
      seq[i].fail("sequence lengths not ascending", fmt::format("above {}", s.seq.back()));
    }
    s.seq.push_back(v);
    s.tflops.push_back(tflops[i].as_double_in(0.0, 1e5, true));
  }
  return s;
}

}  // namespace

std::shared_ptr<const compute::AttentionRateTable> load_attention_rates(
    const std::string& name_or_path, const std::string& referred_from) {
  const std::string file = resolve_preset(attention_rates_dir(referred_from), name_or_path);
  const nlohmann::json doc = parse_json_file(file);
  const JsonReader r(doc, file);
  r.expect_object({"name", "kernel", "dtypes", "skips_masked_tiles", "source", "series"});
  const std::string name = r.at("name").as_string();
  r.at("source").as_string();  // provenance is required
  const bool skips_masked_tiles = r.at("skips_masked_tiles").as_bool();
  std::vector<DType> dtypes;
  for (const JsonReader& d : r.at("dtypes").elements()) {
    const auto dtype = parse_dtype(d.as_string());
    if (!dtype) d.fail("unknown dtype", "fp32, fp16, bf16 or fp8");
    dtypes.push_back(*dtype);
  }
  if (dtypes.empty()) r.at("dtypes").fail("no dtype", "at least one");
  std::vector<compute::AttentionRateSeries> series;
  const JsonReader list = r.at("series");
  for (const JsonReader& s : list.elements()) series.push_back(read_series(s));
  try {
    return std::make_shared<const compute::AttentionRateTable>(
        name, std::move(dtypes), std::move(series), skips_masked_tiles, ModelSpec::kAttentionTile);
  } catch (const std::invalid_argument& e) {
    list.fail(e.what());
  }
}

}  // namespace moesim::io
