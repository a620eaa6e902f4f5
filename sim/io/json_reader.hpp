// JsonReader: strict, path-aware reading of JSON input files.
//
// Every loader reads through it, so every bad input produces the same kind of message:
//   "<file>: <json pointer>: <what was wrong> (got X, expected Y)"
// Unknown fields are errors (a typo must not be silently ignored), numbers are range-checked at
// the point of reading, and nothing past io/ ever sees unvalidated data.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
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

/// Receives, while a file is parsed, the elements of the arrays directly under its root object
/// that the caller asked to stream (parse_json_text_streaming).
class ElementSink {
 public:
  virtual ~ElementSink() = default;
  /// The complete element root[array][index]; it is not kept in the document (the sink may move
  /// from it).
  virtual void element(std::string_view array, std::size_t index, nlohmann::json& value) = 0;
  /// root[array] closed after `count` elements.
  virtual void array_end(std::string_view array, std::size_t count) = 0;
};
/// As parse_json_text, but the arrays named in `streamed` directly under the root object go to
/// `sink` one element at a time as they are parsed and stay empty in the returned document, so
/// that the parsed form of a large array never exists at once (the 270,000 devices and links of
/// a 16,384-GPU cluster file). The same checks and messages; the sink sees an element before the
/// rest of the file is parsed, and what it throws propagates.
nlohmann::json parse_json_text_streaming(const std::string& text, const std::string& origin,
                                         std::initializer_list<std::string_view> streamed,
                                         ElementSink& sink);
/// The whole file as text (the same errors as parse_json_file for a missing file).
std::string read_json_file_text(const std::string& path);

class JsonReader {
 public:
  JsonReader(const nlohmann::json& node, std::string file, std::string path = "")
      : node_(&node),
        file_(std::make_shared<const std::string>(std::move(file))),
        parent_(std::move(path)) {}

  const nlohmann::json& node() const { return *node_; }
  /// JSON pointer of this node (built when asked: readers are made for every field read).
  std::string path() const;
  const std::string& file() const { return *file_; }
  std::string where() const {
    std::string p = path();
    return p.empty() ? "/" : p;
  }

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
  enum class Step : std::uint8_t { none, key, index };
  JsonReader(const nlohmann::json& node, std::shared_ptr<const std::string> file,
             std::string parent, Step step, std::string_view key, std::size_t index)
      : node_(&node),
        file_(std::move(file)),
        parent_(std::move(parent)),
        key_(key),
        index_(index),
        step_(step) {}

  // The path is the parent's plus one step (a member key, which lives in the document as the
  // node does, or an array index): no string is built per field read unless a message needs it.
  const nlohmann::json* node_;
  std::shared_ptr<const std::string> file_;
  std::string parent_;  ///< the whole path when step_ == none
  std::string_view key_;
  std::size_t index_ = 0;
  Step step_ = Step::none;
};

/// Short printable form of a JSON value for messages (truncated).
std::string json_excerpt(const nlohmann::json& value);

}  // namespace moesim::io
