// Testbed: a topology preset (replicated over nodes when asked) with its GPU and the flow network
// model, on which the validation tests of the seed papers' headline claims run jobs exactly as
// `moesim run` does: the job is assembled and simulated by the job library (sim/job).
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/job/job_runner.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::validation {

class Testbed {
 public:
  /// `gpu` overrides the topology's GPU spec name (empty: the topology's).
  Testbed(const std::string& preset, std::size_t nodes, const std::string& gpu = "")
      : topology_(
            std::make_shared<const network::Topology>(job::load_cluster_topology(preset, nodes))),
        gpu_(io::load_gpu_spec(gpu.empty() ? topology_->gpu_model() : gpu)) {}

  /// A job on this testbed; uniform routing (seed 1) unless given.
  job::PreparedJob job(ModelSpec model, const std::string& parallel,
                       std::shared_ptr<const RoutingModel> routing = nullptr,
                       std::int64_t iterations = 1) const {
    job::JobParts parts;
    parts.model = std::move(model);
    parts.layout = parse_parallel_layout(parallel, "--parallel");
    parts.routing =
        routing ? std::move(routing)
                : std::make_shared<const GeneratedRouting>(RoutingDistribution::uniform, 0, 1);
    parts.topology = topology_;
    parts.gpu = gpu_;
    parts.iterations = iterations;
    return job::assemble_job(std::move(parts));
  }

  /// Every iteration of `job` with `strategy` (a registry name with options).
  static job::StrategyResult run(const job::PreparedJob& job, const std::string& strategy) {
    return job::simulate_strategy(job, *strategies::make_strategy(strategy));
  }

 private:
  std::shared_ptr<const network::Topology> topology_;
  compute::GpuSpec gpu_;
};

/// Exposed all-to-all (EP group) time of a result's last iteration, mean per rank, in ms.
inline double exposed_ep_ms(const job::StrategyResult& r) {
  const auto ep = r.groups.find("ep");
  return ep == r.groups.end() ? 0.0 : ep->second.exposed_us * 1e-3;
}

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
