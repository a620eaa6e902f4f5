// moesim run: simulates training iterations of an MoE model on a cluster with a strategy, and
// prints the iteration time, tokens/s, MFU, a breakdown (compute; communication per group,
// exposed vs overlapped) and the per-rank skew; writes a Chrome trace and a summary JSON.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "sim/app/command.hpp"
#include "sim/compute/roofline_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/chrome_trace.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/routing_trace.hpp"
#include "sim/io/summary_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/iteration_summary.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::app {
namespace {

struct RunOptions {
  std::string model;
  std::string overrides;
  std::string topology = "dgx-h100";
  std::size_t nodes = 0;
  std::string network = "flow";
  std::string gpu;
  std::string parallel;
  std::string order = "tp,dp,pp";
  std::string expert_order = "esp,edp,ep";
  std::string strategy = "deepspeed-moe";
  std::string routing = "uniform";
  std::uint64_t seed = 1;
  std::int64_t iterations = 1;
  std::string trace_file;
  std::string json_file;
};

// Communication time per group on a rank, split into the part with no kernel running beside it
// (exposed) and the rest (overlapped); averaged over ranks.
struct GroupTime {
  double exposed_us = 0.0;
  double overlapped_us = 0.0;
  std::int64_t operations = 0;
  std::int64_t bytes = 0;
};

std::map<std::string, GroupTime> comm_breakdown(const TaskGraph& graph,
                                                const ExecutionRecord& record) {
  using Interval = std::pair<std::int64_t, std::int64_t>;
  const std::size_t ranks = graph.rank_count();
  std::vector<std::vector<Interval>> busy(ranks);
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    if (std::holds_alternative<ComputeTask>(graph.tasks()[i].body)) {
      const TaskRecord& t = record.tasks[i];
      busy[t.rank.index()].emplace_back(t.start.ps(), t.end.ps());
    }
  }
  for (auto& v : busy) {
    std::sort(v.begin(), v.end());
    std::vector<Interval> merged;
    for (const Interval& i : v) {
      if (!merged.empty() && i.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, i.second);
      } else {
        merged.push_back(i);
      }
    }
    v = std::move(merged);
  }
  std::map<std::string, GroupTime> out;
  for (const CommRecord& c : graph.comms()) {
    GroupTime& g = out[std::string(to_string(c.op.group))];
    g.operations += 1;
    g.bytes += c.op.bytes.count;
    for (TaskId m : c.members) {
      const TaskRecord& t = record.tasks[m.index()];
      const auto& v = busy[t.rank.index()];
      const std::int64_t a = t.start.ps(), b = t.end.ps();
      std::int64_t covered = 0;
      auto it = std::upper_bound(v.begin(), v.end(), Interval{a, INT64_MAX});
      if (it != v.begin()) --it;
      for (; it != v.end() && it->first < b; ++it) {
        covered += std::max<std::int64_t>(0, std::min(b, it->second) - std::max(a, it->first));
      }
      g.overlapped_us += static_cast<double>(covered) * 1e-6;
      g.exposed_us += static_cast<double>(b - a - covered) * 1e-6;
    }
  }
  for (auto& [name, g] : out) {
    g.exposed_us /= static_cast<double>(ranks);
    g.overlapped_us /= static_cast<double>(ranks);
  }
  return out;
}

// The one place the network is built: the topology (a preset/file, or a node preset replicated
// over --nodes nodes) and the model kind.
struct Cluster {
  network::Topology topology;
  network::NetworkModelKind kind;
};

Cluster make_cluster(const RunOptions& o) {
  const auto kind = network::parse_network_model_kind(o.network);
  if (!kind)
    throw input_error("", "--network", "unknown network model", o.network, "flow or analytical");
  network::Topology t = io::load_topology(o.topology);
  if (o.nodes > 1) {
    if (t.node_count() != 1) {
      throw input_error("", "--nodes", "--nodes replicates a one-node topology",
                        fmt::format("{} has {} nodes", o.topology, t.node_count()),
                        "a single-node preset such as dgx-h100");
    }
    network::ClusterSpec spec;
    spec.nodes = o.nodes;
    t = network::generate_cluster(t, spec);
  }
  return Cluster{std::move(t), *kind};
}

struct StrategyRun {
  std::string name;
  std::vector<double> iteration_us;
  strategies::BuildResult last;
  ExecutionRecord record;
  report::IterationSummary summary;
  std::map<std::string, GroupTime> groups;
};

void print_run(const StrategyRun& r, double tokens, double model_flops, double peak_flops,
               std::size_t gpus) {
  double mean = 0.0;
  for (double t : r.iteration_us) mean += t;
  mean /= static_cast<double>(r.iteration_us.size());
  const double seconds = mean * 1e-6;
  fmt::print("\n== strategy {} ==\n", r.name);
  for (const auto& [k, v] : r.last.decisions) fmt::print("  decision  {:<32} {}\n", k, v);
  if (r.iteration_us.size() > 1) {
    std::string list;
    for (double t : r.iteration_us)
      list += fmt::format("{}{:.3f}", list.empty() ? "" : ", ", t / 1e3);
    fmt::print("iteration times      {} ms\n", list);
  }
  fmt::print("iteration time       {:>12.3f} ms{}\n", mean / 1e3,
             r.iteration_us.size() > 1 ? " (mean)" : "");
  fmt::print("throughput           {:>12.0f} tokens/s\n", tokens / seconds);
  fmt::print("MFU                  {:>12.1f} %\n",
             100.0 * model_flops / (seconds * peak_flops * static_cast<double>(gpus)));
  const report::IterationSummary& s = r.summary;
  fmt::print("ranks / tasks        {:>12} / {} tasks, {} comm ops\n", s.ranks, s.tasks, s.comm_ops);
  fmt::print("compute (mean/rank)  {:>12.3f} ms\n", s.mean_compute().ms());
  fmt::print("comm exposed (mean)  {:>12.3f} ms\n", s.mean_exposed_comm().ms());
  fmt::print("  {:<10} {:>8} {:>14} {:>14} {:>16}\n", "group", "ops", "exposed ms", "overlapped ms",
             "bytes/op");
  for (const auto& [name, g] : r.groups) {
    fmt::print("  {:<10} {:>8} {:>14.3f} {:>14.3f} {:>16}\n", name, g.operations,
               g.exposed_us / 1e3, g.overlapped_us / 1e3,
               g.operations ? g.bytes / g.operations : 0);
  }
  SimTime lo = SimTime::max(), hi = SimTime::zero();
  for (const auto& pr : s.per_rank) {
    lo = std::min(lo, pr.compute_busy);
    hi = std::max(hi, pr.compute_busy);
  }
  fmt::print("rank skew            {:>12.3f} ms end-to-end, compute {:.3f}..{:.3f} ms\n",
             s.rank_skew().ms(), lo.ms(), hi.ms());
}

void run(const RunOptions& o) {
  io::check_output_path(o.trace_file, "--trace");
  io::check_output_path(o.json_file, "--json");
  if (o.iterations < 1) {
    throw input_error("", "--iterations", "out of range", std::to_string(o.iterations), ">= 1");
  }
  if (o.parallel.empty()) {
    throw input_error("", "--parallel", "missing", "", "e.g. --parallel dp=4,tp=4,ep=8");
  }
  // Strategies first: a typo fails before any loading.
  std::vector<std::unique_ptr<strategies::Strategy>> chosen;
  std::size_t pos = 0;
  while (pos <= o.strategy.size()) {
    const std::size_t comma = std::min(o.strategy.find(',', pos), o.strategy.size());
    const std::string name = o.strategy.substr(pos, comma - pos);
    if (name == "all") {
      for (auto n : strategies::strategy_names()) chosen.push_back(strategies::make_strategy(n));
    } else {
      chosen.push_back(strategies::make_strategy(name));
    }
    pos = comma + 1;
  }
  if (chosen.size() > 1 && (!o.trace_file.empty() || !o.json_file.empty())) {
    throw input_error("", "--strategy", "--trace and --json need a single strategy", o.strategy,
                      "one name");
  }
  ModelSpec model = io::load_model(o.model);
  if (!o.overrides.empty()) apply_overrides(model, o.overrides, "--set");
  ParallelLayout layout = parse_parallel_layout(o.parallel, "--parallel");
  layout.order = o.order;
  layout.expert_order = o.expert_order;
  std::unique_ptr<RoutingModel> routing = parse_routing_generator(o.routing, o.seed, "--routing");
  if (!routing) routing = std::make_unique<TraceRouting>(io::load_routing_trace(o.routing));

  const Cluster cluster = make_cluster(o);
  const network::Topology& topo = cluster.topology;
  const compute::GpuSpec gpu = io::load_gpu_spec(o.gpu.empty() ? topo.gpu_model() : o.gpu);
  const auto peak = gpu.peak(model.dtype);
  if (!peak) {
    throw input_error("", "--gpu",
                      fmt::format("{} has no {} tensor path", gpu.name, to_string(model.dtype)),
                      gpu.name, "a GPU listing the model's dtype, or --set dtype=fp16");
  }
  ClusterShape shape;
  shape.nodes = static_cast<std::int64_t>(topo.node_count());
  shape.gpus_per_node = static_cast<std::int64_t>(topo.gpus_per_node());
  shape.gpu_model = gpu.name;
  for (std::size_t r = 0; r < topo.gpu_count(); ++r) {
    shape.node_of_rank.push_back(topo.node_of(RankId{static_cast<std::uint32_t>(r)}));
  }
  const compute::RooflineComputeModel compute(gpu);

  // Resolve once up front so layout errors come before any simulation.
  const TrainingJob first = make_training_job(model, layout, shape, *routing, 0);
  const double tokens = static_cast<double>(first.layout.dp * first.layout.micro_batches *
                                            model.tokens_per_micro_batch());
  fmt::print("model      {} ({} layers, {} MoE, M={}, E={}, k={}, {})\n", model.name, model.layers,
             model.moe_layer_count(), model.hidden, model.experts, model.top_k,
             model.dropless ? "dropless" : fmt::format("f={}", model.capacity_factor));
  fmt::print("cluster    {}: {} nodes x {} GPUs ({}), network model {}\n", topo.name(),
             topo.node_count(), topo.gpus_per_node(), gpu.name, network::to_string(cluster.kind));
  fmt::print("layout     {}\n", first.layout.describe());
  fmt::print("routing    {}, {} iteration(s), {} tokens per iteration\n", routing->describe(),
             o.iterations, tokens);

  std::vector<StrategyRun> runs;
  for (const auto& strategy : chosen) {
    StrategyRun r;
    r.name = std::string(strategy->name());
    for (std::int64_t i = 0; i < o.iterations; ++i) {
      const TrainingJob job = i == 0 ? first : make_training_job(model, layout, shape, *routing, i);
      const auto network = network::make_communication_model(topo, cluster.kind);
      const strategies::CostModels costs{compute, *network};
      strategies::BuildResult built = strategy->build_iteration(job, costs);
      built.graph.validate();
      const auto sim_network = network::make_communication_model(topo, cluster.kind);
      SimulatedExecutor executor(compute, *sim_network);
      ExecutionRecord record = executor.run(built.graph);
      r.iteration_us.push_back(record.makespan().us());
      if (i + 1 == o.iterations) {
        r.summary = report::summarize(built.graph, record);
        r.groups = comm_breakdown(built.graph, record);
        r.record = std::move(record);
        r.last = std::move(built);
      }
    }
    print_run(r, tokens, model.training_flops_per_token() * tokens, peak->flops_per_s,
              topo.gpu_count());
    runs.push_back(std::move(r));
  }
  if (runs.size() > 1) {
    fmt::print("\n{:<16} {:>14} {:>14} {:>8}\n", "strategy", "iteration ms", "tokens/s", "speedup");
    const double base = runs.front().iteration_us.back();
    for (const auto& r : runs) {
      double mean = 0.0;
      for (double t : r.iteration_us) mean += t;
      mean /= static_cast<double>(r.iteration_us.size());
      fmt::print("{:<16} {:>14.3f} {:>14.0f} {:>7.2f}x\n", r.name, mean / 1e3,
                 tokens / (mean * 1e-6), base / r.iteration_us.back());
    }
  }
  const StrategyRun& only = runs.front();
  if (!o.trace_file.empty()) {
    io::write_file_atomically(o.trace_file, io::chrome_trace(only.last.graph, only.record));
  }
  if (!o.json_file.empty()) {
    nlohmann::ordered_json j;
    j["model"] = model.name;
    j["topology"] = topo.name();
    j["gpu"] = gpu.name;
    j["network_model"] = network::to_string(cluster.kind);
    j["layout"] = first.layout.describe();
    j["strategy"] = only.name;
    j["routing"] = routing->describe();
    j["iteration_us"] = only.iteration_us;
    double mean = 0.0;
    for (double t : only.iteration_us) mean += t;
    mean /= static_cast<double>(only.iteration_us.size());
    j["tokens_per_iteration"] = tokens;
    j["tokens_per_s"] = tokens / (mean * 1e-6);
    j["mfu"] = model.training_flops_per_token() * tokens /
               (mean * 1e-6 * peak->flops_per_s * static_cast<double>(topo.gpu_count()));
    auto& d = j["decisions"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : only.last.decisions) d[k] = v;
    auto& g = j["comm_exposed"] = nlohmann::ordered_json::object();
    for (const auto& [name, t] : only.groups) {
      g[name] = {{"exposed_us", t.exposed_us},
                 {"overlapped_us", t.overlapped_us},
                 {"operations", t.operations},
                 {"bytes", t.bytes}};
    }
    j["last_iteration"] = io::summary_to_json(only.summary);
    io::write_file_atomically(o.json_file, j.dump(2) + "\n");
  }
}

}  // namespace

void register_run_command(CLI::App& root) {
  auto o = std::make_shared<RunOptions>();
  std::string names;
  for (auto n : strategies::strategy_names()) names += (names.empty() ? "" : ", ") + std::string(n);
  CLI::App* cmd = root.add_subcommand(
      "run",
      "Simulate training iterations of an MoE model with a scheduling strategy.\n"
      "Builds each iteration's task graph (every kernel and collective of every rank), runs it\n"
      "over the topology's network model with a roofline compute model, and prints the\n"
      "iteration time, tokens/s, MFU, communication per group (exposed vs overlapped) and the\n"
      "per-rank skew. --parallel sizes: dp (inferred if omitted), tp, ep, esp (expert sharding),\n"
      "pp, mb (micro-batches), schedule (gpipe|1f1b); edp = dp*tp/(ep*esp).\n"
      "Example (4 DGX-H100 nodes, three baselines side by side):\n"
      "  moesim run --model mixtral-8x7b --topology dgx-h100 --nodes 4 \\\n"
      "      --parallel tp=4,ep=8 --strategy deepspeed-moe,tutel,fastermoe --routing zipf:1.2");
  cmd->add_option("--model,-m", o->model, "Model preset (traces/models) or JSON file")->required();
  cmd->add_option("--set", o->overrides, "Override model fields: key=value[,key=value]");
  cmd->add_option("--topology,-t", o->topology, "Topology preset or JSON file")
      ->capture_default_str();
  cmd->add_option("--nodes", o->nodes,
                  "Replicate a one-node topology over N nodes (rail-optimized NDR fabric)");
  cmd->add_option("--network", o->network, "Network model: flow or analytical")
      ->capture_default_str();
  cmd->add_option("--gpu", o->gpu, "GPU spec (topologies/gpus); default: the topology's");
  cmd->add_option("--parallel,-p", o->parallel, "Layout, e.g. dp=4,tp=4,ep=8")->required();
  cmd->add_option("--order", o->order, "Rank order of tp,dp,pp, innermost first")
      ->capture_default_str();
  cmd->add_option("--expert-order", o->expert_order,
                  "Expert grid order, innermost first: esp,edp,ep (EP across nodes) or esp,ep,edp")
      ->capture_default_str();
  cmd->add_option("--strategy,-s", o->strategy,
                  "Strategy, a comma list, or 'all': " + names +
                      ". Options follow the name, ':'-separated, e.g. "
                      "deepspeed-ted:dtd=on:cac=off" +
                      strategies::strategy_options_help())
      ->capture_default_str();
  cmd->add_option("--routing", o->routing,
                  "uniform, zipf:S, dirichlet:A, drift:S, or a routing trace (.json/.csv)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the routing generators")->capture_default_str();
  cmd->add_option("--iterations,-n", o->iterations, "Iterations to simulate (routing differs)")
      ->capture_default_str();
  cmd->add_option("--trace", o->trace_file, "Write the last iteration's Chrome/Perfetto trace");
  cmd->add_option("--json", o->json_file, "Write the summary JSON here ('-' = stdout)");
  cmd->callback([o]() { run(*o); });
}

}  // namespace moesim::app
