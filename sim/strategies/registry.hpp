// The strategy registry: every strategy moesim knows, by name. registry.cpp holds the only list.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/strategies/strategy.hpp"
#include "sim/strategies/strategy_options.hpp"

namespace moesim::strategies {

/// Names of all strategies, in the registry's order.
std::vector<std::string_view> strategy_names();
/// What "all" expands to (run, compare, sweep): the strategies that schedule any layout, in the
/// registry's order; dualpipe and dualpipev need a pipeline (an even mb >= 2 pp) and are named.
std::vector<std::string_view> strategies_for_all();
/// For --help: "a, b, c" of strategies_for_all(), then "; by name only: x, y" for the rest.
std::string strategy_names_help();
/// A new instance of the strategy `spec` = "name" or "name:key=value[:key=value...]" (options,
/// for strategies that take them); InputError naming `flag` and listing the known names or
/// options otherwise.
std::unique_ptr<Strategy> make_strategy(std::string_view spec,
                                        std::string_view flag = "--strategy");
/// One line per strategy that takes options: "\n  name: the options" (for --help).
std::string strategy_options_help();

// Factories, one per strategy file.
std::unique_ptr<Strategy> make_deepspeed_moe();
std::unique_ptr<Strategy> make_tutel();
std::unique_ptr<Strategy> make_fastermoe();
std::unique_ptr<Strategy> make_fsmoe();
std::unique_ptr<Strategy> make_fsmoe_no_iio();
std::unique_ptr<Strategy> make_tutel_improved();
std::unique_ptr<Strategy> make_lancet();
std::unique_ptr<Strategy> make_flexmoe();
std::unique_ptr<Strategy> make_parm();
std::unique_ptr<Strategy> make_parm_s1();
std::unique_ptr<Strategy> make_parm_s2();
std::unique_ptr<Strategy> make_deepspeed_ted();
std::unique_ptr<Strategy> make_deepspeed_ted_base();
std::unique_ptr<Strategy> make_megatron();
std::unique_ptr<Strategy> make_megatron_a2a_overlap();
std::unique_ptr<Strategy> make_dualpipe();
std::unique_ptr<Strategy> make_dualpipev();
std::unique_ptr<Strategy> configure_fastermoe(StrategyOptions& options);
std::unique_ptr<Strategy> configure_tutel(StrategyOptions& options);
std::unique_ptr<Strategy> configure_deepspeed_moe(StrategyOptions& options);
std::unique_ptr<Strategy> configure_lancet(StrategyOptions& options);
std::unique_ptr<Strategy> configure_parm(StrategyOptions& options);
std::unique_ptr<Strategy> configure_parm_s1(StrategyOptions& options);
std::unique_ptr<Strategy> configure_parm_s2(StrategyOptions& options);
std::unique_ptr<Strategy> configure_deepspeed_ted(StrategyOptions& options);
std::unique_ptr<Strategy> configure_deepspeed_ted_base(StrategyOptions& options);
std::unique_ptr<Strategy> configure_megatron(StrategyOptions& options);
std::unique_ptr<Strategy> configure_megatron_a2a_overlap(StrategyOptions& options);
std::unique_ptr<Strategy> configure_dualpipe(StrategyOptions& options);
std::unique_ptr<Strategy> configure_dualpipev(StrategyOptions& options);

}  // namespace moesim::strategies
