// HoldoutSummary: the held-out check (check_holdout) repeated over several seeds, so that the
// error it reports is a mean with its spread rather than one draw (seeds 1-4 of the published H100
// sample range from 7.3% to 9.4%).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sim/calibration/calibration_profile.hpp"

namespace moesim::calibration {

struct MeanSd {
  double mean = 0.0;
  double sd = 0.0;  ///< sample standard deviation (n - 1); 0 for one value
};
MeanSd mean_sd(std::span<const double> values);

struct HoldoutSummary {
  std::uint64_t first_seed = 1;
  std::vector<HoldoutReport> reports;  ///< seeds first_seed, first_seed + 1, ...
  MeanSd mape_covered() const;         ///< over the seeds' interpolated-row MAPEs
  MeanSd mape_all() const;             ///< over the seeds' all-held-out-row MAPEs
};

/// check_holdout for `seeds` consecutive seeds from `first_seed` (seeds >= 1).
HoldoutSummary check_holdout_seeds(std::span<const MeasurementSet> sets, double holdout,
                                   std::uint64_t first_seed, int seeds);

}  // namespace moesim::calibration
