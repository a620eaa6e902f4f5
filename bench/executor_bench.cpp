// Simulated executor throughput: tasks per second on synthetic iteration-shaped graphs of 10^3
// to 10^6 tasks. Each of R ranks runs chains of kernels on a compute stream, with an all-to-all
// every 8 kernels on a comm stream that the next kernel waits for (the MoE pattern).
#include <benchmark/benchmark.h>

#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/network/ideal_network_model.hpp"

namespace moesim {
namespace {

TaskGraph synthetic_graph(std::int64_t target_tasks, std::uint32_t ranks) {
  TaskGraph g(ranks);
  const StreamId compute = g.stream("compute");
  const StreamId comm = g.stream("comm");
  std::vector<RankId> all;
  for (std::uint32_t r = 0; r < ranks; ++r) all.push_back(RankId{r});
  ComputeTask k;
  k.kind = KernelKind::gemm;
  k.flops.count = 1e9;
  k.bytes.count = 1 << 20;
  CommOp a2a;
  a2a.kind = CommKind::all_to_all;
  a2a.group = CommGroup::ep;
  a2a.ranks = all;
  a2a.bytes = mib(8);
  const std::int64_t steps = target_tasks / (9 * ranks);
  std::vector<TaskId> last(ranks);
  for (std::int64_t s = 0; s < steps; ++s) {
    for (std::uint32_t r = 0; r < ranks; ++r) {
      for (int i = 0; i < 8; ++i) last[r] = g.add_compute("kernel", RankId{r}, compute, k);
    }
    const auto members = g.add_collective("a2a", a2a, comm);
    for (std::uint32_t r = 0; r < ranks; ++r) g.depend(last[r], members[r]);
    for (std::uint32_t r = 0; r < ranks; ++r) {
      last[r] = g.add_compute("after_a2a", RankId{r}, compute, k);
      g.depend(members[r], last[r]);
    }
  }
  return g;
}

void BM_SimulatedExecutor(benchmark::State& state) {
  const TaskGraph g = synthetic_graph(state.range(0), 8);
  compute::FixedRateComputeModel compute({});
  for (auto _ : state) {
    network::IdealNetworkModel network(Bandwidth::from_gbps(100), SimTime::from_us(5));
    SimulatedExecutor executor(compute, network);
    benchmark::DoNotOptimize(executor.run(g).tasks.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g.task_count()));
  state.counters["tasks"] = static_cast<double>(g.task_count());
  state.counters["tasks_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * g.task_count()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimulatedExecutor)
    ->Arg(1'000)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace moesim

BENCHMARK_MAIN();
