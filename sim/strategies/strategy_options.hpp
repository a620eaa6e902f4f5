// StrategyOptions: the "key=value" settings given after a strategy's name on the command line,
// e.g. `--strategy deepspeed-ted:dtd=on:cac=off`. Items are separated by ':' (never ',', which
// separates strategies in a list). A strategy that takes options reads each key it knows once
// with get_bool/get_int; finish() then rejects any key nobody read, so a typo is an InputError
// naming the flag, the key and the keys the strategy accepts.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace moesim::strategies {

class StrategyOptions {
 public:
  StrategyOptions() = default;
  /// Parses "key=value[:key=value...]" (may be empty). Malformed items, empty keys or a key
  /// given twice: InputError naming `flag`.
  StrategyOptions(std::string_view strategy, std::string_view text, std::string_view flag);

  bool empty() const { return values_.empty(); }
  /// on/off, true/false, 1/0, yes/no; `fallback` when the key is absent.
  bool get_bool(std::string_view key, bool fallback);
  /// A positive integer; `fallback` when absent.
  std::int64_t get_int(std::string_view key, std::int64_t fallback);
  /// One of `choices` ("split|duplicated"); `fallback` when absent.
  std::string get_choice(std::string_view key, std::string_view choices, std::string_view fallback);
  /// Whether `key` was given.
  bool has(std::string_view key) const { return values_.find(key) != values_.end(); }
  /// Throws InputError naming the flag and the strategy: option `key` (given as `got`) does
  /// not apply, `expected` says when it does.
  [[noreturn]] void reject(std::string_view key, std::string_view why,
                           std::string_view expected) const;
  /// Whether any key was read so far / every given key was.
  bool used_any() const { return !used_.empty(); }
  bool all_used() const { return used_.size() == values_.size(); }
  /// Throws InputError for any key not read so far, listing `known` (e.g. "dtd, cac, ac").
  void finish(std::string_view known) const;
  /// The settings in the order given, "key=value:key=value" (empty when none).
  const std::string& text() const { return text_; }

 private:
  std::string strategy_;
  std::string flag_;
  std::string text_;
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> order_;
  std::set<std::string, std::less<>> used_;
};

/// Splits "name[:options]" at the first ':'.
std::pair<std::string_view, std::string_view> split_strategy_spec(std::string_view spec);

}  // namespace moesim::strategies
