#include "sim/io/json_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace moesim::io {

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
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
  }
}

nlohmann::json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, "", "cannot open file", {}, "a readable JSON file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

std::string json_excerpt(const nlohmann::json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {
std::string escape_pointer_token(std::string_view key) {
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
std::string type_name(const nlohmann::json& v) { return v.type_name(); }
}  // namespace

void JsonReader::fail(std::string_view what, std::string_view expected) const {
  throw input_error(file_, where(), what, json_excerpt(*node_), expected);
}

void JsonReader::fail_got(std::string_view what, std::string_view got,
                          std::string_view expected) const {
  throw input_error(file_, where(), what, got, expected);
}

void JsonReader::expect_object(std::initializer_list<std::string_view> allowed) const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  for (const auto& [key, value] : node_->items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (std::string_view a : allowed) known += fmt::format("{}{}", known.empty() ? "" : ", ", a);
      throw input_error(file_, path_ + "/" + escape_pointer_token(key), "unknown field",
                        fmt::format("\"{}\"", key), fmt::format("one of: {}", known));
    }
  }
}

bool JsonReader::has(std::string_view key) const {
  return node_->is_object() && node_->contains(std::string(key));
}

JsonReader JsonReader::at(std::string_view key) const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  auto it = node_->find(std::string(key));
  if (it == node_->end()) {
    throw input_error(file_, path_ + "/" + escape_pointer_token(key), "missing required field");
  }
  return JsonReader(*it, file_, path_ + "/" + escape_pointer_token(key));
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
    out.emplace_back((*node_)[i], file_, fmt::format("{}/{}", path_, i));
  }
  return out;
}

std::vector<std::pair<std::string, JsonReader>> JsonReader::members() const {
  if (!node_->is_object()) fail_got("wrong type", type_name(*node_), "an object");
  std::vector<std::pair<std::string, JsonReader>> out;
  for (const auto& [key, value] : node_->items()) {
    out.emplace_back(key, JsonReader(value, file_, path_ + "/" + escape_pointer_token(key)));
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
  if (node_->is_number_integer()) return node_->get<std::int64_t>();
  if (node_->is_number_float()) {
    const double v = node_->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e18) {
      return static_cast<std::int64_t>(v);
    }
    fail("not an integer", "an integer");
  }
  fail_got("wrong type", type_name(*node_), "an integer");
}

double JsonReader::as_double_at_least(double min, bool strict) const {
  const double v = as_double();
  if (strict ? !(v > min) : !(v >= min)) {
    fail("out of range", fmt::format("{} {}", strict ? ">" : ">=", min));
  }
  return v;
}

std::int64_t JsonReader::as_int_at_least(std::int64_t min) const {
  const std::int64_t v = as_int();
  if (v < min) fail("out of range", fmt::format(">= {}", min));
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
