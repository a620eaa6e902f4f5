// JsonReader: strict, path-aware reading of JSON input files.
//
// Every loader reads through it, so every bad input produces the same kind of message:
//   "<file>: <json pointer>: <what was wrong> (got X, expected Y)"
// Unknown fields are errors (a typo must not be silently ignored), numbers are range-checked at
// the point of reading, and nothing past io/ ever sees unvalidated data.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/errors.hpp"

namespace moesim::io {

/// Parses a whole file; throws InputError on a missing file or malformed JSON (with line and
/// column), a number beyond double range, a duplicate key or nesting deeper than 200 levels
/// (with the JSON pointer of the value).
nlohmann::json parse_json_file(const std::string& path);
/// Parses text that came from `origin` (a file name or a description for messages).
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

class JsonReader {
 public:
  JsonReader(const nlohmann::json& node, std::string file, std::string path = "")
      : node_(&node), file_(std::move(file)), path_(std::move(path)) {}

  const nlohmann::json& node() const { return *node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  std::string where() const { return path_.empty() ? "/" : path_; }

  bool is_object() const { return node_->is_object(); }
  bool is_array() const { return node_->is_array(); }
  bool is_string() const { return node_->is_string(); }
  bool is_number() const { return node_->is_number(); }

  /// Fails unless this node is an object whose keys are all in `allowed`.
  void expect_object(std::initializer_list<std::string_view> allowed) const;
  bool has(std::string_view key) const;
  JsonReader at(std::string_view key) const;  ///< required member
  std::optional<JsonReader> find(std::string_view key) const;
  std::vector<JsonReader> elements() const;  ///< array elements (fails if not an array)
  std::vector<std::pair<std::string, JsonReader>> members() const;  ///< object members, sorted

  std::string as_string() const;
  bool as_bool() const;
  double as_double() const;
  std::int64_t as_int() const;
  /// Every number read with only a lower bound still has these limits: no input quantity
  /// (bytes, FLOPs, shapes, microseconds, GB/s, TFLOP/s) is meaningfully above them, and a
  /// "positive" number below 1e-12 is a typo or an attack, never a rate or a time.
  static constexpr std::int64_t kMaxInteger = std::int64_t{1} << 50;
  static constexpr double kMaxReal = 1e18;
  static constexpr double kMinPositiveReal = 1e-12;
  /// Numbers with a lower bound (inclusive unless `strict`), and the limits above.
  double as_double_at_least(double min, bool strict = false) const;
  std::int64_t as_int_at_least(std::int64_t min) const;
  double as_positive() const { return as_double_at_least(0.0, true); }
  /// Numbers in [lo, hi] ((lo, hi] with `lo_open`): what every loader should use, so that each
  /// number of every input is finite and inside its physical range.
  double as_double_in(double lo, double hi, bool lo_open = false) const;
  std::int64_t as_int_in(std::int64_t lo, std::int64_t hi) const;

  // Shortcuts for optional members with defaults.
  std::string string_or(std::string_view key, std::string fallback) const;
  double double_or(std::string_view key, double fallback) const;
  std::int64_t int_or(std::string_view key, std::int64_t fallback) const;
  bool bool_or(std::string_view key, bool fallback) const;

  /// Throws InputError at this node: "<file>: <path>: <what> (got <this value>, expected ...)".
  [[noreturn]] void fail(std::string_view what, std::string_view expected = {}) const;
  /// Same, with an explicit "got".
  [[noreturn]] void fail_got(std::string_view what, std::string_view got,
                             std::string_view expected) const;

 private:
  const nlohmann::json* node_;
  std::string file_;
  std::string path_;
};

/// Short printable form of a JSON value for messages (truncated).
std::string json_excerpt(const nlohmann::json& value);

}  // namespace moesim::io
