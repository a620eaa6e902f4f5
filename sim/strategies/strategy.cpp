#include "sim/strategies/strategy.hpp"

#include <fmt/format.h>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

void require_layer_split(const ParallelLayout& layout, std::string_view strategy) {
  if (layout.ends_in_split) {
    throw input_error("", "--parallel", "split=ends is Megatron-Core's pipeline split",
                      fmt::format("split=ends with {}", strategy),
                      "split=layers (the default), or a megatron strategy");
  }
}

void require_no_mtp(const ModelSpec& model, std::string_view strategy) {
  if (model.mtp_layers > 0) {
    throw input_error(
        "", "--model",
        fmt::format("{}: multi-token prediction is not built by {}", model.name, strategy),
        fmt::format("mtp_layers={}", model.mtp_layers),
        "mtp_layers=0 (--set mtp_layers=0), or megatron, megatron-a2a-overlap, "
        "dualpipe, dualpipev");
  }
}

}  // namespace moesim::strategies
