// Test helper for the strategy validation tests: runs a strategy on a preset model and a cluster
// of a preset node, like `moesim run`, and measures exposed communication per group (time a
// group's operations run on a rank while none of its kernels does, averaged over ranks).
#pragma once

#include <algorithm>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/comm_breakdown.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::testing_support {

struct StrategyRun {
  std::vector<double> iteration_ms;
  double mean_ms = 0.0;
  double exposed_ep_ms = 0.0;  ///< exposed all-to-all time of the last iteration, mean per rank
  strategies::BuildResult last;
};

inline StrategyRun run_strategy(const std::string& strategy, ModelSpec model,
                                const std::string& node_preset, std::size_t nodes,
                                const std::string& parallel, const RoutingModel& routing,
                                std::int64_t iterations) {
  network::Topology topo = io::load_topology(node_preset);
  if (nodes > 1) {
    network::ClusterSpec spec;
    spec.nodes = nodes;
    topo = network::generate_cluster(topo, spec);
  }
  const compute::GpuSpec gpu = io::load_gpu_spec(topo.gpu_model());
  const compute::RooflineComputeModel compute(gpu);
  ClusterShape shape;
  shape.nodes = static_cast<std::int64_t>(topo.node_count());
  shape.gpus_per_node = static_cast<std::int64_t>(topo.gpus_per_node());
  shape.gpu_model = gpu.name;
  const auto made = strategies::make_strategy(strategy);
  StrategyRun out;
  std::vector<RoutingCounts> history;
  for (std::int64_t i = 0; i < iterations; ++i) {
    TrainingJob job =
        make_training_job(model, parse_parallel_layout(parallel, "-p"), shape, routing, i);
    job.routing_history = std::make_shared<const std::vector<RoutingCounts>>(history);
    history.push_back(job.routing);
    const auto net = network::make_communication_model(topo, network::NetworkModelKind::flow);
    const strategies::CostModels costs{compute, *net};
    strategies::BuildResult built = made->build_iteration(job, costs);
    const auto sim_net = network::make_communication_model(topo, network::NetworkModelKind::flow);
    SimulatedExecutor exec(compute, *sim_net);
    const ExecutionRecord record = exec.run(built.graph);
    out.iteration_ms.push_back(record.makespan().ms());
    if (i + 1 == iterations) {
      const auto groups = report::comm_breakdown(built.graph, record);
      if (auto ep = groups.find("ep"); ep != groups.end())
        out.exposed_ep_ms = ep->second.exposed_us * 1e-3;
      out.last = std::move(built);
    }
  }
  for (double t : out.iteration_ms) out.mean_ms += t;
  out.mean_ms /= static_cast<double>(out.iteration_ms.size());
  return out;
}

}  // namespace moesim::testing_support
