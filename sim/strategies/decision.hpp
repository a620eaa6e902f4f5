// Decision: one choice or estimate a strategy's planner made, as a typed record: a value (an
// integer count, a quantity with its unit, or a named choice), the unit, and a sentence for
// people. Tests and tools read `value`; only humans read `detail`. `--json` writes all three.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <variant>

namespace moesim::strategies {

struct Decision {
  /// A count (degree, layers, bytes), a measured or estimated quantity, or a named choice.
  using Value = std::variant<std::int64_t, double, std::string>;
  Value value;
  /// Unit of a numeric value ("us", "ms", "bytes", "GB/s", "tokens"); empty for counts and
  /// choices.
  std::string unit;
  /// How the value came about or what it covers, for people (never parsed).
  std::string detail;

  static Decision count(std::int64_t n, std::string unit = {}, std::string detail = {});
  static Decision quantity(double v, std::string unit, std::string detail = {});
  static Decision choice(std::string name, std::string detail = {});

  bool is_number() const { return !std::holds_alternative<std::string>(value); }
  /// The numeric value (an integer count as a double); checks that it is numeric.
  double number() const;
  /// The integer count; checks that it is one.
  std::int64_t integer() const;
  /// The named choice; checks that it is one.
  const std::string& name() const;
  /// "4", "12.5 us", "2dh", then " (detail)" when there is one: what `run` prints.
  std::string text() const;
  /// The value and unit alone ("12.5 us").
  std::string value_text() const;

  bool operator==(const Decision&) const = default;
};

/// Writes text() (for test failure messages and logs).
std::ostream& operator<<(std::ostream& out, const Decision& d);

/// A strategy's decisions by key ("tutel.degree"), sorted for stable output.
using Decisions = std::map<std::string, Decision>;

}  // namespace moesim::strategies

template <>
struct fmt::formatter<moesim::strategies::Decision> : fmt::formatter<std::string_view> {
  auto format(const moesim::strategies::Decision& d, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(d.text(), ctx);
  }
};
