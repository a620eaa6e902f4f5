#include "sim/calibration/holdout_summary.hpp"

#include <cmath>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::calibration {

MeanSd mean_sd(std::span<const double> values) {
  MeanSd out;
  if (values.empty()) return out;
  for (double v : values) out.mean += v;
  out.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return out;
  double sq = 0;
  for (double v : values) sq += (v - out.mean) * (v - out.mean);
  out.sd = std::sqrt(sq / static_cast<double>(values.size() - 1));
  return out;
}

MeanSd HoldoutSummary::mape_covered() const {
  std::vector<double> v;
  for (const HoldoutReport& r : reports) v.push_back(r.mape_covered());
  return mean_sd(v);
}

MeanSd HoldoutSummary::mape_all() const {
  std::vector<double> v;
  for (const HoldoutReport& r : reports) v.push_back(r.mape_all());
  return mean_sd(v);
}

HoldoutSummary check_holdout_seeds(std::span<const MeasurementSet> sets, double holdout,
                                   std::uint64_t first_seed, int seeds) {
  if (seeds < 1) {
    throw input_error("", "--seeds", "out of range", std::to_string(seeds), ">= 1");
  }
  HoldoutSummary s;
  s.first_seed = first_seed;
  for (int i = 0; i < seeds; ++i) {
    s.reports.push_back(check_holdout(sets, holdout, first_seed + static_cast<std::uint64_t>(i)));
  }
  return s;
}

}  // namespace moesim::calibration
