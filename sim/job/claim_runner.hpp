// claim_runner: runs claims (sim/report/claim.hpp) through the job runner, every (job, strategy)
// pair on its own thread from a pool, and evaluates them with claim_check. Shared by
// `moesim reproduce` and tests/validation, so both judge the same numbers the same way.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sim/report/claim.hpp"
#include "sim/report/claim_check.hpp"

namespace moesim::job {

struct ClaimRunOptions {
  bool quick = false;     ///< grid claims run their quick_jobs sample
  unsigned threads = 0;   ///< 0: every core
  bool progress = false;  ///< progress on stderr (job/progress.hpp)
};

struct ClaimRun {
  std::string claim;
  std::size_t jobs = 0;        ///< jobs simulated
  std::size_t jobs_total = 0;  ///< jobs in the claim (grid size)
  std::vector<report::ResultCheck> checks;
};

/// Simulates what each claim's results need and checks them. InputError for a job or strategy a
/// claim gets wrong (naming the claim file); SimulationError if a simulation fails.
std::vector<ClaimRun> run_claims(const std::vector<report::Claim>& claims,
                                 const std::vector<report::KnownGap>& gaps,
                                 const ClaimRunOptions& options);

/// One claim (tests).
ClaimRun run_claim(const report::Claim& claim, const std::vector<report::KnownGap>& gaps,
                   const ClaimRunOptions& options);

}  // namespace moesim::job
