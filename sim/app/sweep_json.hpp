// A finished sweep as JSON (sweep --json, the data of sweep --html and `moesim report sweep`):
// the grid, the strategies in --strategies order, every case with its speedup over the
// configuration's first strategy, and the regression check against --baseline when one is given.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim/io/sweep_case_result.hpp"
#include "sim/job/sweep_plan.hpp"
#include "sim/report/regression_check.hpp"

namespace moesim::app {

struct SweepBaseline {
  std::string path;
  std::map<report::SweepKey, double> times_us;
  double tolerance = 0.0;
};

/// `results` holds one result per case of `plan`, in index order. Times are compared with the
/// baseline at the CSV's precision (1 ns), so the list matches what the command prints.
nlohmann::ordered_json sweep_json(const job::SweepPlan& plan,
                                  const std::vector<io::SweepCaseResult>& results,
                                  const std::optional<SweepBaseline>& baseline);

}  // namespace moesim::app
