// Structural comparison of two JSON documents for the golden cases: the same keys in the same
// order, equal strings and booleans, and numbers equal to a relative tolerance (integers exactly).
// A difference is reported by its JSON pointer, so a failing golden case names the number that
// moved ("/result/iteration_us/0: expected 1234.5, got 1358.0").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moesim::testing {

/// Every difference between `expected` and `actual` (empty when they match). Two floating-point
/// numbers match when |a - b| <= relative_tolerance * max(|a|, |b|).
std::vector<std::string> json_differences(const nlohmann::ordered_json& expected,
                                          const nlohmann::ordered_json& actual,
                                          double relative_tolerance);

}  // namespace moesim::testing
