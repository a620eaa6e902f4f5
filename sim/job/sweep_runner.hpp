// Runs sweep cases on a pool of threads. Each case is a pure function of its case line: the
// same line gives the same result on any machine and with any thread count. With a results
// directory every finished case is written there at once (atomically), and cases whose result
// is already there and complete are not run again: a killed sweep resumes where it stopped.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sim/io/sweep_case_line.hpp"
#include "sim/io/sweep_case_result.hpp"

namespace moesim::job {

struct SweepRunSettings {
  unsigned threads = 0;       ///< 0: one per core
  std::string results_dir;    ///< empty: results are kept in memory only
  bool skip_invalid = false;  ///< record configurations that do not fit instead of failing
  bool quiet = false;         ///< no progress on stderr
};

struct SweepRunOutcome {
  std::vector<io::SweepCaseResult> results;  ///< one per case given, in that order
  std::size_t reused = 0;                    ///< found complete in the results directory
  std::size_t ran = 0;
  std::size_t prepared_jobs = 0;  ///< distinct jobs resolved (cases sharing a job share one)
};

/// Runs `cases`. Every job is resolved before any simulation: without skip_invalid the first
/// configuration that does not resolve (in case order) throws its InputError and nothing is
/// run or written, since the grid itself is wrong. Once running, a case whose strategy rejects
/// the configuration is recorded as invalid, one whose simulation throws as failed, and the
/// other cases go on.
SweepRunOutcome run_sweep_cases(const std::vector<io::SweepCaseLine>& cases,
                                const SweepRunSettings& settings);

/// The number of cases whose result is not ok (failed, or invalid when not skipping invalid).
std::size_t count_failures(const std::vector<io::SweepCaseResult>& results, bool skip_invalid);

}  // namespace moesim::job
