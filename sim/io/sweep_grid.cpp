#include "sim/io/sweep_grid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "sim/io/json_reader.hpp"

namespace moesim::io {
namespace {

bool is_job_setting(const std::string& key) {
  return std::find(std::begin(kJobSettingKeys), std::end(kJobSettingKeys), key) !=
         std::end(kJobSettingKeys);
}

std::string scalar_text(const JsonReader& v) {
  const nlohmann::json& j = v.node();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<std::int64_t>());
  if (j.is_number_float()) return fmt::format("{}", j.get<double>());
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  v.fail("not a scalar", "a string, number or boolean");
}

// Settings and model overrides accumulated for one case, in key order.
struct Assignment {
  std::map<std::string, std::string> values;
  void set(const std::string& key, const std::string& value) { values[key] = value; }
};

SweepCase make_case(const Assignment& base, const Assignment& varied) {
  SweepCase c;
  Assignment all = base;
  for (const auto& [k, v] : varied.values) all.set(k, v);
  for (const auto& [k, v] : all.values) {
    if (is_job_setting(k)) {
      c.settings[k] = v;
    } else {
      c.model_set += fmt::format("{}{}={}", c.model_set.empty() ? "" : ",", k, v);
    }
  }
  for (const auto& [k, v] : varied.values) {
    c.varied[k] = v;
    c.id += fmt::format("{}{}={}", c.id.empty() ? "" : ";", k, v);
  }
  if (c.id.empty()) c.id = "base";
  return c;
}

}  // namespace

SweepGrid load_sweep_grid(const std::string& path) {
  return sweep_grid_from_json(parse_json_file(path), path);
}

SweepGrid sweep_grid_from_json(const nlohmann::json& doc_json, const std::string& path) {
  const JsonReader doc(doc_json, path);
  doc.expect_object({"name", "description", "source", "base", "axes", "cases"});
  SweepGrid grid;
  grid.name = doc.string_or("name", path);
  grid.description = doc.string_or("description", "");
  grid.source = doc.string_or("source", "");
  Assignment base;
  const JsonReader base_node = doc.at("base");
  for (const auto& [key, value] : base_node.members()) {
    if (key == "set") {
      for (const auto& [field, v] : value.members()) base.set(field, scalar_text(v));
    } else {
      base.set(key, scalar_text(value));
    }
  }
  if (!base.values.count("model")) base_node.at("model");  // throws "missing required field"
  if (!base.values.count("parallel")) base_node.at("parallel");

  // An axis is one field with a list of values, or several comma-joined fields ("a,b") with a
  // list of value tuples, for fields that must vary together (H = N_hscale * M, say).
  struct Axis {
    std::vector<std::string> fields;
    std::vector<std::vector<std::string>> values;  ///< one tuple per point
  };
  std::vector<Axis> axes;
  if (auto axes_node = doc.find("axes")) {
    for (const auto& [key, values] : axes_node->members()) {
      Axis axis;
      for (std::size_t pos = 0; pos <= key.size();) {
        const std::size_t comma = std::min(key.find(',', pos), key.size());
        axis.fields.push_back(key.substr(pos, comma - pos));
        pos = comma + 1;
      }
      for (const JsonReader& v : values.elements()) {
        if (axis.fields.size() == 1) {
          axis.values.push_back({scalar_text(v)});
          continue;
        }
        const auto tuple = v.elements();
        if (tuple.size() != axis.fields.size()) {
          v.fail_got("wrong number of values for the fields of this axis",
                     std::to_string(tuple.size()), std::to_string(axis.fields.size()));
        }
        std::vector<std::string> point;
        for (const JsonReader& x : tuple) point.push_back(scalar_text(x));
        axis.values.push_back(std::move(point));
      }
      if (axis.values.empty()) values.fail("empty axis", "at least one value");
      for (const std::string& f : axis.fields) grid.axis_keys.push_back(f);
      axes.push_back(std::move(axis));
    }
  }
  // The cross product is built in memory and each case is a full simulation: refuse grids
  // that would run for days before expanding them.
  double product = 1.0;
  for (const Axis& a : axes) product *= static_cast<double>(a.values.size());
  if (product > static_cast<double>(kMaxSweepCases)) {
    doc.at("axes").fail_got(
        "too many cases", fmt::format("{:.0f} cases (the product of the axis lengths)", product),
        fmt::format("at most {} cases per grid; split it into several grids", kMaxSweepCases));
  }
  if (!axes.empty()) {
    std::vector<std::size_t> index(axes.size(), 0);
    for (;;) {
      Assignment varied;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        for (std::size_t f = 0; f < axes[a].fields.size(); ++f) {
          varied.set(axes[a].fields[f], axes[a].values[index[a]][f]);
        }
      }
      grid.cases.push_back(make_case(base, varied));
      // Odometer: the last axis varies fastest.
      bool done = true;
      for (std::size_t a = axes.size(); a-- > 0;) {
        if (++index[a] < axes[a].values.size()) {
          done = false;
          break;
        }
        index[a] = 0;
      }
      if (done) break;
    }
  }
  if (auto cases = doc.find("cases")) {
    for (const JsonReader& c : cases->elements()) {
      Assignment varied;
      for (const auto& [key, value] : c.members()) {
        varied.set(key, scalar_text(value));
        if (std::find(grid.axis_keys.begin(), grid.axis_keys.end(), key) == grid.axis_keys.end()) {
          grid.axis_keys.push_back(key);
        }
      }
      grid.cases.push_back(make_case(base, varied));
    }
  }
  if (grid.cases.empty()) grid.cases.push_back(make_case(base, {}));
  std::vector<std::string> ids;
  for (const SweepCase& c : grid.cases) ids.push_back(c.id);
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end()) {
    throw input_error(path, "/cases", "two configurations are identical", *dup,
                      "distinct configurations");
  }
  return grid;
}

}  // namespace moesim::io
