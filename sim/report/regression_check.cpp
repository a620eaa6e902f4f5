#include "sim/report/regression_check.hpp"

#include <algorithm>

namespace moesim::report {

RegressionReport check_regressions(const std::map<SweepKey, double>& baseline_us,
                                   const std::map<SweepKey, double>& current_us, double tolerance) {
  RegressionReport r;
  for (const auto& [key, now] : current_us) {
    auto it = baseline_us.find(key);
    if (it == baseline_us.end()) {
      r.not_in_baseline.push_back(key);
      continue;
    }
    ++r.compared;
    const double before = it->second;
    if (now > before * (1.0 + tolerance)) {
      r.slower.push_back({key, before, now});
    } else if (now < before * (1.0 - tolerance)) {
      r.faster.push_back({key, before, now});
    }
  }
  for (const auto& [key, before] : baseline_us) {
    if (!current_us.count(key)) r.missing_now.push_back(key);
  }
  std::stable_sort(r.slower.begin(), r.slower.end(), [](const Regression& a, const Regression& b) {
    return a.slowdown() > b.slowdown();
  });
  std::stable_sort(r.faster.begin(), r.faster.end(), [](const Regression& a, const Regression& b) {
    return a.slowdown() < b.slowdown();
  });
  return r;
}

}  // namespace moesim::report
