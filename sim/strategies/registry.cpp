#include "sim/strategies/registry.hpp"

#include <array>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::strategies {
namespace {

struct Entry {
  std::string_view name;
  std::unique_ptr<Strategy> (*make)();
};

// The one list of strategies. Add a line here (and a factory in registry.hpp) for a new one.
constexpr std::array kStrategies{
    Entry{"deepspeed-moe", &make_deepspeed_moe},
    Entry{"tutel", &make_tutel},
    Entry{"fastermoe", &make_fastermoe},
    Entry{"fsmoe", &make_fsmoe},
    Entry{"fsmoe-no-iio", &make_fsmoe_no_iio},
    Entry{"tutel-improved", &make_tutel_improved},
    Entry{"lancet", &make_lancet},
    Entry{"flexmoe", &make_flexmoe},
};

}  // namespace

std::vector<std::string_view> strategy_names() {
  std::vector<std::string_view> names;
  for (const Entry& e : kStrategies) names.push_back(e.name);
  return names;
}

std::unique_ptr<Strategy> make_strategy(std::string_view name, std::string_view flag) {
  std::string names;
  for (const Entry& e : kStrategies) {
    if (e.name == name) return e.make();
    names += (names.empty() ? "" : ", ") + std::string(e.name);
  }
  throw input_error("", flag, "unknown strategy", name, names);
}

}  // namespace moesim::strategies
