#include "sim/workload/parallel_layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <vector>

#include "sim/core/errors.hpp"
#include "sim/workload/model_spec.hpp"

namespace moesim {

std::string_view to_string(PipelineSchedule s) {
  return s == PipelineSchedule::gpipe ? "gpipe" : "1f1b";
}

std::string ParallelLayout::describe() const {
  std::string s = fmt::format("dp={},tp={},ep={},esp={},edp={},pp={}", dp, tp, ep, esp, edp, pp);
  if (pp > 1 || micro_batches > 1) {
    s += fmt::format(",mb={},schedule={}", micro_batches, to_string(pp_schedule));
  }
  if (ends_in_split) s += ",split=ends";
  if (first_stage_layers > 0) s += fmt::format(",first_stage_layers={}", first_stage_layers);
  if (last_stage_layers > 0) s += fmt::format(",last_stage_layers={}", last_stage_layers);
  return s;
}

namespace {

/// Layers of each stage that is neither a given first nor a given last stage.
std::int64_t middle_stage_layers(const ParallelLayout& l) {
  if (l.ends_in_split) return (l.model_layers + 2) / l.pp;
  const std::int64_t given = (l.first_stage_layers > 0 ? 1 : 0) + (l.last_stage_layers > 0 ? 1 : 0);
  const std::int64_t middle = l.pp - given;
  return middle > 0 ? (l.model_layers - l.first_stage_layers - l.last_stage_layers) / middle : 0;
}

}  // namespace

std::int64_t ParallelLayout::layers_of_stage(std::int64_t stage) const {
  const std::int64_t middle = middle_stage_layers(*this);
  if (ends_in_split) return middle - (stage == 0 ? 1 : 0) - (stage == pp - 1 ? 1 : 0);
  if (pp > 1 && stage == 0 && first_stage_layers > 0) return first_stage_layers;
  if (pp > 1 && stage == pp - 1 && last_stage_layers > 0) return last_stage_layers;
  return middle;
}

std::int64_t ParallelLayout::first_layer_of_stage(std::int64_t stage) const {
  // Every stage between the first and the last holds the same count; stage pp = the end.
  if (stage >= pp) return model_layers;
  return stage == 0 ? 0 : layers_of_stage(0) + (stage - 1) * middle_stage_layers(*this);
}

std::int64_t ParallelLayout::stage_of_layer(std::int64_t layer) const {
  const std::int64_t first = layers_of_stage(0);
  const std::int64_t middle = middle_stage_layers(*this);
  if (layer < first || pp == 1) return 0;
  if (middle == 0) return pp - 1;
  return std::min(pp - 1, 1 + (layer - first) / middle);
}

ParallelLayout::LayerRange ParallelLayout::chunk_layers(std::int64_t stage, std::int64_t chunk,
                                                        std::int64_t chunks) const {
  if (ends_in_split) {
    // Slots of the split: slot 0 is the embedding and slot layers + 1 the loss (Megatron-Core's
    // account_for_embedding / account_for_loss_in_pipeline_split), so the first and last chunks
    // hold one layer fewer.
    const std::int64_t per = (model_layers + 2) / (pp * chunks);
    const std::int64_t v = chunk * pp + stage;
    const std::int64_t first = std::max<std::int64_t>(0, v * per - 1);
    const std::int64_t end = std::min(model_layers, (v + 1) * per - 1);
    return LayerRange{first, end - first};
  }
  return LayerRange{chunk * (model_layers / chunks) + first_layer_of_stage(stage) / chunks,
                    layers_of_stage(stage) / chunks};
}

void ParallelLayout::check_chunks(std::int64_t chunks, std::string_view flag) const {
  if (chunks == 1) return;
  const std::string got = fmt::format("pp={}, vp={}, layers={}", pp, chunks, model_layers);
  // chunks <= layers first: pp x chunks then cannot overflow (both are at most
  // ModelSpec::kMaxLayers).
  const bool fits = chunks >= 1 && chunks <= model_layers;
  if (ends_in_split) {
    if (!fits || (model_layers + 2) % (pp * chunks) != 0) {
      throw input_error("", flag, "pp x vp must divide layers + 2 (split=ends)", got,
                        "layers + 2 a multiple of pp x vp");
    }
    return;
  }
  if (!uneven_stages()) {
    if (!fits || model_layers % (pp * chunks) != 0) {
      throw input_error("", flag, "pp x vp must divide the number of layers", got,
                        "layers a multiple of pp x vp");
    }
    return;
  }
  // Megatron-Core (transformer_config.py) asks the same of the first, last and middle stages.
  const auto check = [&](std::string_view which, std::int64_t layers) {
    if (!fits || layers % chunks != 0) {
      throw input_error("", flag, "vp must divide the layers of every pipeline stage",
                        fmt::format("{} stage {} layers, vp={}", which, layers, chunks),
                        "first_stage_layers, last_stage_layers and the middle stages' layers "
                        "multiples of vp");
    }
  };
  check("first", layers_of_stage(0));
  if (pp > 2) check("middle", layers_of_stage(1));
  check("last", layers_of_stage(pp - 1));
}

namespace {

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t next = text.find(sep, pos);
    out.emplace_back(text.substr(pos, next == std::string_view::npos ? next : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

void check_order(std::string_view order, std::vector<std::string> expected_tokens,
                 std::string_view what, std::string_view flag) {
  std::vector<std::string> got = split(order, ',');
  std::vector<std::string> sorted_got = got;
  std::sort(sorted_got.begin(), sorted_got.end());
  std::vector<std::string> sorted_expected = expected_tokens;
  std::sort(sorted_expected.begin(), sorted_expected.end());
  if (sorted_got != sorted_expected) {
    std::string list;
    for (const auto& t : expected_tokens) list += (list.empty() ? "" : ",") + t;
    throw input_error("", flag, fmt::format("{}: not an order of {}", what, list), order,
                      fmt::format("a permutation of {}", list));
  }
}

}  // namespace

namespace {
constexpr std::int64_t kMaxParallelSize = std::int64_t{1} << 20;
}  // namespace

ParallelLayout parse_parallel_layout(std::string_view text, std::string_view flag) {
  ParallelLayout layout;
  std::set<std::string> seen;
  for (const std::string& item : split(text, ',')) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw input_error("", flag, "not a key=value pair", item,
                        "dp=N,tp=N,ep=N,esp=N,pp=N,mb=N,schedule=gpipe|1f1b,split=layers|ends,"
                        "first_stage_layers=N,last_stage_layers=N");
    }
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (!seen.insert(key).second) throw input_error("", flag, "key given twice", key, "each once");
    if (key == "schedule") {
      if (value == "gpipe") {
        layout.pp_schedule = PipelineSchedule::gpipe;
      } else if (value == "1f1b") {
        layout.pp_schedule = PipelineSchedule::one_f_one_b;
      } else {
        throw input_error("", flag, "unknown pipeline schedule", value, "gpipe or 1f1b");
      }
      continue;
    }
    if (key == "split") {
      if (value != "layers" && value != "ends") {
        throw input_error("", flag, "unknown pipeline split", value,
                          "layers, or ends (embedding and loss counted as a layer each)");
      }
      layout.ends_in_split = value == "ends";
      continue;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc() && end == value.data() + value.size() && v > kMaxParallelSize)) {
      // 2^20 GPUs in one dimension: the product of three stays inside int64.
      throw input_error("", flag, fmt::format("{}: out of range", key), value,
                        fmt::format("1..{}", kMaxParallelSize));
    }
    if (ec != std::errc() || end != value.data() + value.size() || v < 1) {
      throw input_error("", flag, fmt::format("{}: not a positive integer", key), value, ">= 1");
    }
    if (key == "dp")
      layout.dp = v;
    else if (key == "tp")
      layout.tp = v;
    else if (key == "ep")
      layout.ep = v;
    else if (key == "esp")
      layout.esp = v;
    else if (key == "pp")
      layout.pp = v;
    else if (key == "mb")
      layout.micro_batches = v;
    else if (key == "first_stage_layers")
      layout.first_stage_layers = v;
    else if (key == "last_stage_layers")
      layout.last_stage_layers = v;
    else {
      throw input_error("", flag, "unknown parallel dimension", key,
                        "dp, tp, ep, esp, pp, mb, schedule, split, first_stage_layers or "
                        "last_stage_layers");
    }
  }
  return layout;
}

void ParallelLayout::check_stage_split(const ModelSpec& model, std::string_view flag) const {
  const std::string uneven = fmt::format("first_stage_layers={}, last_stage_layers={}",
                                         first_stage_layers, last_stage_layers);
  if (uneven_stages() && ends_in_split) {
    // Megatron-Core refuses the two together (transformer_config.py).
    throw input_error("", flag, "first_stage_layers / last_stage_layers with split=ends",
                      fmt::format("split=ends, {}", uneven),
                      "one of them: split=ends, or first/last_stage_layers");
  }
  if (uneven_stages() && pp < 2) {
    throw input_error("", flag, "first_stage_layers / last_stage_layers need a pipeline",
                      fmt::format("pp={}, {}", pp, uneven), "pp >= 2");
  }
  if (uneven_stages()) {
    const std::int64_t given = (first_stage_layers > 0 ? 1 : 0) + (last_stage_layers > 0 ? 1 : 0);
    const std::int64_t middle = pp - given;
    const std::int64_t rest = model.layers - first_stage_layers - last_stage_layers;
    if (middle == 0 && rest != 0) {
      throw input_error("", flag, "with pp=2 the first and last stages hold every layer",
                        fmt::format("{}, layers={}", uneven, model.layers),
                        fmt::format("first_stage_layers + last_stage_layers = {}", model.layers));
    }
    if (middle > 0 && (rest < middle || rest % middle != 0)) {
      throw input_error(
          "", flag, "the layers left to the middle stages do not divide evenly over them",
          fmt::format(
              "layers={} - first_stage_layers={} - last_stage_layers={} = {} over {} stages",
              model.layers, first_stage_layers, last_stage_layers, rest, middle),
          fmt::format("a positive multiple of {}", middle));
    }
    return;
  }
  if (ends_in_split && (model.layers + 2) % pp != 0) {
    throw input_error("", flag, "with split=ends, pp must divide layers + 2",
                      fmt::format("pp={}, layers={}", pp, model.layers), "pp dividing layers + 2");
  }
  if (!ends_in_split && model.layers % pp != 0) {
    throw input_error("", flag, "pp must divide the number of layers",
                      fmt::format("pp={}, layers={}", pp, model.layers),
                      "pp dividing layers, or first_stage_layers=N / last_stage_layers=N for an "
                      "uneven split");
  }
}

void ParallelLayout::resolve(const ModelSpec& model, std::int64_t gpu_count,
                             std::int64_t gpus_per_node, std::string_view flag) {
  check_order(order, {"tp", "dp", "pp"}, "rank order", "--order");
  check_order(expert_order, {"esp", "edp", "ep"}, "expert order", "--expert-order");
  if (expert_order.rfind("esp", 0) != 0) {
    throw input_error("", "--expert-order", "esp must come first (innermost)", expert_order,
                      "esp,edp,ep or esp,ep,edp");
  }
  if (dp == 0) {
    if (gpu_count % (tp * pp) != 0) {
      throw input_error("", flag, "tp*pp does not divide the GPU count",
                        fmt::format("tp={} pp={} on {} GPUs", tp, pp, gpu_count),
                        "tp*pp dividing the GPU count");
    }
    dp = gpu_count / (tp * pp);
  }
  if (world() != gpu_count) {
    throw input_error("", flag, "dp*tp*pp must equal the number of GPUs",
                      fmt::format("dp={} tp={} pp={} -> {}", dp, tp, pp, world()),
                      fmt::format("{} GPUs", gpu_count));
  }
  if (stage_size() % (ep * esp) != 0) {
    throw input_error("", flag, "ep*esp must divide dp*tp (the ranks of a pipeline stage)",
                      fmt::format("ep={} esp={}, dp*tp={}", ep, esp, stage_size()),
                      "ep*esp dividing dp*tp");
  }
  edp = stage_size() / (ep * esp);
  if (model.experts % ep != 0) {
    throw input_error("", flag, "ep must divide the number of experts",
                      fmt::format("ep={}, experts={}", ep, model.experts), "ep dividing experts");
  }
  model_layers = model.layers;
  check_stage_split(model, flag);
  if (model.heads % tp != 0 || model.ffn_hidden % tp != 0) {
    throw input_error(
        "", flag, "tp must divide heads and ffn_hidden",
        fmt::format("tp={}, heads={}, ffn_hidden={}", tp, model.heads, model.ffn_hidden),
        "tp dividing both");
  }
  if (model.expert_ffn_hidden % esp != 0) {
    throw input_error("", flag, "esp must divide expert_ffn_hidden",
                      fmt::format("esp={}, expert_ffn_hidden={}", esp, model.expert_ffn_hidden),
                      "esp dividing expert_ffn_hidden");
  }
  const auto fits = [&](std::string_view name, std::int64_t size) {
    if (gpus_per_node % size != 0 && size % gpus_per_node != 0) {
      throw input_error("", flag, fmt::format("{} groups must tile the nodes", name),
                        fmt::format("{}={} with {} GPUs per node", name, size, gpus_per_node),
                        fmt::format("{} dividing or a multiple of {}", name, gpus_per_node));
    }
  };
  fits("tp", tp);
  fits("esp", esp);
  if (micro_batches < pp && pp > 1) {
    throw input_error("", flag, "fewer micro-batches than pipeline stages",
                      fmt::format("mb={}, pp={}", micro_batches, pp), "mb >= pp");
  }
}

}  // namespace moesim
