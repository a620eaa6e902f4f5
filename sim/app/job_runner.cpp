#include "sim/app/job_runner.hpp"

#include <fmt/format.h>

#include <limits>

#include "sim/app/cli_checks.hpp"
#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/calibration_json.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/routing_trace.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/workload/job_size.hpp"

namespace moesim::app {

void add_job_options(CLI::App& cmd, JobOptions& o, JobFlags flags) {
  CLI::Option* model =
      cmd.add_option("--model,-m", o.model, "Model preset (traces/models) or JSON file");
  if (flags.required) model->required();
  cmd.add_option("--set", o.overrides, "Override model fields: key=value[,key=value]");
  cmd.add_option("--topology,-t", o.topology, "Topology preset or JSON file")
      ->capture_default_str();
  cmd.add_option("--nodes", o.nodes,
                 "Replicate a one-node topology over N nodes (rail-optimized NDR fabric)")
      ->check(count_in(0, kMaxClusterNodes));
  cmd.add_option("--network", o.network, "Network model: flow or analytical")
      ->capture_default_str();
  cmd.add_option("--gpu", o.gpu, "GPU spec (topologies/gpus); default: the topology's");
  CLI::Option* parallel = cmd.add_option(
      "--parallel,-p", o.parallel,
      "Layout: dp (inferred if omitted), tp, ep, esp, pp, mb, schedule (gpipe|1f1b)");
  if (flags.required) parallel->required();
  cmd.add_option("--order", o.order, "Rank order of tp,dp,pp, innermost first")
      ->capture_default_str();
  cmd.add_option("--expert-order", o.expert_order,
                 "Expert grid order, innermost first: esp,edp,ep (EP across nodes) or esp,ep,edp")
      ->capture_default_str();
  cmd.add_option("--routing", o.routing,
                 "uniform, zipf:S, dirichlet:A, drift:S, or a routing trace (.json/.csv)")
      ->capture_default_str();
  cmd.add_option("--seed", o.seed, "Seed of the routing generators")
      ->check(count_in(0, std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  if (flags.iterations) {
    cmd.add_option("--iterations,-n", o.iterations, "Iterations to simulate (routing differs)")
        ->check(count_in(1, 10000))
        ->capture_default_str();
  }
  cmd.add_option("--calibration", o.calibration,
                 "Calibration profile (moesim calibrate): measured kernel times replace the "
                 "roofline where they cover a shape; collective fits override the analytical "
                 "network model")
      ->check(existing_file());
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

std::shared_ptr<const network::Topology> load_cluster(
    const JobOptions& o, std::map<std::string, std::shared_ptr<const network::Topology>>* cache) {
  const std::string key = fmt::format("{}#{}", o.topology, o.nodes);
  if (cache) {
    if (auto it = cache->find(key); it != cache->end()) return it->second;
  }
  auto shared =
      std::make_shared<const network::Topology>(load_cluster_topology(o.topology, o.nodes));
  if (cache) cache->emplace(key, shared);
  return shared;
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
    auto it = ranks_of.find(key);
    if (it != ranks_of.end() && it->second >= fit.ranks) continue;
    ranks_of[key] = fit.ranks;
    params.calibrated[key] = network::AlphaBeta{fit.alpha_us, fit.busbw_gbps};
  }
  return params;
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
  p.shape.nodes = static_cast<std::int64_t>(topo.node_count());
  p.shape.gpus_per_node = static_cast<std::int64_t>(topo.gpus_per_node());
  p.shape.gpu_model = p.gpu.name;
  for (std::size_t r = 0; r < topo.gpu_count(); ++r) {
    p.shape.node_of_rank.push_back(topo.node_of(RankId{static_cast<std::uint32_t>(r)}));
  }
  p.roofline = std::make_unique<compute::RooflineComputeModel>(p.gpu);
  if (p.profile) {
    p.compute = std::make_unique<compute::CalibratedComputeModel>(*p.profile, *p.roofline);
    p.analytical = analytical_params_from(*p.profile);
  } else {
    p.compute = std::make_unique<compute::RooflineComputeModel>(p.gpu);
  }
  p.first = make_training_job(p.model, p.layout, p.shape, *p.routing, 0);
  check_job_work(p.model, p.first->layout, p.iterations, "--iterations");
  p.tokens_per_iteration = static_cast<double>(p.first->layout.dp * p.first->layout.micro_batches *
                                               p.model.tokens_per_micro_batch());
  return p;
}

PreparedJob prepare_job(const JobOptions& o,
                        std::map<std::string, std::shared_ptr<const network::Topology>>* cache) {
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
  parts.model = io::load_model(o.model);
  if (!o.overrides.empty()) apply_overrides(parts.model, o.overrides, "--set");
  parts.layout = parse_parallel_layout(o.parallel, "--parallel");
  parts.layout.order = o.order;
  parts.layout.expert_order = o.expert_order;
  std::shared_ptr<const RoutingModel> generated =
      parse_routing_generator(o.routing, o.seed, "--routing");
  parts.routing = generated
                      ? std::move(generated)
                      : std::make_shared<const TraceRouting>(io::load_routing_trace(o.routing));
  parts.topology = load_cluster(o, cache);
  parts.gpu = io::load_gpu_spec(o.gpu.empty() ? parts.topology->gpu_model() : o.gpu);
  if (!o.calibration.empty()) {
    parts.profile =
        std::make_shared<const calibration::CalibrationProfile>(io::load_profile(o.calibration));
  }
  return assemble_job(std::move(parts));
}

std::vector<std::unique_ptr<strategies::Strategy>> parse_strategies(const std::string& list,
                                                                    const std::string& flag) {
  std::vector<std::unique_ptr<strategies::Strategy>> chosen;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const std::size_t comma = std::min(list.find(',', pos), list.size());
    const std::string name = list.substr(pos, comma - pos);
    if (name == "all") {
      for (auto n : strategies::strategy_names()) chosen.push_back(strategies::make_strategy(n));
    } else {
      chosen.push_back(strategies::make_strategy(name, flag));
    }
    pos = comma + 1;
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

strategies::BuildResult build_graph(const PreparedJob& job, const strategies::Strategy& strategy,
                                    const TrainingJob& training) {
  // Planners see an idle network of the same model as the executor.
  const auto planner_network =
      network::make_communication_model(*job.topology, job.network_kind, job.analytical);
  const strategies::CostModels costs{*job.compute, *planner_network};
  strategies::BuildResult built = strategy.build_iteration(training, costs);
  built.graph.validate();
  return built;
}

ExecutionRecord simulate_graph(const PreparedJob& job, const TaskGraph& graph) {
  const auto network =
      network::make_communication_model(*job.topology, job.network_kind, job.analytical);
  SimulatedExecutor executor(*job.compute, *network);
  return executor.run(graph);
}

StrategyResult simulate_strategy(const PreparedJob& job, const strategies::Strategy& strategy) {
  StrategyResult r;
  r.name = std::string(strategy.name());
  // Routing of the iterations before i: strategies that adapt across iterations (FlexMoE)
  // replay their policy over it, so each iteration stays a pure function of the job.
  std::vector<RoutingCounts> history;
  for (std::int64_t i = 0; i < job.iterations; ++i) {
    TrainingJob training = job.job(i);
    training.routing_history = std::make_shared<const std::vector<RoutingCounts>>(history);
    history.push_back(training.routing);
    strategies::BuildResult built = build_graph(job, strategy, training);
    ExecutionRecord record = simulate_graph(job, built.graph);
    r.iteration_us.push_back(record.makespan().us());
    if (i + 1 == job.iterations) {
      r.summary = report::summarize(built.graph, record);
      r.groups = report::comm_breakdown(built.graph, record);
      r.record = std::move(record);
      r.last = std::move(built);
    }
  }
  return r;
}

}  // namespace moesim::app
