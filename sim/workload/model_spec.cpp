#include "sim/workload/model_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "sim/core/errors.hpp"

namespace moesim {

std::string_view to_string(MoeLayers v) { return v == MoeLayers::every ? "every" : "every_other"; }
std::optional<MoeLayers> parse_moe_layers(std::string_view s) {
  if (s == "every") return MoeLayers::every;
  if (s == "every_other") return MoeLayers::every_other;
  return std::nullopt;
}
std::string_view to_string(ExpertFfn v) { return v == ExpertFfn::swiglu ? "swiglu" : "two_gemm"; }
std::optional<ExpertFfn> parse_expert_ffn(std::string_view s) {
  if (s == "two_gemm") return ExpertFfn::two_gemm;
  if (s == "swiglu") return ExpertFfn::swiglu;
  return std::nullopt;
}

std::string_view to_string(SlidingLayers v) { return v == SlidingLayers::all ? "all" : "even"; }
std::optional<SlidingLayers> parse_sliding_layers(std::string_view s) {
  if (s == "even") return SlidingLayers::even;
  if (s == "all") return SlidingLayers::all;
  return std::nullopt;
}

std::string_view to_string(AttentionKernel v) {
  return v == AttentionKernel::flash_causal ? "flash_causal" : "dense_masked";
}
std::optional<AttentionKernel> parse_attention_kernel(std::string_view s) {
  if (s == "dense_masked") return AttentionKernel::dense_masked;
  if (s == "flash_causal") return AttentionKernel::flash_causal;
  return std::nullopt;
}

std::int64_t causal_tile_pairs(std::int64_t seq, std::int64_t window, std::int64_t tile) {
  std::int64_t pairs = 0;
  for (std::int64_t start = 0; start < seq; start += tile) {
    const std::int64_t end = std::min(seq, start + tile);
    const std::int64_t first_key = window > 0 ? std::max<std::int64_t>(0, start - window + 1) : 0;
    const std::int64_t first_tile_key = first_key / tile * tile;
    pairs += (end - start) * (end - first_tile_key);
  }
  return pairs;
}

double ModelSpec::keys_per_query(std::int64_t layer) const {
  if (!attention_kernel) {
    if (!is_sliding_layer(layer)) return static_cast<double>(seq_len);
    const std::int64_t tiles = (sliding_window + kAttentionTile - 1) / kAttentionTile + 1;
    return static_cast<double>(std::min(seq_len, tiles * kAttentionTile));
  }
  if (*attention_kernel == AttentionKernel::dense_masked) return static_cast<double>(seq_len);
  const std::int64_t window = is_sliding_layer(layer) ? sliding_window : 0;
  return static_cast<double>(causal_tile_pairs(seq_len, window, kAttentionTile)) /
         static_cast<double>(seq_len);
}

std::int64_t ModelSpec::attended_keys(std::int64_t layer) const {
  return static_cast<std::int64_t>(std::ceil(keys_per_query(layer)));
}

std::int64_t ModelSpec::moe_layer_count() const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

std::int64_t ModelSpec::moe_index_of(std::int64_t layer) const {
  if (!is_moe_layer(layer)) return -1;
  std::int64_t n = 0;
  const std::int64_t l = std::min(layer, layers);  // an MTP layer: every main MoE layer before it
  for (std::int64_t i = 0; i < l; ++i) n += is_moe_layer(i) ? 1 : 0;
  return is_mtp_layer(layer) ? n - 1 : n;
}

std::int64_t ModelSpec::attention_params() const {
  if (is_mla()) {
    const std::int64_t qk = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
    const std::int64_t q = mla.q_lora_rank > 0
                               ? hidden * mla.q_lora_rank + mla.q_lora_rank * heads * qk
                               : hidden * heads * qk;
    return q + hidden * (mla.kv_lora_rank + mla.qk_rope_head_dim) +
           mla.kv_lora_rank * heads * (mla.qk_nope_head_dim + mla.v_head_dim) +
           heads * mla.v_head_dim * hidden;
  }
  const std::int64_t q = query_width();
  const std::int64_t kv = head_dim() * kv_heads;
  return hidden * (q + 2 * kv) + q * hidden;
}

std::int64_t ModelSpec::dense_ffn_params() const { return expert_gemms() * hidden * ffn_hidden; }

double ModelSpec::training_flops_per_token() const {
  const double m = static_cast<double>(hidden);
  // Scores and weighted values: 2 keys (qk + v) per head (4 L M for multi-head attention of
  // hidden width); keys = attended_keys(layer).
  const double head_dims =
      is_mla() ? static_cast<double>(heads *
                                     (mla.qk_nope_head_dim + mla.qk_rope_head_dim + mla.v_head_dim))
               : 2.0 * static_cast<double>(query_width());
  const double projections = 2.0 * static_cast<double>(attention_params());
  const double dense = 2.0 * static_cast<double>(dense_ffn_params());
  const double expert = 2.0 * static_cast<double>(expert_params());
  const double moe =
      2.0 * m * static_cast<double>(experts) + static_cast<double>(top_k + shared_experts) * expert;
  // The LM head GEMM (vocab x hidden), counted as Megatron's MFU counts the logit layer.
  // Each MTP depth adds its 2M -> M projection, its layer and its own pass through the head.
  // The MFU convention counts every key of a full layer whatever kernel ran (the papers' and
  // Megatron's count, no causal halving), so a tile-skipping kernel shows as time saved, not
  // as model FLOPs lost.
  ModelSpec convention = *this;
  convention.attention_kernel.reset();
  double forward =
      2.0 * static_cast<double>(embedding_params()) * static_cast<double>(1 + mtp_layers);
  for (std::int64_t l = 0; l < total_layers(); ++l) {
    forward += projections + 2.0 * static_cast<double>(convention.attended_keys(l)) * head_dims +
               (is_moe_layer(l) ? moe : dense);
    if (is_mtp_layer(l)) forward += 2.0 * static_cast<double>(2 * hidden * hidden);
  }
  return 3.0 * forward;
}

void ModelSpec::validate(std::string_view origin) const {
  // Upper bounds: far above every published model (the largest have ~100 layers, hidden 18432,
  // 256 routed experts, top-8, sequences of 1M tokens), low enough that every product the
  // simulator forms (tokens x hidden x bytes, tokens x top_k x experts) stays inside int64.
  const auto in_range = [&](std::string_view field, std::int64_t v, std::int64_t max) {
    if (v <= 0) {
      throw input_error(origin, fmt::format("/{}", field), "out of range", std::to_string(v),
                        "> 0");
    }
    if (v > max) {
      throw input_error(origin, fmt::format("/{}", field), "out of range", std::to_string(v),
                        fmt::format("<= {}", max));
    }
  };
  in_range("layers", layers, kMaxLayers);
  in_range("hidden", hidden, kMaxHidden);
  in_range("ffn_hidden", ffn_hidden, kMaxFfnHidden);
  in_range("expert_ffn_hidden", expert_ffn_hidden, kMaxFfnHidden);
  in_range("heads", heads, kMaxHeads);
  in_range("kv_heads", kv_heads, kMaxHeads);
  const auto optional_size = [&](std::string_view field, std::int64_t v, std::int64_t max) {
    if (v < 0 || v > max) {
      throw input_error(origin, fmt::format("/{}", field), "out of range", std::to_string(v),
                        fmt::format("0..{} (0: not given)", max));
    }
  };
  optional_size("head_dim", attention_head_dim, kMaxHidden);
  optional_size("vocab_size", vocab_size, kMaxVocab);
  optional_size("sliding_window", sliding_window, kMaxSeqLen);
  in_range("seq_len", seq_len, kMaxSeqLen);
  in_range("micro_batch", micro_batch, kMaxMicroBatch);
  in_range("experts", experts, kMaxExperts);
  in_range("top_k", top_k, kMaxTopK);
  if (shared_experts < 0 || shared_experts > kMaxExperts) {
    throw input_error(origin, "/shared_experts", "out of range", std::to_string(shared_experts),
                      fmt::format("0..{}", kMaxExperts));
  }
  if (first_dense_layers < 0 || first_dense_layers > layers) {
    throw input_error(origin, "/first_dense_layers", "out of range",
                      std::to_string(first_dense_layers), fmt::format("0..{} (layers)", layers));
  }
  if (mtp_layers < 0 || mtp_layers > kMaxMtpLayers) {
    throw input_error(origin, "/mtp_layers", "out of range", std::to_string(mtp_layers),
                      fmt::format("0..{} (0: no multi-token prediction)", kMaxMtpLayers));
  }
  if (node_limit < 0 || node_limit > kMaxNodeLimit) {
    throw input_error(origin, "/node_limit", "out of range", std::to_string(node_limit),
                      fmt::format("0..{} (0: unlimited)", kMaxNodeLimit));
  }
  if (mtp_layers > 0 && vocab_size == 0) {
    throw input_error(
        origin, "/mtp_layers", "multi-token prediction shares the embedding and output head",
        fmt::format("mtp_layers={}, vocab_size=0", mtp_layers), "a vocab_size with mtp_layers > 0");
  }
  const auto mla_dim = [&](std::string_view field, std::int64_t v, bool needed) {
    if (v < 0 || v > kMaxHidden || (needed && v == 0)) {
      throw input_error(origin, fmt::format("/{}", field), "out of range", std::to_string(v),
                        needed ? fmt::format("1..{} with kv_lora_rank > 0", kMaxHidden)
                               : fmt::format("0..{}", kMaxHidden));
    }
  };
  mla_dim("kv_lora_rank", mla.kv_lora_rank, false);
  mla_dim("q_lora_rank", mla.q_lora_rank, false);
  mla_dim("qk_nope_head_dim", mla.qk_nope_head_dim, is_mla());
  mla_dim("qk_rope_head_dim", mla.qk_rope_head_dim, is_mla());
  mla_dim("v_head_dim", mla.v_head_dim, is_mla());
  if (tokens_per_micro_batch() > kMaxTokensPerMicroBatch) {
    throw input_error(origin, "/micro_batch", "out of range: seq_len x micro_batch too large",
                      fmt::format("{} x {} = {}", seq_len, micro_batch, tokens_per_micro_batch()),
                      fmt::format("<= {} tokens per micro-batch", kMaxTokensPerMicroBatch));
  }
  if (attention_head_dim == 0 && hidden % heads != 0) {
    throw input_error(origin, "/heads", "hidden is not divisible by heads",
                      fmt::format("hidden={}, heads={}", hidden, heads),
                      "heads dividing hidden, or a head_dim");
  }
  if (heads % kv_heads != 0) {
    throw input_error(origin, "/kv_heads", "heads is not divisible by kv_heads",
                      fmt::format("heads={}, kv_heads={}", heads, kv_heads),
                      "kv_heads dividing heads");
  }
  if (top_k > experts) {
    throw input_error(origin, "/top_k", "more experts per token than experts",
                      fmt::format("top_k={}, experts={}", top_k, experts), "top_k <= experts");
  }
  if (!dropless && !(capacity_factor > 0.0 && capacity_factor <= kMaxCapacityFactor)) {
    throw input_error(origin, "/capacity_factor", "out of range",
                      fmt::format("{}", capacity_factor),
                      fmt::format("in (0, {}], or \"dropless\": true", kMaxCapacityFactor));
  }
}

namespace {

std::int64_t parse_int(std::string_view flag, std::string_view key, std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw input_error("", flag, fmt::format("{}: not an integer", key), text, "an integer");
  }
  return v;
}

double parse_double(std::string_view flag, std::string_view key, std::string_view text) {
  try {
    std::size_t used = 0;
    const std::string s(text);
    const double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw input_error("", flag, fmt::format("{}: not a finite number", key), text, "a number");
}

bool parse_bool(std::string_view flag, std::string_view key, std::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  throw input_error("", flag, fmt::format("{}: not a boolean", key), text, "true or false");
}

void set_field(ModelSpec& s, std::string_view flag, std::string_view key, std::string_view value) {
  const auto i = [&] { return parse_int(flag, key, value); };
  if (key == "layers")
    s.layers = i();
  else if (key == "hidden")
    s.hidden = i();
  else if (key == "ffn_hidden")
    s.ffn_hidden = i();
  else if (key == "expert_ffn_hidden")
    s.expert_ffn_hidden = i();
  else if (key == "heads")
    s.heads = i();
  else if (key == "kv_heads")
    s.kv_heads = i();
  else if (key == "seq_len")
    s.seq_len = i();
  else if (key == "micro_batch")
    s.micro_batch = i();
  else if (key == "experts")
    s.experts = i();
  else if (key == "top_k")
    s.top_k = i();
  else if (key == "shared_experts")
    s.shared_experts = i();
  else if (key == "first_dense_layers")
    s.first_dense_layers = i();
  else if (key == "mtp_layers")
    s.mtp_layers = i();
  else if (key == "node_limit")
    s.node_limit = i();
  else if (key == "q_lora_rank")
    s.mla.q_lora_rank = i();
  else if (key == "kv_lora_rank")
    s.mla.kv_lora_rank = i();
  else if (key == "qk_nope_head_dim")
    s.mla.qk_nope_head_dim = i();
  else if (key == "qk_rope_head_dim")
    s.mla.qk_rope_head_dim = i();
  else if (key == "v_head_dim")
    s.mla.v_head_dim = i();
  else if (key == "head_dim")
    s.attention_head_dim = i();
  else if (key == "vocab_size")
    s.vocab_size = i();
  else if (key == "sliding_window")
    s.sliding_window = i();
  else if (key == "attention_kernel") {
    const auto v = parse_attention_kernel(value);
    if (!v) {
      throw input_error("", flag, "attention_kernel: unknown value", value,
                        "dense_masked or flash_causal");
    }
    s.attention_kernel = *v;
  } else if (key == "sliding_window_layers") {
    const auto v = parse_sliding_layers(value);
    if (!v)
      throw input_error("", flag, "sliding_window_layers: unknown value", value, "even or all");
    s.sliding_layers = *v;
  } else if (key == "gemm_dtype") {
    const auto v = parse_dtype(value);
    if (!v || (*v != DType::fp8 && *v != s.dtype)) {
      throw input_error("", flag, "gemm_dtype: unknown value", value,
                        fmt::format("fp8 or the model dtype {}", to_string(s.dtype)));
    }
    s.fp8_linear = *v == DType::fp8;
  } else if (key == "capacity_factor")
    s.capacity_factor = parse_double(flag, key, value);
  else if (key == "dropless")
    s.dropless = parse_bool(flag, key, value);
  else if (key == "moe_layers") {
    const auto v = parse_moe_layers(value);
    if (!v) throw input_error("", flag, "moe_layers: unknown value", value, "every or every_other");
    s.moe_layers = *v;
  } else if (key == "expert_ffn") {
    const auto v = parse_expert_ffn(value);
    if (!v) throw input_error("", flag, "expert_ffn: unknown value", value, "two_gemm or swiglu");
    s.expert_ffn = *v;
  } else if (key == "dtype") {
    const auto v = parse_dtype(value);
    if (!v) throw input_error("", flag, "dtype: unknown value", value, "fp32, fp16, bf16 or fp8");
    s.dtype = *v;
  } else {
    throw input_error("", flag, "unknown model field", key,
                      "one of layers, hidden, ffn_hidden, expert_ffn_hidden, heads, kv_heads, "
                      "seq_len, micro_batch, experts, top_k, capacity_factor, dropless, "
                      "moe_layers, expert_ffn, dtype, shared_experts, first_dense_layers, "
                      "q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, "
                      "head_dim, vocab_size, sliding_window, sliding_window_layers, gemm_dtype, "
                      "mtp_layers, node_limit, attention_kernel");
  }
}

}  // namespace

void apply_overrides(ModelSpec& spec, std::string_view overrides, std::string_view flag) {
  std::size_t pos = 0;
  while (pos <= overrides.size()) {
    const std::size_t comma = std::min(overrides.find(',', pos), overrides.size());
    const std::string_view item = overrides.substr(pos, comma - pos);
    const std::size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq == 0) {
      throw input_error("", flag, "not a key=value pair", item, "key=value[,key=value...]");
    }
    set_field(spec, flag, item.substr(0, eq), item.substr(eq + 1));
    pos = comma + 1;
  }
  spec.validate(fmt::format("{} (after {})", spec.name, flag));
}

}  // namespace moesim
