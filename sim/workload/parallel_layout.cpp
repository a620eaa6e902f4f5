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
  return s;
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
                        "dp=N,tp=N,ep=N,esp=N,pp=N,mb=N,schedule=gpipe|1f1b,split=layers|ends");
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
    else {
      throw input_error("", flag, "unknown parallel dimension", key,
                        "dp, tp, ep, esp, pp, mb, schedule or split");
    }
  }
  return layout;
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
  if (ends_in_split && (model.layers + 2) % pp != 0) {
    throw input_error("", flag, "with split=ends, pp must divide layers + 2",
                      fmt::format("pp={}, layers={}", pp, model.layers), "pp dividing layers + 2");
  }
  if (!ends_in_split && model.layers % pp != 0) {
    throw input_error("", flag, "pp must divide the number of layers",
                      fmt::format("pp={}, layers={}", pp, model.layers), "pp dividing layers");
  }
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
