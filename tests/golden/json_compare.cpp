#include "tests/golden/json_compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moesim::testing {
namespace {

using Json = nlohmann::ordered_json;

bool numbers_match(const Json& e, const Json& a, double tolerance) {
  if (e.is_number_float() || a.is_number_float()) {
    const double x = e.get<double>();
    const double y = a.get<double>();
    return std::abs(x - y) <= tolerance * std::max(std::abs(x), std::abs(y));
  }
  return e == a;
}

void compare(const Json& e, const Json& a, const std::string& path, double tolerance,
             std::vector<std::string>& out) {
  if (e.is_number() && a.is_number()) {
    if (!numbers_match(e, a, tolerance)) {
      out.push_back(fmt::format("{}: expected {}, got {}", path, e.dump(), a.dump()));
    }
    return;
  }
  if (e.type() != a.type()) {
    out.push_back(fmt::format("{}: expected {}, got {}", path, e.dump(), a.dump()));
    return;
  }
  if (e.is_object()) {
    auto ei = e.begin();
    auto ai = a.begin();
    for (; ei != e.end() && ai != a.end(); ++ei, ++ai) {
      if (ei.key() != ai.key()) {
        out.push_back(fmt::format("{}: expected key \"{}\", got \"{}\"", path, ei.key(), ai.key()));
        return;
      }
      compare(ei.value(), ai.value(), path + "/" + ei.key(), tolerance, out);
    }
    for (; ei != e.end(); ++ei) out.push_back(fmt::format("{}/{}: missing", path, ei.key()));
    for (; ai != a.end(); ++ai) out.push_back(fmt::format("{}/{}: unexpected", path, ai.key()));
    return;
  }
  if (e.is_array()) {
    if (e.size() != a.size()) {
      out.push_back(fmt::format("{}: expected {} elements, got {}", path, e.size(), a.size()));
      return;
    }
    for (std::size_t i = 0; i < e.size(); ++i) {
      compare(e[i], a[i], fmt::format("{}/{}", path, i), tolerance, out);
    }
    return;
  }
  if (e != a) out.push_back(fmt::format("{}: expected {}, got {}", path, e.dump(), a.dump()));
}

}  // namespace

std::vector<std::string> json_differences(const Json& expected, const Json& actual,
                                          double relative_tolerance) {
  std::vector<std::string> out;
  compare(expected, actual, "", relative_tolerance, out);
  return out;
}

}  // namespace moesim::testing
