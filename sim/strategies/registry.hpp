// The strategy registry: every strategy moesim knows, by name. registry.cpp holds the only list.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "sim/strategies/strategy.hpp"

namespace moesim::strategies {

/// Names of all strategies, in the registry's order.
std::vector<std::string_view> strategy_names();
/// A new instance of the strategy called `name`; InputError naming `flag` and listing the known
/// names otherwise.
std::unique_ptr<Strategy> make_strategy(std::string_view name,
                                        std::string_view flag = "--strategy");

// Factories, one per strategy file.
std::unique_ptr<Strategy> make_deepspeed_moe();
std::unique_ptr<Strategy> make_tutel();
std::unique_ptr<Strategy> make_fastermoe();
std::unique_ptr<Strategy> make_fsmoe();
std::unique_ptr<Strategy> make_fsmoe_no_iio();
std::unique_ptr<Strategy> make_tutel_improved();
std::unique_ptr<Strategy> make_lancet();
std::unique_ptr<Strategy> make_flexmoe();

}  // namespace moesim::strategies
