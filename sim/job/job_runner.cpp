#include "sim/job/job_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>

#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/calibration_json.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/routing_trace.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/job/progress.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/cluster_shape.hpp"
#include "sim/network/memory_budget.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/workload/job_size.hpp"

namespace moesim::job {

JobOptions job_options_from_settings(const std::map<std::string, std::string>& settings,
                                     const std::string& model_set, const std::string& file,
                                     const std::string& where) {
  JobOptions o;
  auto text = [&](const char* key, std::string& field) {
    if (auto it = settings.find(key); it != settings.end()) field = it->second;
  };
  // A count in [lo, hi]; a grid sets what a flag would, so the flags' ranges hold here too.
  auto number = [&](const char* key, auto& field, long long lo = 0,
                    long long hi = std::numeric_limits<long long>::max()) {
    const auto it = settings.find(key);
    if (it == settings.end()) return;
    long long v = -1;
    std::size_t used = 0;
    try {
      v = std::stoll(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != it->second.size() || v < 0) {
      throw input_error(file, where + key, "not a count", it->second, "a non-negative integer");
    }
    if (v < lo || v > hi) {
      throw input_error(file, where + key, "out of range", it->second,
                        hi == std::numeric_limits<long long>::max()
                            ? fmt::format("a whole number >= {}", lo)
                            : fmt::format("a whole number in [{}, {}]", lo, hi));
    }
    field = static_cast<std::remove_reference_t<decltype(field)>>(v);
  };
  text("model", o.model);
  text("topology", o.topology);
  number("nodes", o.nodes, 1, network::kMaxClusterNodes);
  text("network", o.network);
  text("gpu", o.gpu);
  text("parallel", o.parallel);
  text("order", o.order);
  text("expert_order", o.expert_order);
  text("routing", o.routing);
  number("seed", o.seed);
  number("iterations", o.iterations, 1, kMaxIterations);
  text("calibration", o.calibration);
  o.overrides = model_set;
  return o;
}

network::Topology load_cluster_topology(const std::string& topology, std::size_t nodes) {
  network::Topology t = io::load_topology(topology);
  if (nodes <= 1) return t;
  if (t.node_count() != 1) {
    throw input_error("", "--nodes", "--nodes replicates a one-node topology",
                      fmt::format("{} has {} nodes", topology, t.node_count()),
                      "a single-node preset such as dgx-h100");
  }
  network::ClusterSpec spec;
  spec.nodes = nodes;
  return network::generate_cluster(t, spec);
}

namespace {

// `load()` once per key when there is a cache, every time when there is none.
template <class Map, class Load>
typename Map::mapped_type cached(Map* map, const std::string& key, Load load) {
  if (!map) return load();
  if (auto it = map->find(key); it != map->end()) return it->second;
  return map->emplace(key, load()).first->second;
}

template <class Member>
auto* part(JobInputCache* cache, Member member) {
  return cache ? &(cache->*member) : nullptr;
}

}  // namespace

network::AnalyticalParams analytical_params_from(const calibration::CalibrationProfile& profile) {
  network::AnalyticalParams params;
  // One fit per (collective, level): the profile may hold several group sizes; the one measured
  // over the most ranks is the closest to training-scale groups.
  std::map<std::pair<CommKind, network::Level>, int> ranks_of;
  for (const calibration::CollectiveFit& fit : profile.collectives) {
    const network::Level level = fit.level == calibration::TopologyLevel::intra_node
                                     ? network::Level::intra_node
                                     : network::Level::inter_node;
    const auto key = std::make_pair(fit.op, level);
    // Exact group size: both network models use it for groups of that size.
    params.collective
        .calibrated[network::FitKey{fit.op, level, static_cast<std::size_t>(fit.ranks)}] =
        network::AlphaBeta{fit.alpha_us, fit.busbw_gbps};
    auto it = ranks_of.find(key);
    if (it != ranks_of.end() && it->second >= fit.ranks) continue;
    ranks_of[key] = fit.ranks;
    params.calibrated[key] = network::AlphaBeta{fit.alpha_us, fit.busbw_gbps};
  }
  return params;
}

EstimateCacheKey estimate_cache_key(const PreparedJob& job) {
  return {job.topology.get(), job.network_kind, job.profile.get()};
}

TrainingJob PreparedJob::job(std::int64_t iteration) const {
  if (iteration == 0) return *first;
  return make_training_job(model, layout, shape, *routing, iteration);
}

PreparedJob assemble_job(JobParts parts) {
  PreparedJob p;
  static_cast<JobParts&>(p) = std::move(parts);
  const network::Topology& topo = *p.topology;
  const auto peak = p.gpu.peak(p.model.dtype);
  if (!peak) {
    throw input_error("", "--gpu",
                      fmt::format("{} has no {} tensor path", p.gpu.name, to_string(p.model.dtype)),
                      p.gpu.name, "a GPU listing the model's dtype, or --set dtype=fp16");
  }
  p.peak_flops_per_s = peak->flops_per_s;
  p.shape = network::cluster_shape_of(topo);
  p.shape.gpu_model = p.gpu.name;  // --gpu may name another GPU than the topology's
  p.shape.gpu_sms = p.gpu.sm_count;
  p.roofline = std::make_unique<compute::RooflineComputeModel>(p.gpu);
  if (p.profile) {
    p.compute = std::make_unique<compute::CalibratedComputeModel>(*p.profile, *p.roofline);
    p.analytical = analytical_params_from(*p.profile);
  } else {
    p.compute = std::make_unique<compute::RooflineComputeModel>(p.gpu);
  }
  p.first = make_training_job(p.model, p.layout, p.shape, *p.routing, 0);
  check_job_work(p.model, p.first->layout, p.iterations, "--iterations");
  {
    // One iteration's graph is built and simulated at a time: refuse up front when it would not
    // fit, with the estimate and the limit, rather than be killed half-way.
    const JobSizeEstimate size = estimate_job_size(p.model, p.first->layout);
    network::check_memory_budget(
        static_cast<std::size_t>(size.bytes_per_iteration), "--parallel",
        fmt::format("a job of about {:.3g} tasks per iteration ({} GPUs x {} layers x {} "
                    "micro-batches, {} experts; fewer layers, micro-batches or GPUs fit)",
                    size.tasks_per_iteration, p.first->layout.world(), p.model.layers,
                    p.first->layout.micro_batches, p.model.experts));
  }
  p.tokens_per_iteration = static_cast<double>(p.first->layout.dp * p.first->layout.micro_batches *
                                               p.model.tokens_per_micro_batch());
  if (p.network_kind == network::NetworkModelKind::flow) {
    p.estimates = std::make_shared<network::EstimateCache>();
  }
  return p;
}

PreparedJob prepare_job(const JobOptions& o, JobInputCache* cache) {
  if (o.iterations < 1) {
    throw input_error("", "--iterations", "out of range", std::to_string(o.iterations), ">= 1");
  }
  if (o.parallel.empty()) {
    throw input_error("", "--parallel", "missing", "", "e.g. --parallel dp=4,tp=4,ep=8");
  }
  const auto kind = network::parse_network_model_kind(o.network);
  if (!kind) {
    throw input_error("", "--network", "unknown network model", o.network, "flow or analytical");
  }
  JobParts parts;
  parts.network_kind = *kind;
  parts.iterations = o.iterations;
  parts.model =
      cached(part(cache, &JobInputCache::models), o.model, [&] { return io::load_model(o.model); });
  if (!o.overrides.empty()) apply_overrides(parts.model, o.overrides, "--set");
  parts.layout = parse_parallel_layout(o.parallel, "--parallel");
  parts.layout.order = o.order;
  parts.layout.expert_order = o.expert_order;
  std::shared_ptr<const RoutingModel> generated =
      parse_routing_generator(o.routing, o.seed, "--routing");
  parts.routing =
      generated ? std::move(generated)
                : cached(part(cache, &JobInputCache::routing_traces), o.routing, [&] {
                    return std::shared_ptr<const RoutingModel>(
                        std::make_shared<const TraceRouting>(io::load_routing_trace(o.routing)));
                  });
  parts.topology = cached(part(cache, &JobInputCache::topologies),
                          fmt::format("{}#{}", o.topology, o.nodes), [&] {
                            return std::make_shared<const network::Topology>(
                                load_cluster_topology(o.topology, o.nodes));
                          });
  const std::string gpu = o.gpu.empty() ? parts.topology->gpu_model() : o.gpu;
  parts.gpu =
      cached(part(cache, &JobInputCache::gpus), gpu, [&] { return io::load_gpu_spec(gpu); });
  if (!o.calibration.empty()) {
    parts.profile = cached(part(cache, &JobInputCache::profiles), o.calibration, [&] {
      return std::make_shared<const calibration::CalibrationProfile>(
          io::load_profile(o.calibration));
    });
  }
  return assemble_job(std::move(parts));
}

std::vector<std::string> parse_strategy_specs(const std::string& list, const std::string& flag) {
  std::vector<std::string> specs;
  const auto add = [&](std::string spec) {
    // Two columns, rows or CSV keys under one label would be ambiguous (a sweep's resume,
    // merge and --baseline match results by it): a variant needs options of its own.
    if (std::find(specs.begin(), specs.end(), spec) != specs.end()) {
      throw input_error("", flag, "strategy given twice", list,
                        fmt::format("each strategy once ({} is listed again; a variant takes "
                                    "options of its own, e.g. tutel:grad_sync=after)",
                                    spec));
    }
    specs.push_back(std::move(spec));
  };
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const std::size_t comma = std::min(list.find(',', pos), list.size());
    const std::string name = list.substr(pos, comma - pos);
    if (name == "all") {
      for (auto n : strategies::strategies_for_all()) add(std::string(n));
    } else {
      strategies::make_strategy(name, flag);  // InputError on an unknown name or option
      add(name);
    }
    pos = comma + 1;
  }
  return specs;
}

std::vector<std::unique_ptr<strategies::Strategy>> parse_strategies(const std::string& list,
                                                                    const std::string& flag) {
  std::vector<std::unique_ptr<strategies::Strategy>> chosen;
  for (const std::string& spec : parse_strategy_specs(list, flag)) {
    chosen.push_back(strategies::make_strategy(spec, flag));
  }
  return chosen;
}

double StrategyResult::mean_iteration_us() const {
  double sum = 0.0;
  for (double t : iteration_us) sum += t;
  return iteration_us.empty() ? 0.0 : sum / static_cast<double>(iteration_us.size());
}

double StrategyResult::tokens_per_s(double tokens_per_iteration) const {
  return tokens_per_iteration / (mean_iteration_us() * 1e-6);
}

double StrategyResult::mfu(const PreparedJob& job) const {
  return job.model.training_flops_per_token() * job.tokens_per_iteration /
         (mean_iteration_us() * 1e-6 * job.peak_flops_per_s *
          static_cast<double>(job.topology->gpu_count()));
}

double StrategyResult::exposed_comm_us() const { return summary.mean_exposed_comm().us(); }

std::string StrategyResult::decisions_text() const {
  std::string out;
  for (const auto& [k, v] : last.decisions)
    out += fmt::format("{}{}={}", out.empty() ? "" : "; ", k, v);
  return out;
}

namespace {

/// Trial iterations on the job's own executor and models (Tutel's timed trials).
class SimulatedTrialRunner final : public strategies::TrialRunner {
 public:
  explicit SimulatedTrialRunner(const PreparedJob& job) : job_(job) {}
  std::vector<SimTime> task_ends(const TaskGraph& graph) const override {
    graph.validate();
    const ExecutionRecord record = simulate_graph(job_, graph);
    std::vector<SimTime> ends;
    ends.reserve(record.tasks.size());
    for (const auto& t : record.tasks) ends.push_back(t.end);
    return ends;
  }

 private:
  const PreparedJob& job_;
};

}  // namespace

strategies::BuildResult build_graph(const PreparedJob& job, const strategies::Strategy& strategy,
                                    const TrainingJob& training,
                                    TaskGraphGrowthListener* progress) {
  // Planners see an idle network of the same model as the executor.
  const auto planner_network =
      network::make_communication_model(*job.topology, job.network_kind, job.analytical);
  const SimulatedTrialRunner trials(job);
  const strategies::CostModels costs{*job.compute, *planner_network, job.estimates.get(), &trials,
                                     progress};
  strategies::BuildResult built = strategy.build_iteration(training, costs);
  built.graph.validate();
  return built;
}

ExecutionRecord simulate_graph(const PreparedJob& job, const TaskGraph& graph,
                               const compute::ComputeModel* compute,
                               ExecutionProgressListener* progress) {
  const auto network =
      network::make_communication_model(*job.topology, job.network_kind, job.analytical);
  SimulatedExecutor executor(compute != nullptr ? *compute : *job.compute, *network, progress);
  return executor.run(graph);
}

namespace {

/// The graph's tasks as they are built, then the executor's finished tasks, as progress inside
/// the running iteration.
class IterationProgress final : public TaskGraphGrowthListener, public ExecutionProgressListener {
 public:
  explicit IterationProgress(Progress& progress) : progress_(progress) {}
  void tasks_added(std::size_t tasks) override { progress_.growing(tasks, "tasks built so far"); }
  void tasks_finished(std::size_t finished, std::size_t total) override {
    progress_.within("tasks simulated", finished, total);
  }

 private:
  Progress& progress_;
};

}  // namespace

StrategyResult simulate_strategy(const PreparedJob& job, const strategies::Strategy& strategy,
                                 Progress* progress) {
  StrategyResult r;
  r.name = std::string(strategy.name());
  // Routing of the iterations before i: strategies that adapt across iterations (FlexMoE)
  // replay their policy over it, so each iteration stays a pure function of the job.
  std::vector<RoutingCounts> history;
  for (std::int64_t i = 0; i < job.iterations; ++i) {
    TrainingJob training = job.job(i);
    training.routing_history = std::make_shared<const std::vector<RoutingCounts>>(history);
    history.push_back(training.routing);
    std::optional<IterationProgress> inside;
    if (progress != nullptr) inside.emplace(*progress);
    strategies::BuildResult built =
        build_graph(job, strategy, training, inside ? &*inside : nullptr);
    // The build's total is known only at its end (printed only after the first 2 s).
    if (progress != nullptr) progress->note(built.graph.task_count(), "tasks built");
    ExecutionRecord record = simulate_graph(job, built.graph, nullptr, inside ? &*inside : nullptr);
    r.iteration_us.push_back(record.makespan().us());
    if (progress != nullptr) progress->tick();
    if (i + 1 == job.iterations) {
      r.summary = report::summarize(built.graph, record);
      r.groups = report::comm_breakdown(built.graph, record);
      if (job.profile) {
        const compute::CalibratedComputeModel calibrated(*job.profile, *job.roofline);
        r.calibration_coverage = compute::calibration_coverage(built.graph, calibrated);
      }
      r.record = std::move(record);
      r.last = std::move(built);
    }
  }
  return r;
}

}  // namespace moesim::job
