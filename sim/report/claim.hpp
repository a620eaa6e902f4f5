// Claim: one published result (a paper's table row, figure or sentence) as data, with the setup
// that reproduces it and two-sided bands on each of its numbers. Claims are loaded from
// traces/reference/claims/*.json (sim/io/claim_json.hpp, schema in that folder's README) and
// evaluated by claim_check.hpp against what the simulator measured on the claim's jobs.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moesim::report {

/// One job of a claim: settings as a sweep case has them (sim/io/sweep_grid.hpp).
struct ClaimJob {
  std::string name;                             ///< label (grid cases: the case id)
  std::map<std::string, std::string> settings;  ///< model, topology, nodes, parallel, ...
  std::string model_set;                        ///< model overrides, "k=v,k=v"
};

enum class MetricKind {
  speedup,            ///< time(best of `over`) / time(`of`), per job, aggregated
  op_time_ms,         ///< time of the named tasks on rank 0 in a phase (ms)
  op_time_ratio,      ///< op time of `tasks` / op time of `per_tasks`
  bandwidth_gbps,     ///< `bytes` / mean time of one of the named tasks on rank 0 (GB/s)
  comm_share,         ///< exposed EP all-to-all time / iteration time
  exposed_reduction,  ///< 1 - exposed EP time(`of`) / exposed EP time(best of `over`)
  decision_fraction,  ///< share of jobs whose decision `decision` equals `equals`
  decisions_differ,   ///< share of jobs where decisions `decision` and `decision_b` differ
  decision_max,       ///< largest value of the decisions whose key starts with `decision`
  iteration_s,        ///< mean iteration time (s)
  iteration_ratio,    ///< slowest iteration after the first / median iteration
  ordering,           ///< 1 if the results named in `increasing` increase, else 0
  planner_error,      ///< |planner's estimate of a forward span / simulated span - 1|, worst
  /// A collective swept over sizes on the job's cluster (every group of its kind at once),
  /// least-squares fitted t = alpha + beta * bytes; the value is alpha (ms) or beta (ms/B).
  collective_fit,
};

/// Which coefficient of a collective_fit the result reads.
enum class FitReading { alpha_ms, beta_ms_per_byte };

enum class Aggregate { mean, min, max };
enum class PhaseFilter { forward, backward, any };

struct ClaimMetric {
  MetricKind kind = MetricKind::speedup;
  std::string of;                 ///< strategy label
  std::vector<std::string> over;  ///< baseline labels (the fastest per job counts)
  std::vector<std::string> jobs;  ///< job names; empty: every job of the claim
  Aggregate aggregate = Aggregate::mean;
  PhaseFilter phase = PhaseFilter::any;
  std::vector<std::string> tasks;      ///< task-name prefixes ("ep.dispatch", "expert")
  std::vector<std::string> per_tasks;  ///< denominator of op_time_ratio
  bool per_op = false;                 ///< op_time: mean per matched task instead of the sum
  double bytes = 0.0;                  ///< bandwidth_gbps: bytes one task moves, as published
  std::string decision;                ///< decision key (decision_max, planner_error: prefix)
  /// decisions_differ: the other key; planner_error: prefix of the layer-count decisions.
  std::string decision_b;
  std::string equals;
  std::vector<std::string> increasing;  ///< ordering: result names, expected increasing
  /// ordering: a value the first of them must exceed too ("Tutel < TI" when the results are
  /// ratios over Tutel: 1); none: no lower bound.
  std::optional<double> above;
  std::string collective;         ///< collective_fit: a CommKind name ("all_to_all")
  std::string group;              ///< collective_fit: tp, dp, ep, esp or edp
  std::vector<double> fit_bytes;  ///< collective_fit: the sizes swept (nccl-tests size)
  FitReading reading = FitReading::alpha_ms;

  /// collective_fit: the key of its sweep in Observation::sweeps ("all_to_all@ep").
  std::string sweep_key() const { return collective + "@" + group; }
};

/// One published number of a claim and its band.
struct ClaimResult {
  std::string name;
  ClaimMetric metric;
  double published = 0.0;  ///< the value (a range's midpoint when `published_range`)
  bool published_range = false;
  double published_low = 0.0, published_high = 0.0;
  double low = 0.0, high = 0.0;  ///< the band: in band iff low <= simulated <= high
  std::string band_why;          ///< why the band is not the default 15%
  /// Not gating: reported, but outside its band it does not fail the run (e.g. the second
  /// reading of a setup the paper leaves open).
  bool gating = true;
  std::string note;
  /// Non-empty: moesim cannot run this result yet; the reason (always a known gap).
  std::string unsupported;
};

struct Claim {
  std::string file;
  std::string id;
  std::string paper;            ///< full citation
  std::string where;            ///< table / figure / section
  std::string source;           ///< where the numbers come from, and how the setup was read
  std::string baseline_config;  ///< how the paper's baselines were configured, from its text
  bool quick = false;           ///< part of `moesim reproduce --quick`
  std::size_t quick_jobs = 0;   ///< with --quick, a deterministic sample of this many jobs
  std::vector<ClaimJob> jobs;
  std::map<std::string, std::string> strategies;  ///< label -> registry spec with options
  std::vector<ClaimResult> results;
};

/// A claim result the simulator is known to miss: data, printed by every run.
struct KnownGap {
  std::string result;  ///< "claim-id/result name"
  /// simulated / published - 1 on the full claim; none for a result moesim cannot run yet.
  std::optional<double> measured_error;
  std::string reason;
  std::string would_close;
};

}  // namespace moesim::report
