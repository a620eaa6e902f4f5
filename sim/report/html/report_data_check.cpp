#include "sim/report/html/report_data_check.hpp"

#include <fmt/format.h>

#include <string>

#include "sim/core/errors.hpp"

namespace moesim::report::html {
namespace {

using Json = nlohmann::ordered_json;

enum class Type { number, string, boolean, array, object, number_or_null };

std::string_view name_of(Type t) {
  switch (t) {
    case Type::number:
      return "a number";
    case Type::string:
      return "a string";
    case Type::boolean:
      return "true or false";
    case Type::array:
      return "an array";
    case Type::object:
      return "an object";
    case Type::number_or_null:
      return "a number or null";
  }
  return "?";
}

bool has_type(const Json& j, Type t) {
  switch (t) {
    case Type::number:
      return j.is_number();
    case Type::string:
      return j.is_string();
    case Type::boolean:
      return j.is_boolean();
    case Type::array:
      return j.is_array();
    case Type::object:
      return j.is_object();
    case Type::number_or_null:
      return j.is_number() || j.is_null();
  }
  return false;
}

// Walks one document, naming every field by its JSON pointer.
class Checker {
 public:
  explicit Checker(std::string_view origin) : origin_(origin) {}

  const Json& field(const Json& parent, const std::string& path, std::string_view key,
                    Type type) const {
    const std::string at = path + "/" + std::string(key);
    if (!parent.is_object() || !parent.contains(key)) {
      throw input_error(origin_, at, "missing", "nothing", name_of(type));
    }
    return check(parent.at(std::string(key)), at, type);
  }

  const Json& check(const Json& j, const std::string& at, Type type) const {
    if (!has_type(j, type))
      throw input_error(origin_, at, "wrong type", j.type_name(), name_of(type));
    return j;
  }

  const Json& non_empty_array(const Json& parent, const std::string& path,
                              std::string_view key) const {
    const Json& a = field(parent, path, key, Type::array);
    if (a.empty()) {
      throw input_error(origin_, path + "/" + std::string(key), "nothing to draw", "[]",
                        "at least one entry");
    }
    return a;
  }

  // An index into a list of `size` entries.
  void index(const Json& j, const std::string& at, std::size_t size, std::string_view list) const {
    check(j, at, Type::number);
    if (!j.is_number_unsigned() || j.get<std::size_t>() >= size) {
      throw input_error(origin_, at, fmt::format("not an index into {}", list), j.dump(),
                        fmt::format("0..{}", size == 0 ? 0 : size - 1));
    }
  }

  [[noreturn]] void fail(const std::string& at, std::string_view what, std::string_view got,
                         std::string_view expected) const {
    throw input_error(origin_, at, what, got, expected);
  }

 private:
  std::string_view origin_;
};

void check_timeline(const Checker& c, const Json& t, const std::string& at) {
  c.field(t, at, "ranks", Type::array);
  const Json& rows = c.field(t, at, "rows", Type::array);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string row = fmt::format("{}/rows/{}", at, i);
    c.field(rows[i], row, "rank", Type::number);
    c.field(rows[i], row, "stream", Type::string);
  }
  const Json& categories = c.field(t, at, "categories", Type::array);
  const Json& names = c.field(t, at, "names", Type::array);
  const Json& spans = c.field(t, at, "spans", Type::array);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const std::string span = fmt::format("{}/spans/{}", at, i);
    const Json& s = c.check(spans[i], span, Type::array);
    if (s.size() != 5) {
      c.fail(span, "not a span", s.dump(), "[row, start_us, end_us, category, name]");
    }
    c.index(s[0], span + "/0", rows.size(), "rows");
    c.check(s[1], span + "/1", Type::number);
    c.check(s[2], span + "/2", Type::number);
    c.index(s[3], span + "/3", categories.size(), "categories");
    c.index(s[4], span + "/4", names.size(), "names");
  }
}

void check_breakdown(const Checker& c, const Json& parent, const std::string& path) {
  const Json& b = c.field(parent, path, "time_breakdown", Type::object);
  const std::string at = path + "/time_breakdown";
  for (const char* key : {"compute_only_us", "overlapped_comm_us", "exposed_comm_us", "idle_us"}) {
    c.field(b, at, key, Type::number);
  }
}

void check_compare(const Checker& c, const Json& d) {
  c.field(d, "", "job", Type::object);
  c.field(d, "", "baseline", Type::string);
  const Json& strategies = c.non_empty_array(d, "", "strategies");
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    const std::string at = fmt::format("/strategies/{}", i);
    const Json& s = c.check(strategies[i], at, Type::object);
    c.field(s, at, "strategy", Type::string);
    c.field(s, at, "mean_iteration_us", Type::number);
    c.field(s, at, "speedup", Type::number);
    c.field(s, at, "exposed_comm_us", Type::number);
    check_breakdown(c, s, at);
    const Json& decisions = c.field(s, at, "decisions", Type::object);
    for (const auto& [key, value] : decisions.items()) {
      const std::string entry = at + "/decisions/" + key;
      c.check(value, entry, Type::object);
      if (!value.contains("value")) {
        c.fail(entry + "/value", "missing", "nothing", "the decision's value");
      }
    }
    if (s.contains("comm_groups")) {
      const Json& groups = c.field(s, at, "comm_groups", Type::object);
      for (const auto& [name, g] : groups.items()) {
        const std::string group = at + "/comm_groups/" + name;
        c.field(g, group, "exposed_us", Type::number);
        c.field(g, group, "overlapped_us", Type::number);
      }
    }
    if (s.contains("timeline")) {
      check_timeline(c, c.field(s, at, "timeline", Type::object), at + "/timeline");
    }
  }
}

void check_sweep(const Checker& c, const Json& d) {
  c.field(d, "", "grid", Type::string);
  const Json& strategies = c.non_empty_array(d, "", "strategies");
  for (std::size_t i = 0; i < strategies.size(); ++i) {
    c.check(strategies[i], fmt::format("/strategies/{}", i), Type::string);
  }
  const Json& cases = c.non_empty_array(d, "", "cases");
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string at = fmt::format("/cases/{}", i);
    const Json& r = c.check(cases[i], at, Type::object);
    c.field(r, at, "config_id", Type::string);
    c.field(r, at, "strategy", Type::string);
    c.field(r, at, "status", Type::string);
    c.field(r, at, "iteration_us", Type::number_or_null);
    c.field(r, at, "speedup", Type::number_or_null);
  }
  if (d.contains("regressions") && !d.at("regressions").is_null()) {
    const Json& g = c.field(d, "", "regressions", Type::object);
    c.field(g, "/regressions", "baseline", Type::string);
    c.field(g, "/regressions", "tolerance", Type::number);
    const Json& slower = c.field(g, "/regressions", "slower", Type::array);
    for (std::size_t i = 0; i < slower.size(); ++i) {
      const std::string at = fmt::format("/regressions/slower/{}", i);
      c.field(slower[i], at, "config_id", Type::string);
      c.field(slower[i], at, "strategy", Type::string);
      c.field(slower[i], at, "baseline_us", Type::number);
      c.field(slower[i], at, "current_us", Type::number);
    }
  }
}

void check_reproduce(const Checker& c, const Json& d) {
  const Json& results = c.non_empty_array(d, "", "results");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const std::string at = fmt::format("/results/{}", i);
    const Json& r = c.check(results[i], at, Type::object);
    c.field(r, at, "claim", Type::string);
    c.field(r, at, "result", Type::string);
    c.field(r, at, "published", Type::string);
    c.field(r, at, "published_value", Type::number);
    const Json& band = c.field(r, at, "band", Type::array);
    if (band.size() != 2 || !band[0].is_number() || !band[1].is_number()) {
      c.fail(at + "/band", "not a band", band.dump(), "[low, high]");
    }
    c.field(r, at, "simulated", Type::number_or_null);
    c.field(r, at, "error", Type::number_or_null);
    c.field(r, at, "verdict", Type::string);
    c.field(r, at, "gating", Type::boolean);
  }
}

void check_rows(const Checker& c, const Json& rows, const std::string& at) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string row = fmt::format("{}/{}", at, i);
    c.field(rows[i], row, "key", Type::string);
    c.field(rows[i], row, "tasks", Type::number);
    c.field(rows[i], row, "predicted_us", Type::number);
    c.field(rows[i], row, "measured_us", Type::number);
    c.field(rows[i], row, "error", Type::number_or_null);
  }
}

void check_validate(const Checker& c, const Json& d) {
  for (const char* side : {"predicted", "measured"}) {
    const Json& s = c.field(d, "", side, Type::object);
    const std::string at = std::string("/") + side;
    c.field(s, at, "description", Type::string);
    check_breakdown(c, s, at);
  }
  check_rows(c, c.non_empty_array(d, "", "per_kind"), "/per_kind");
  check_rows(c, c.field(d, "", "per_stream", Type::array), "/per_stream");
  const Json end_to_end = Json::array(
      {c.field(d, "", "iteration", Type::object), c.field(d, "", "exposed_comm", Type::object)});
  check_rows(c, end_to_end, "/iteration and /exposed_comm");
}

}  // namespace

void check_report_data(ReportKind kind, const nlohmann::ordered_json& data,
                       std::string_view origin) {
  const Checker c(origin);
  c.check(data, "/", Type::object);
  switch (kind) {
    case ReportKind::compare:
      return check_compare(c, data);
    case ReportKind::sweep:
      return check_sweep(c, data);
    case ReportKind::reproduce:
      return check_reproduce(c, data);
    case ReportKind::validate:
      return check_validate(c, data);
  }
}

}  // namespace moesim::report::html
