// Speed of a full training iteration: Mixtral-8x7B, all 32 layers forward and backward, on
// generated DGX-H100 clusters of 32, 256 and 1024 GPUs (tp=4, ep=8), per baseline strategy:
// graph build + simulated execution with the analytical network model. Target: < 10 s at 1024
// GPUs (issue 4).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "sim/compute/roofline_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/gpu_spec_json.hpp"
#include "sim/io/model_json.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/strategies/registry.hpp"

namespace {

using namespace moesim;

void run_iteration(benchmark::State& state, const char* strategy_name, const char* network_kind) {
  const auto nodes = static_cast<std::size_t>(state.range(0) / 8);
  network::ClusterSpec spec;
  spec.nodes = nodes;
  const network::Topology topo = network::generate_cluster(io::load_topology("dgx-h100"), spec);
  const ModelSpec model = io::load_model("mixtral-8x7b");
  const compute::RooflineComputeModel compute(io::load_gpu_spec("h100"));
  ClusterShape shape;
  shape.nodes = static_cast<std::int64_t>(nodes);
  shape.gpus_per_node = 8;
  const GeneratedRouting routing(RoutingDistribution::zipf, 1.2, 1);
  const TrainingJob job =
      make_training_job(model, parse_parallel_layout("tp=4,ep=8", "--parallel"), shape, routing, 0);
  const auto kind = *network::parse_network_model_kind(network_kind);
  const auto strategy = strategies::make_strategy(strategy_name);
  std::size_t tasks = 0;
  double makespan_ms = 0.0;
  for (auto _ : state) {
    const auto planner_net = network::make_communication_model(topo, kind);
    const strategies::CostModels costs{compute, *planner_net};
    const strategies::BuildResult built = strategy->build_iteration(job, costs);
    const auto net = network::make_communication_model(topo, kind);
    SimulatedExecutor exec(compute, *net);
    const ExecutionRecord record = exec.run(built.graph);
    tasks = built.graph.task_count();
    makespan_ms = record.makespan().ms();
    benchmark::DoNotOptimize(makespan_ms);
  }
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["iteration_ms"] = makespan_ms;
}

void register_all() {
  for (const char* s : {"deepspeed-moe", "tutel", "fastermoe"}) {
    for (const char* net : {"analytical", "flow"}) {
      benchmark::RegisterBenchmark(fmt::format("mixtral_8x7b/{}/{}", s, net).c_str(),
                                   [s, net](benchmark::State& st) { run_iteration(st, s, net); })
          ->Arg(32)
          ->Arg(256)
          ->Arg(1024)
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
