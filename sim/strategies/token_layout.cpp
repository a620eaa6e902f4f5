#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {

TokenLayout read_token_layout(StrategyOptions& options) {
  const std::string v = options.get_choice("tokens", "split|duplicated", "");
  if (v == "split") return TokenLayout::split;
  if (v == "duplicated") return TokenLayout::duplicated;
  return TokenLayout::real_system;
}

bool split_tokens_over_tp(TokenLayout layout, std::int64_t tp, std::int64_t esp) {
  switch (layout) {
    case TokenLayout::split:
      return tp > 1;
    case TokenLayout::duplicated:
      return false;
    case TokenLayout::real_system:
      return tp > 1 && esp == 1;
  }
  return false;
}

}  // namespace moesim::strategies
