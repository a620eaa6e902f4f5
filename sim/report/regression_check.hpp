// Regression gate for scheduler changes: compares the iteration time of every (case, strategy)
// of a sweep with a baseline sweep and lists those that got slower by more than a tolerance.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace moesim::report {

using SweepKey = std::pair<std::string, std::string>;  ///< (case id, strategy)

struct Regression {
  SweepKey key;
  double baseline_us = 0.0;
  double current_us = 0.0;
  double slowdown() const { return current_us / baseline_us - 1.0; }
};

struct RegressionReport {
  std::vector<Regression> slower;  ///< beyond tolerance, worst first
  std::vector<Regression> faster;  ///< beyond tolerance, best first
  std::vector<SweepKey> not_in_baseline;
  std::vector<SweepKey> missing_now;  ///< in the baseline but not in this sweep
  std::size_t compared = 0;
};

/// `tolerance` is relative (0.01 = 1%): a case counts as slower when current > baseline *
/// (1 + tolerance).
RegressionReport check_regressions(const std::map<SweepKey, double>& baseline_us,
                                   const std::map<SweepKey, double>& current_us, double tolerance);

}  // namespace moesim::report
