// What a finished sweep reports: the CSV (one row per case, in case order), the speedup summary
// per strategy, and the regression gate against a baseline CSV. Made from case results only, so
// a sweep run in one process and one assembled with --merge from shards give the same bytes.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "sim/io/csv.hpp"
#include "sim/io/sweep_case_result.hpp"
#include "sim/job/sweep_plan.hpp"
#include "sim/report/regression_check.hpp"

namespace moesim::job {

/// The CSV of the whole sweep; `results` holds one result per case of `plan`, in index order.
io::CsvTable sweep_csv(const SweepPlan& plan, const std::vector<io::SweepCaseResult>& results);

/// Mean/min/max speedup over the first strategy, and how many cases were skipped or failed.
void print_sweep_summary(std::FILE* out, const SweepPlan& plan,
                         const std::vector<io::SweepCaseResult>& results, bool skip_invalid);

/// Iteration times of an earlier sweep's CSV by (case, strategy); rows without one (invalid
/// or failed cases) are left out. InputError naming `path` on a malformed file.
std::map<report::SweepKey, double> load_baseline(const std::string& path);

/// Prints the comparison with the baseline and returns how many cases got slower.
std::size_t print_regressions(std::FILE* out, const std::string& baseline_path,
                              const std::map<report::SweepKey, double>& baseline,
                              const io::CsvTable& current, double tolerance);

/// "1%" or "0.01" as a fraction; InputError naming --tolerance otherwise.
double parse_tolerance(const std::string& text);

}  // namespace moesim::job
