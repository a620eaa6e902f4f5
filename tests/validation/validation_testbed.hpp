// Testbed: a topology preset (replicated over nodes when asked) with its GPU's roofline and the
// flow network model, and the iteration time of a strategy on a job there, as `moesim run`
// computes it (the planner decides with a fresh network model, the simulation runs another).
// Shared by the validation tests of the seed papers' headline claims.
#pragma once

#include <memory>
#include <string>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::validation {

class Testbed {
 public:
  /// `gpu` overrides the topology's GPU spec name (empty: the topology's).
  Testbed(const std::string& preset, std::size_t nodes, const std::string& gpu = "")
      : topology_(load(preset, nodes)),
        gpu_(io::load_gpu_spec(gpu.empty() ? topology_.gpu_model() : gpu)),
        compute_(gpu_) {
    shape_.nodes = static_cast<std::int64_t>(topology_.node_count());
    shape_.gpus_per_node = static_cast<std::int64_t>(topology_.gpus_per_node());
    shape_.gpu_model = gpu_.name;
    for (std::size_t r = 0; r < topology_.gpu_count(); ++r) {
      shape_.node_of_rank.push_back(topology_.node_of(RankId{static_cast<std::uint32_t>(r)}));
    }
  }

  TrainingJob job(const ModelSpec& model, const std::string& parallel) const {
    return make_training_job(model, parse_parallel_layout(parallel, "--parallel"), shape_,
                             GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
  }

  struct Result {
    double iteration_us = 0;
    std::map<std::string, std::string> decisions;
  };

  Result run(const TrainingJob& job, const std::string& strategy) const {
    const auto planning =
        network::make_communication_model(topology_, network::NetworkModelKind::flow);
    const strategies::CostModels costs{compute_, *planning};
    strategies::BuildResult built =
        strategies::make_strategy(strategy)->build_iteration(job, costs);
    const auto network =
        network::make_communication_model(topology_, network::NetworkModelKind::flow);
    SimulatedExecutor executor(compute_, *network);
    return Result{executor.run(built.graph).makespan().us(), std::move(built.decisions)};
  }

 private:
  static network::Topology load(const std::string& preset, std::size_t nodes) {
    network::Topology t = io::load_topology(preset);
    if (nodes <= 1) return t;
    network::ClusterSpec spec;
    spec.nodes = nodes;
    return network::generate_cluster(t, spec);
  }

  network::Topology topology_;
  compute::GpuSpec gpu_;
  compute::RooflineComputeModel compute_;
  ClusterShape shape_;
};

/// Mean, min and max of a list of speedups.
struct SpeedupStats {
  double mean = 0, min = 1e300, max = 0;
  std::size_t count = 0;
  void add(double s) {
    mean = (mean * static_cast<double>(count) + s) / static_cast<double>(count + 1);
    min = std::min(min, s);
    max = std::max(max, s);
    ++count;
  }
};

}  // namespace moesim::validation
