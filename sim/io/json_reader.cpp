#include "sim/io/json_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <set>
#include <vector>

namespace moesim::io {

namespace {

/// Where the parser is, for messages about a value it has not finished: a JSON pointer built from
/// the keys and array indices entered so far. Also rejects duplicate keys (nlohmann keeps the
/// last one silently) and nesting deep enough to exhaust the stack of later recursive code.
class ParseTracker {
 public:
  explicit ParseTracker(const std::string& origin) : origin_(origin) {}

  void start(bool array) {
    if (frames_.size() >= kMaxDepth) {
      throw input_error(origin_, pointer(), "nested too deeply",
                        fmt::format("more than {} levels", kMaxDepth),
                        fmt::format("at most {} levels", kMaxDepth));
    }
    frames_.push_back(Frame{array, 0, {}, keys_.size(), {}});
  }
  void key(const std::string& key) {
    Frame& top = frames_.back();
    top.key = key;
    // The keys of the open objects in one list (no allocation per object: a cluster file has
    // 270,000 small ones); an object past kLinearKeys keys moves to a set.
    bool repeated = false;
    if (!top.many.empty()) {
      repeated = !top.many.insert(key).second;
    } else {
      repeated = std::find(keys_.begin() + static_cast<std::ptrdiff_t>(top.keys_begin), keys_.end(),
                           key) != keys_.end();
      keys_.push_back(key);
      if (keys_.size() - top.keys_begin > kLinearKeys) {
        top.many.insert(keys_.begin() + static_cast<std::ptrdiff_t>(top.keys_begin), keys_.end());
        keys_.resize(top.keys_begin);
      }
    }
    if (repeated) {
      throw input_error(origin_, pointer(), "duplicate key", fmt::format("\"{}\" twice", top.key),
                        "each key once in an object");
    }
  }
  void end() {
    keys_.resize(frames_.back().keys_begin);
    frames_.pop_back();
    next_element();
  }
  void value() { next_element(); }

  /// JSON pointer of the value being parsed.
  std::string pointer() const {
    std::string out;
    for (const Frame& f : frames_) {
      out += '/';
      out += f.array ? std::to_string(f.index) : escape_pointer_token(f.key);
    }
    return out.empty() ? "/" : out;
  }

 private:
  static constexpr std::size_t kMaxDepth = 200;
  static constexpr std::size_t kLinearKeys = 32;
  struct Frame {
    bool array = false;
    std::size_t index = 0;
    std::string key;
    std::size_t keys_begin = 0;  ///< this object's keys in keys_ from here (while few)
    std::set<std::string> many;  ///< this object's keys once there are many
  };
  void next_element() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }
  static std::string escape_pointer_token(std::string_view key) {
    std::string out;
    for (char c : key) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
    return out;
  }

  const std::string& origin_;
  std::vector<Frame> frames_;
  std::vector<std::string> keys_;
};

/// The literal nlohmann quotes in "number overflow parsing '1e400'".
std::string quoted_literal(const std::string& what) {
  const std::size_t a = what.find('\'');
  const std::size_t b = what.rfind('\'');
  if (a == std::string::npos || b <= a) return "a number";
  std::string s = what.substr(a + 1, b - a - 1);
  if (s.size() > 40) {
    s.resize(37);
    s.append("...");
  }
  return s;
}

// nlohmann's own document builder, telling the tracker every event. (nlohmann::json::parse with
// a callback re-scans an array for discarded values after each element it closes: quadratic in
// the elements, 10 s for the 200,000 links of a generated 16,384-GPU cluster.)
// Streamed arrays (the root object's members named in `streamed`): each element is built into a
// document of its own, handed to the sink when complete and dropped; the root keeps the array
// empty.
class TrackedDomBuilder {
 public:
  using Json = nlohmann::json;
  using Dom = nlohmann::detail::json_sax_dom_parser<Json>;
  TrackedDomBuilder(Json& root, ParseTracker& tracker,
                    std::initializer_list<std::string_view> streamed = {},
                    ElementSink* sink = nullptr)
      : dom_(root, true), tracker_(tracker), streamed_(streamed), sink_(sink) {}

  bool null() {
    return scalar([](Dom& d) { return d.null(); });
  }
  bool boolean(bool v) {
    return scalar([v](Dom& d) { return d.boolean(v); });
  }
  bool number_integer(Json::number_integer_t v) {
    return scalar([v](Dom& d) { return d.number_integer(v); });
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    return scalar([v](Dom& d) { return d.number_unsigned(v); });
  }
  bool number_float(Json::number_float_t v, const Json::string_t& s) {
    return scalar([v, &s](Dom& d) { return d.number_float(v, s); });
  }
  bool string(Json::string_t& v) {
    return scalar([&v](Dom& d) { return d.string(v); });
  }
  bool binary(Json::binary_t& v) {
    return scalar([&v](Dom& d) { return d.binary(v); });
  }
  bool start_object(std::size_t n) {
    tracker_.start(false);
    if (depth_ == 0) root_is_object_ = true;
    if (streaming_ && depth_ == 2) begin_element();
    ++depth_;
    return current().start_object(n);
  }
  bool key(Json::string_t& k) {
    tracker_.key(k);
    if (depth_ == 1 && root_is_object_) root_key_ = k;
    return current().key(k);
  }
  bool end_object() { return closed(current().end_object(), false); }
  bool start_array(std::size_t n) {
    tracker_.start(true);
    if (streaming_ && depth_ == 2) {
      begin_element();
    } else if (depth_ == 1 && root_is_object_ && sink_ != nullptr &&
               std::find(streamed_.begin(), streamed_.end(), root_key_) != streamed_.end()) {
      streaming_ = true;
      count_ = 0;
    }
    ++depth_;
    return current().start_array(n);
  }
  bool end_array() { return closed(current().end_array(), true); }
  // A template as nlohmann's: it rethrows `e` as its own type (parse_error, out_of_range).
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& last_token, const Exception& e) {
    return dom_.parse_error(position, last_token, e);
  }

 private:
  Dom& current() { return element_dom_ ? *element_dom_ : dom_; }
  void begin_element() {
    element_ = Json();
    element_dom_.emplace(element_, true);
  }
  void end_element() {
    element_dom_.reset();
    sink_->element(root_key_, count_++, element_);
    element_ = Json();
  }
  template <class Add>
  bool scalar(Add add) {
    bool ok = false;
    if (streaming_ && depth_ == 2) {
      begin_element();
      ok = add(*element_dom_);
      end_element();
    } else {
      ok = add(current());
    }
    tracker_.value();
    return ok;
  }
  bool closed(bool ok, bool array) {
    --depth_;
    tracker_.end();
    if (element_dom_ && depth_ == 2) {
      end_element();
    } else if (streaming_ && depth_ == 1 && array) {
      streaming_ = false;
      sink_->array_end(root_key_, count_);
    }
    return ok;
  }
  Dom dom_;
  ParseTracker& tracker_;
  std::initializer_list<std::string_view> streamed_;
  ElementSink* sink_;
  std::size_t depth_ = 0;  ///< containers open
  bool root_is_object_ = false;
  std::string root_key_;  ///< the root member being parsed
  bool streaming_ = false;
  std::size_t count_ = 0;  ///< elements of the streamed array so far
  Json element_;
  std::optional<Dom> element_dom_;
};

}  // namespace

namespace {

nlohmann::json parse_tracked(const std::string& text, const std::string& origin,
                             std::initializer_list<std::string_view> streamed, ElementSink* sink) {
  ParseTracker tracker(origin);
  try {
    nlohmann::json root;
    TrackedDomBuilder builder(root, tracker, streamed, sink);
    nlohmann::json::sax_parse(text, &builder);
    return root;
  } catch (const nlohmann::json::parse_error& e) {
    // Convert the byte offset nlohmann reports into line:column.
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw input_error(origin, fmt::format("line {} column {}", line, column), "malformed JSON", {},
                      "valid JSON");
  } catch (const nlohmann::json::out_of_range& e) {
    // A number beyond double range (1e400): nlohmann refuses it while parsing.
    throw input_error(origin, tracker.pointer(), "number out of range", quoted_literal(e.what()),
                      "a finite number within double range");
  } catch (const nlohmann::json::exception& e) {
    throw input_error(origin, tracker.pointer(), "unreadable JSON", e.what(), "valid JSON");
  }
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  return parse_tracked(text, origin, {}, nullptr);
}

nlohmann::json parse_json_text_streaming(const std::string& text, const std::string& origin,
                                         std::initializer_list<std::string_view> streamed,
                                         ElementSink& sink) {
  return parse_tracked(text, origin, streamed, &sink);
}

std::string read_json_file_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw input_error(path, "", "is a directory", {}, "a readable JSON file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file", {}, "a readable JSON file");
  // Read into one buffer of the file's size: a stringstream would hold its (doubling) buffer and
  // a copy at once, 2-3x the file beside the parsed document (a 27 MB generated cluster).
  std::string text;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && std::filesystem::is_regular_file(path, ec)) {
    text.resize(static_cast<std::size_t>(size));
    in.read(text.data(), static_cast<std::streamsize>(size));
    text.resize(static_cast<std::size_t>(in.gcount()));
  }
  // What a pipe gives, or what a file gained since its size was read.
  text.append(std::istreambuf_iterator<char>(in.rdbuf()), std::istreambuf_iterator<char>());
  return text;
}

nlohmann::json parse_json_file(const std::string& path) {
  return parse_json_text(read_json_file_text(path), path);
}

std::string json_excerpt(const nlohmann::json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {
void append_pointer_token(std::string& out, std::string_view key) {
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}
std::string child_path(std::string path, std::string_view key) {
  path += '/';
  append_pointer_token(path, key);
  return path;
}
std::string type_name(const nlohmann::json& v) { return v.type_name(); }
}  // namespace

std::string JsonReader::path() const {
  switch (step_) {
    case Step::none:
      return parent_;
    case Step::key:
      return child_path(parent_, key_);
    case Step::index:
      return fmt::format("{}/{}", parent_, index_);
  }
  return parent_;
}

void JsonReader::fail(std::string_view what, std::string_view expected) const {
  throw input_error(*file_, where(), what, json_excerpt(*node_), expected);
}

void JsonReader::fail_got(std::string_view what, std::string_view got,
                          std::string_view expected) const {
  throw input_error(*file_, where(), what, got, expected);
}

void JsonReader::expect_object(std::initializer_list<std::string_view> allowed) const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  for (const auto& [key, value] : node_->items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (std::string_view a : allowed) known += fmt::format("{}{}", known.empty() ? "" : ", ", a);
      throw input_error(*file_, child_path(path(), key), "unknown field",
                        fmt::format("\"{}\"", key), fmt::format("one of: {}", known));
    }
  }
}

bool JsonReader::has(std::string_view key) const {
  return node_->is_object() && node_->contains(std::string(key));
}

JsonReader JsonReader::at(std::string_view key) const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  const auto& object = node_->get_ref<const nlohmann::json::object_t&>();
  const auto it = object.find(key);
  if (it == object.end()) {
    throw input_error(*file_, child_path(path(), key), "missing required field");
  }
  return JsonReader(it->second, file_, path(), Step::key, it->first, 0);
}

std::optional<JsonReader> JsonReader::find(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return at(key);
}

std::vector<JsonReader> JsonReader::elements() const {
  if (!node_->is_array()) fail_got("wrong type", type_name(*node_), "an array");
  std::vector<JsonReader> out;
  out.reserve(node_->size());
  for (std::size_t i = 0; i < node_->size(); ++i) {
    out.push_back(JsonReader((*node_)[i], file_, path(), Step::index, {}, i));
  }
  return out;
}

std::vector<std::pair<std::string, JsonReader>> JsonReader::members() const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  std::vector<std::pair<std::string, JsonReader>> out;
  const std::string here = path();
  for (const auto& [key, value] : node_->get_ref<const nlohmann::json::object_t&>()) {
    out.emplace_back(key, JsonReader(value, file_, here, Step::key, key, 0));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

std::string JsonReader::as_string() const {
  if (!node_->is_string()) fail_got("wrong type", type_name(*node_), "a string");
  return node_->get<std::string>();
}

bool JsonReader::as_bool() const {
  if (!node_->is_boolean()) fail_got("wrong type", type_name(*node_), "true or false");
  return node_->get<bool>();
}

double JsonReader::as_double() const {
  if (!node_->is_number()) fail_got("wrong type", type_name(*node_), "a number");
  const double v = node_->get<double>();
  if (!std::isfinite(v)) fail("not a finite number", "a finite number");
  return v;
}

std::int64_t JsonReader::as_int() const {
  if (node_->is_number_unsigned()) {
    const auto u = node_->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail("out of range", "an integer below 2^63");
    }
    return static_cast<std::int64_t>(u);
  }
  if (node_->is_number_integer()) return node_->get<std::int64_t>();
  if (node_->is_number_float()) {
    const double v = node_->get<double>();
    if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) fail("out of range", "an integer below 2^63");
    if (v == std::floor(v)) return static_cast<std::int64_t>(v);
    fail("not an integer", "an integer");
  }
  fail_got("wrong type", type_name(*node_), "an integer");
}

double JsonReader::as_double_at_least(double min, bool strict) const {
  const double v = as_double();
  if (strict ? !(v > min) : !(v >= min)) {
    fail("out of range", fmt::format("{} {}", strict ? ">" : ">=", min));
  }
  if (v > kMaxReal) fail("out of range", fmt::format("<= {}", kMaxReal));
  if (strict && min == 0.0 && v < kMinPositiveReal) {
    fail("out of range", fmt::format(">= {} (a positive number)", kMinPositiveReal));
  }
  return v;
}

std::int64_t JsonReader::as_int_at_least(std::int64_t min) const {
  const std::int64_t v = as_int();
  if (v < min) fail("out of range", fmt::format(">= {}", min));
  if (v > kMaxInteger) fail("out of range", fmt::format("<= {}", kMaxInteger));
  return v;
}

double JsonReader::as_double_in(double lo, double hi, bool lo_open) const {
  const double v = as_double();
  if ((lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi)) {
    fail("out of range", fmt::format("a number in {}{}, {}]", lo_open ? "(" : "[", lo, hi));
  }
  return v;
}

std::int64_t JsonReader::as_int_in(std::int64_t lo, std::int64_t hi) const {
  if (node_->is_number_float() || node_->is_number_integer()) {
    // Out-of-range first: 1e300 is "out of range", not "not an integer".
    const double d = node_->get<double>();
    if (std::isfinite(d) && (d < static_cast<double>(lo) || d > static_cast<double>(hi))) {
      fail("out of range", fmt::format("an integer in [{}, {}]", lo, hi));
    }
  }
  const std::int64_t v = as_int();
  if (v < lo || v > hi) fail("out of range", fmt::format("an integer in [{}, {}]", lo, hi));
  return v;
}

std::string JsonReader::string_or(std::string_view key, std::string fallback) const {
  if (auto v = find(key)) return v->as_string();
  return fallback;
}
double JsonReader::double_or(std::string_view key, double fallback) const {
  if (auto v = find(key)) return v->as_double();
  return fallback;
}
std::int64_t JsonReader::int_or(std::string_view key, std::int64_t fallback) const {
  if (auto v = find(key)) return v->as_int();
  return fallback;
}
bool JsonReader::bool_or(std::string_view key, bool fallback) const {
  if (auto v = find(key)) return v->as_bool();
  return fallback;
}

}  // namespace moesim::io
