// claim_check: turns what the simulator measured on a claim's jobs into the claim's numbers and
// verdicts. Pure: the measurements (Observation, one per job and strategy) come from whoever ran
// the jobs (sim/job/claim_runner.hpp); here each ClaimResult's metric is computed from them,
// compared with its two-sided band, and matched against the known gaps.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/report/claim.hpp"

namespace moesim::report {

/// Time spent in tasks of one name and phase on the observed rank.
struct OpStat {
  double total_us = 0.0;
  int count = 0;
};

/// When tasks of one phase and layer ran on the observed rank (first start, last end), us.
struct LayerSpan {
  double start_us = 0.0;
  double end_us = 0.0;
};

/// What one strategy did on one job.
struct Observation {
  std::vector<double> iteration_us;  ///< every simulated iteration
  double exposed_ep_us = 0.0;        ///< exposed EP all-to-all, last iteration, mean per rank
  std::map<std::string, std::string> decisions;
  /// Rank 0 of the last iteration, keyed by (phase name, task name).
  std::map<std::pair<std::string, std::string>, OpStat> ops;
  /// Rank 0 of the last iteration, keyed by (phase name, layer); one micro-batch's span only
  /// when the job runs one micro-batch per iteration.
  std::map<std::pair<std::string, int>, LayerSpan> layer_spans;
  /// Collective sweeps by ClaimMetric::sweep_key(): (bytes, time in us) per size. Observed
  /// under the label kNetworkOnly: they depend on the job's cluster and network, no strategy.
  std::map<std::string, std::vector<std::pair<double, double>>> sweeps;

  double mean_iteration_us() const;
};

/// Observations of a claim: [job name][strategy label].
using ClaimObservations = std::map<std::string, std::map<std::string, Observation>>;

/// The label of a job's strategy-free observation (collective sweeps).
inline constexpr std::string_view kNetworkOnly = "(network)";

/// Least-squares line through (x, y) points: {intercept, slope}. Needs two distinct x.
std::pair<double, double> fit_line(const std::vector<std::pair<double, double>>& points);

enum class Verdict { in_band, out_of_band, known_gap, unsupported, not_run };
std::string_view to_string(Verdict v);

struct ResultCheck {
  std::string claim;
  std::string result;
  double published = 0.0;
  std::string published_text;  ///< "1.18" or "2.46-4.10"
  double low = 0.0, high = 0.0;
  std::optional<double> simulated;
  /// simulated / published - 1 (0 inside a published range, else to its nearest end).
  std::optional<double> error;
  Verdict verdict = Verdict::not_run;
  bool gating = true;
  std::string note;
  std::size_t jobs = 0;  ///< jobs the number is computed over
};

/// The strategy labels and job names a result needs (for running only what is asked).
std::vector<std::string> strategies_needed(const Claim& claim);

/// Evaluates every result of `claim` over the jobs observed (a --quick run observes a sample).
/// Throws SimulationError when an observation a metric needs is missing (a bug in the runner).
/// `sampled`: the jobs are a --quick sample of the claim's; the extremes (min, max) of a grid
/// are then not evaluated (Verdict::not_run): only the full grid has them.
std::vector<ResultCheck> check_claim(const Claim& claim, const ClaimObservations& observed,
                                     const std::vector<KnownGap>& gaps, bool sampled = false);

/// The known gap recorded for "claim/result", if any.
const KnownGap* find_gap(const std::vector<KnownGap>& gaps, const std::string& claim,
                         const std::string& result);

/// True when no gating result is out of its band (known gaps and unsupported ones do not fail).
bool all_pass(const std::vector<ResultCheck>& checks);

/// A deterministic spread-out sample of `want` of `n` indices (all of them if want >= n): a
/// stride coprime with n, so every axis of a cartesian grid is visited.
std::vector<std::size_t> sample_indices(std::size_t n, std::size_t want);

}  // namespace moesim::report
