#include "sim/strategies/strategy_options.hpp"

#include <fmt/format.h>

#include <charconv>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::pair<std::string_view, std::string_view> split_strategy_spec(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return {spec, {}};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

StrategyOptions::StrategyOptions(std::string_view strategy, std::string_view text,
                                 std::string_view flag)
    : strategy_(strategy), flag_(flag), text_(text) {
  if (text.empty()) return;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t colon = std::min(text.find(':', pos), text.size());
    const std::string_view item = text.substr(pos, colon - pos);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      throw input_error("", flag_, fmt::format("{}: option is not key=value", strategy_), item,
                        fmt::format("{}:key=value[:key=value...]", strategy_));
    }
    std::string key(item.substr(0, eq));
    if (values_.count(key)) {
      throw input_error("", flag_, fmt::format("{}: option given twice", strategy_), key,
                        "each option once");
    }
    values_.emplace(key, std::string(item.substr(eq + 1)));
    order_.push_back(std::move(key));
    pos = colon + 1;
  }
}

bool StrategyOptions::get_bool(std::string_view key, bool fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_.insert(std::string(key));
  const std::string& v = it->second;
  if (v == "on" || v == "true" || v == "1" || v == "yes") return true;
  if (v == "off" || v == "false" || v == "0" || v == "no") return false;
  throw input_error("", flag_, fmt::format("{}: option {} is not a switch", strategy_, key), v,
                    "on or off");
}

std::int64_t StrategyOptions::get_int(std::string_view key, std::int64_t fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  used_.insert(std::string(key));
  const std::string& v = it->second;
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 1) {
    throw input_error("", flag_,
                      fmt::format("{}: option {} is not a positive integer", strategy_, key), v,
                      ">= 1");
  }
  return out;
}

std::string StrategyOptions::get_choice(std::string_view key, std::string_view choices,
                                        std::string_view fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return std::string(fallback);
  used_.insert(std::string(key));
  const std::string& v = it->second;
  std::size_t pos = 0;
  while (pos <= choices.size()) {
    const std::size_t bar = std::min(choices.find('|', pos), choices.size());
    if (choices.substr(pos, bar - pos) == v) return v;
    pos = bar + 1;
  }
  throw input_error("", flag_, fmt::format("{}: option {} has no such value", strategy_, key), v,
                    choices);
}

void StrategyOptions::finish(std::string_view known) const {
  for (const std::string& key : order_) {
    if (!used_.count(key)) {
      throw input_error("", flag_, fmt::format("{}: unknown option", strategy_), key,
                        known.empty() ? std::string("no options") : std::string(known));
    }
  }
}

void StrategyOptions::reject(std::string_view key, std::string_view why,
                             std::string_view expected) const {
  const auto it = values_.find(key);
  const std::string got =
      fmt::format("{}={}", key, it != values_.end() ? it->second : std::string());
  throw input_error("", flag_, fmt::format("{}: option {} {}", strategy_, key, why), got, expected);
}

}  // namespace moesim::strategies
