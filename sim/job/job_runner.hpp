// The job library: the one path from a job's description to simulated iterations, shared by
// `moesim run`, `compare`, `sweep`, the hardware side's `execute`/`validate`, the tests and the
// benchmarks. A job is assembled (model, layout, routing, topology, compute model), its graph
// built by a strategy and simulated in exactly one place, so a job means the same thing whoever
// runs it. Nothing here parses flags (sim/app/job_flags.hpp registers them on a CLI) or touches
// a GPU.
//
// JobOptions (text, as typed) -> prepare_job -> JobParts (loaded) -> assemble_job -> PreparedJob
// -> build_graph / simulate_graph / simulate_strategy -> StrategyResult.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "sim/calibration/calibration_profile.hpp"
#include "sim/compute/calibration_coverage.hpp"
#include "sim/compute/compute_model.hpp"
#include "sim/compute/gpu_spec.hpp"
#include "sim/exec/execution_record.hpp"
#include "sim/network/estimate_cache.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/network/topology.hpp"
#include "sim/report/comm_breakdown.hpp"
#include "sim/report/iteration_summary.hpp"
#include "sim/strategies/strategy.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim {
class ExecutionProgressListener;  // sim/exec/simulated_executor.hpp
}  // namespace moesim

namespace moesim::job {

class Progress;  // sim/job/progress.hpp

/// Most iterations one run simulates (--iterations, sweep grids).
inline constexpr std::int64_t kMaxIterations = 10000;

/// A job as text, the way the CLI flags spell it (sim/app/job_flags.hpp registers them).
struct JobOptions {
  std::string model;
  std::string overrides;  ///< --set key=value,...
  std::string topology = "dgx-h100";
  std::size_t nodes = 0;  ///< 0: not given (the topology as it is); --nodes takes 1 - 4096
  std::string network = "flow";
  std::string gpu;
  std::string parallel;
  std::string order = "tp,dp,pp";
  std::string expert_order = "esp,edp,ep";
  std::string routing = "uniform";
  std::uint64_t seed = 1;
  std::int64_t iterations = 1;
  std::string calibration;  ///< profile JSON from `moesim calibrate`
};

/// A job's parts once files are loaded and flags parsed. prepare_job fills one from the flags;
/// tests and benches fill one in memory. Either way assemble_job makes the PreparedJob, so a job
/// means the same thing whoever builds it.
struct JobParts {
  ModelSpec model;
  ParallelLayout layout;  ///< as parsed (resolved per iteration by make_training_job)
  std::shared_ptr<const RoutingModel> routing;
  std::shared_ptr<const network::Topology> topology;
  compute::GpuSpec gpu;
  network::NetworkModelKind network_kind = network::NetworkModelKind::flow;
  std::int64_t iterations = 1;
  std::shared_ptr<const calibration::CalibrationProfile> profile;  ///< null without --calibration
};

/// A job resolved against its files: its parts and what follows from them, everything needed to
/// build and simulate iterations.
struct PreparedJob : JobParts {
  double peak_flops_per_s = 0.0;  ///< dense peak of the model's dtype on one GPU
  ClusterShape shape;
  /// The roofline from the GPU spec; with a calibration profile, the fallback of `compute`.
  std::unique_ptr<compute::ComputeModel> roofline;
  /// What kernels cost: the calibrated model when a profile is given, else the roofline.
  std::unique_ptr<compute::ComputeModel> compute;
  /// Analytical network parameters, with the profile's collective fits as overrides.
  network::AnalyticalParams analytical;
  std::optional<TrainingJob> first;  ///< iteration 0, resolved (layout errors surface here)
  double tokens_per_iteration = 0.0;
  /// The planners' remembered network estimates (flow model only: analytical ones cost less
  /// than a lookup). Jobs may share one only when their estimate_cache_key() is equal.
  std::shared_ptr<network::EstimateCache> estimates;

  TrainingJob job(std::int64_t iteration) const;
};

/// What a network estimate of `job` depends on besides the operations: the topology object, the
/// network model kind and the calibration profile (the source of its collective parameters).
/// Jobs whose parts come from one JobInputCache share these objects when they share the inputs.
using EstimateCacheKey = std::tuple<const network::Topology*, network::NetworkModelKind,
                                    const calibration::CalibrationProfile*>;
EstimateCacheKey estimate_cache_key(const PreparedJob& job);

/// Resolves the parts into a job (compute models, cluster shape, iteration 0); throws InputError
/// when the GPU lacks the model's dtype or the layout does not fit the cluster.
PreparedJob assemble_job(JobParts parts);

/// A topology preset or file; with `nodes` > 1, a one-node topology replicated over that many
/// nodes on a generated rail-optimized fabric (InputError if the topology is not one node).
network::Topology load_cluster_topology(const std::string& topology, std::size_t nodes);

/// Input files parsed once and shared by the many jobs of one process (a sweep's cases): keyed
/// by what was asked for (preset name or path; topology with its node count), since within one
/// run a name is one file's content.
struct JobInputCache {
  std::map<std::string, std::shared_ptr<const network::Topology>> topologies;
  std::map<std::string, ModelSpec> models;  ///< as loaded, before --set
  std::map<std::string, compute::GpuSpec> gpus;
  std::map<std::string, std::shared_ptr<const calibration::CalibrationProfile>> profiles;
  std::map<std::string, std::shared_ptr<const RoutingModel>> routing_traces;
};

/// A job from settings spelled as a sweep grid's or a claim file's job keys (model, topology,
/// nodes, network, gpu, parallel, order, expert_order, routing, seed, iterations, calibration)
/// over the defaults of `moesim run`; `model_set` holds the model overrides. A count that is not
/// a non-negative integer is an InputError at `file`: `<where><key>`.
JobOptions job_options_from_settings(const std::map<std::string, std::string>& settings,
                                     const std::string& model_set, const std::string& file,
                                     const std::string& where);

/// Loads and validates everything; throws InputError naming the flag or file at fault.
/// `cache` (optional) shares files already parsed.
PreparedJob prepare_job(const JobOptions& options, JobInputCache* cache = nullptr);

/// The profile's collective alpha-beta fits as overrides of the analytical network model.
network::AnalyticalParams analytical_params_from(const calibration::CalibrationProfile& profile);

/// The specs of "a,b,c" or "all" (expanded), each checked (InputError naming `flag` on an
/// unknown name or option, or on a spec listed twice).
std::vector<std::string> parse_strategy_specs(const std::string& list, const std::string& flag);
/// The strategies of parse_strategy_specs(list, flag).
std::vector<std::unique_ptr<strategies::Strategy>> parse_strategies(const std::string& list,
                                                                    const std::string& flag);

/// One strategy's simulated iterations.
struct StrategyResult {
  std::string name;
  std::vector<double> iteration_us;
  strategies::BuildResult last;  ///< the last iteration's graph and decisions
  ExecutionRecord record;        ///< the last iteration's record
  report::IterationSummary summary;
  std::map<std::string, report::GroupCommTime> groups;
  /// With a calibration profile: how much of the last iteration's kernel time it priced.
  std::optional<compute::CalibrationCoverage> calibration_coverage;

  double mean_iteration_us() const;
  double tokens_per_s(double tokens_per_iteration) const;
  double mfu(const PreparedJob& job) const;
  /// Exposed communication (mean over ranks) of the last iteration.
  double exposed_comm_us() const;
  /// Decisions as one "key=value; ..." string.
  std::string decisions_text() const;
};

/// The strategy's task graph (and decisions) for one iteration, planned with the job's models;
/// `progress` (when given) hears of the graph as it grows.
strategies::BuildResult build_graph(const PreparedJob& job, const strategies::Strategy& strategy,
                                    const TrainingJob& training,
                                    TaskGraphGrowthListener* progress = nullptr);

/// Runs `graph` through the simulated executor with the job's compute and network models, or
/// with `compute` in place of the job's compute model; `progress` (when given) hears of the
/// tasks as they finish.
ExecutionRecord simulate_graph(const PreparedJob& job, const TaskGraph& graph,
                               const compute::ComputeModel* compute = nullptr,
                               ExecutionProgressListener* progress = nullptr);

/// Builds and simulates every iteration of `job` with `strategy`; `progress` (when given) is
/// told of each iteration's tasks as they are built and simulated, and ticks after each.
/// Thread-safe for distinct strategies and jobs: models are created per call or are themselves
/// thread-safe, the topology is only read.
StrategyResult simulate_strategy(const PreparedJob& job, const strategies::Strategy& strategy,
                                 Progress* progress = nullptr);

}  // namespace moesim::job
