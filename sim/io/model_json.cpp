#include "sim/io/model_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "sim/io/json_reader.hpp"
#include "sim/io/preset_resolver.hpp"

namespace moesim::io {
namespace {

ModelSpec read_model(const nlohmann::json& doc, const std::string& origin) {
  const JsonReader r(doc, origin);
  r.expect_object({"name",
                   "source",
                   "layers",
                   "hidden",
                   "ffn_hidden",
                   "expert_ffn_hidden",
                   "heads",
                   "kv_heads",
                   "seq_len",
                   "micro_batch",
                   "experts",
                   "top_k",
                   "capacity_factor",
                   "dropless",
                   "moe_layers",
                   "expert_ffn",
                   "dtype",
                   "shared_experts",
                   "note",
                   "first_dense_layers",
                   "q_lora_rank",
                   "kv_lora_rank",
                   "qk_nope_head_dim",
                   "qk_rope_head_dim",
                   "v_head_dim",
                   "head_dim",
                   "vocab_size",
                   "sliding_window",
                   "sliding_window_layers",
                   "gemm_dtype",
                   "mtp_layers",
                   "node_limit"});
  ModelSpec m;
  m.name = r.at("name").as_string();
  m.source = r.at("source").as_string();
  if (m.source.empty()) r.at("source").fail("empty source", "where the numbers come from");
  m.layers = r.at("layers").as_int_at_least(1);
  m.hidden = r.at("hidden").as_int_at_least(1);
  m.ffn_hidden = r.at("ffn_hidden").as_int_at_least(1);
  m.expert_ffn_hidden =
      r.has("expert_ffn_hidden") ? r.at("expert_ffn_hidden").as_int_at_least(1) : m.ffn_hidden;
  m.heads = r.at("heads").as_int_at_least(1);
  m.kv_heads = r.has("kv_heads") ? r.at("kv_heads").as_int_at_least(1) : m.heads;
  m.seq_len = r.at("seq_len").as_int_at_least(1);
  m.micro_batch = r.at("micro_batch").as_int_at_least(1);
  m.experts = r.at("experts").as_int_at_least(1);
  m.top_k = r.at("top_k").as_int_at_least(1);
  m.dropless = r.bool_or("dropless", false);
  if (!m.dropless) {
    m.capacity_factor = r.at("capacity_factor").as_double_at_least(0.0, true);
  } else if (r.has("capacity_factor")) {
    r.at("capacity_factor")
        .fail("capacity_factor given for a dropless model",
              "no capacity_factor with \"dropless\": true");
  }
  if (auto v = r.find("moe_layers")) {
    const auto p = parse_moe_layers(v->as_string());
    if (!p) v->fail("unknown value", "\"every\" or \"every_other\"");
    m.moe_layers = *p;
  }
  if (auto v = r.find("expert_ffn")) {
    const auto p = parse_expert_ffn(v->as_string());
    if (!p) v->fail("unknown value", "\"two_gemm\" or \"swiglu\"");
    m.expert_ffn = *p;
  }
  if (auto v = r.find("dtype")) {
    const auto p = parse_dtype(v->as_string());
    if (!p) v->fail("unknown value", "\"fp32\", \"fp16\", \"bf16\" or \"fp8\"");
    m.dtype = *p;
  }
  m.shared_experts = r.has("shared_experts") ? r.at("shared_experts").as_int_at_least(0) : 0;
  const auto optional_int = [&](std::string_view key) {
    return r.has(key) ? r.at(key).as_int_at_least(0) : std::int64_t{0};
  };
  m.first_dense_layers = optional_int("first_dense_layers");
  m.mla.q_lora_rank = optional_int("q_lora_rank");
  m.mla.kv_lora_rank = optional_int("kv_lora_rank");
  m.mla.qk_nope_head_dim = optional_int("qk_nope_head_dim");
  m.mla.qk_rope_head_dim = optional_int("qk_rope_head_dim");
  m.mla.v_head_dim = optional_int("v_head_dim");
  m.attention_head_dim = optional_int("head_dim");
  m.vocab_size = optional_int("vocab_size");
  m.sliding_window = optional_int("sliding_window");
  m.mtp_layers = optional_int("mtp_layers");
  m.node_limit = optional_int("node_limit");
  if (auto v = r.find("sliding_window_layers")) {
    const auto p = parse_sliding_layers(v->as_string());
    if (!p) v->fail("unknown value", "\"even\" or \"all\"");
    m.sliding_layers = *p;
  }
  if (auto v = r.find("gemm_dtype")) {
    const auto p = parse_dtype(v->as_string());
    if (!p || (*p != DType::fp8 && *p != m.dtype)) {
      v->fail("unknown value",
              fmt::format("\"fp8\" or the model dtype \"{}\"", to_string(m.dtype)));
    }
    m.fp8_linear = *p == DType::fp8;
  }
  m.validate(origin);
  return m;
}

}  // namespace

std::string model_dir() { return model_presets_dir().dir; }

std::vector<std::string> model_presets() { return preset_names(model_presets_dir()); }

ModelSpec model_from_json_text(const std::string& text, const std::string& origin) {
  return read_model(parse_json_text(text, origin), origin);
}

ModelSpec load_model(const std::string& path_or_preset) {
  const std::string file = resolve_preset(model_presets_dir(), path_or_preset);
  return read_model(parse_json_file(file), file);
}

}  // namespace moesim::io
