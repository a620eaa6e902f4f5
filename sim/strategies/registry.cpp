#include "sim/strategies/registry.hpp"

#include <fmt/format.h>

#include <array>
#include <string>

#include "sim/core/errors.hpp"
#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {
namespace {

struct Entry {
  std::string_view name;
  std::unique_ptr<Strategy> (*make)();
  /// For strategies that take "name:key=value" options: builds one from them (nullptr: none).
  std::unique_ptr<Strategy> (*configure)(StrategyOptions&) = nullptr;
  /// The options it accepts, for --help and error messages.
  std::string_view options = {};
  /// Part of "all": it schedules any layout (false: it needs one, e.g. a pipeline).
  bool in_all = true;
};

// The one list of strategies. Add a line here (and a factory in registry.hpp) for a new one.
constexpr std::array kStrategies{
    Entry{"deepspeed-moe", &make_deepspeed_moe, &configure_deepspeed_moe, kTokenLayoutHelp},
    Entry{"tutel", &make_tutel, &configure_tutel, kTokenLayoutHelp},
    Entry{"fastermoe", &make_fastermoe, &configure_fastermoe,
          "shadow=on|off (dynamic expert shadowing by its latency model); default on"},
    Entry{"fsmoe", &make_fsmoe},
    Entry{"fsmoe-no-iio", &make_fsmoe_no_iio},
    Entry{"tutel-improved", &make_tutel_improved},
    Entry{"lancet", &make_lancet},
    Entry{"flexmoe", &make_flexmoe},
    Entry{"parm", &make_parm},
    Entry{"parm-s1", &make_parm_s1},
    Entry{"parm-s2", &make_parm_s2},
    Entry{"deepspeed-ted", &make_deepspeed_ted, &configure_deepspeed_ted,
          "dtd=on|off (duplicate token dropping), cac=on|off (communication-aware activation "
          "checkpointing), ac=on|off (activation checkpointing); default all on"},
    Entry{"deepspeed-ted-base", &make_deepspeed_ted_base, &configure_deepspeed_ted_base,
          "as deepspeed-ted; default dtd=off, cac=off, ac=on"},
    Entry{"dualpipe", &make_dualpipe, &configure_dualpipe,
          "overlap=on|off (forward-backward chunk pairs interleaved so each all-to-all hides "
          "under the other pass's compute); default on. Needs an even pp and an even mb >= 2*pp "
          "(not part of \"all\": name it)",
          false},
    Entry{"dualpipev", &make_dualpipev, &configure_dualpipev,
          "overlap=on|off, as dualpipe. Needs an even mb >= 2*pp and layers >= 2*pp (not part of "
          "\"all\": name it)",
          false},
};

}  // namespace

std::vector<std::string_view> strategy_names() {
  std::vector<std::string_view> names;
  for (const Entry& e : kStrategies) names.push_back(e.name);
  return names;
}

std::vector<std::string_view> strategies_for_all() {
  std::vector<std::string_view> names;
  for (const Entry& e : kStrategies) {
    if (e.in_all) names.push_back(e.name);
  }
  return names;
}

std::string strategy_options_help() {
  std::string out;
  for (const Entry& e : kStrategies) {
    if (e.configure != nullptr) out += fmt::format("\n  {}: {}", e.name, e.options);
  }
  return out;
}

std::unique_ptr<Strategy> make_strategy(std::string_view spec, std::string_view flag) {
  const auto [name, text] = split_strategy_spec(spec);
  std::string names;
  for (const Entry& e : kStrategies) {
    if (e.name == name) {
      if (text.empty() && spec.find(':') == std::string_view::npos) return e.make();
      if (e.configure == nullptr) {
        throw input_error("", flag, fmt::format("{} takes no options", name), spec,
                          std::string(name));
      }
      StrategyOptions options(name, text, flag);
      std::unique_ptr<Strategy> s = e.configure(options);
      options.finish(e.options);
      return s;
    }
    names += (names.empty() ? "" : ", ") + std::string(e.name);
  }
  throw input_error("", flag, "unknown strategy", name, names);
}

}  // namespace moesim::strategies
