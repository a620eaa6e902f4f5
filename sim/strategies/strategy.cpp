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

}  // namespace moesim::strategies
