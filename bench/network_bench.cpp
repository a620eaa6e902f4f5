// Flow-model speed (Google Benchmark): a full all-to-all (every GPU to every other, 1 MiB each)
// on generated rail-optimized DGX-H100 clusters of 8 to 4096 GPUs (1,047,552 concurrent flows at
// 1024, 16,773,120 at 4096), lowered into flows and run to completion with exact max-min sharing.
// The timed part is lowering + routing + simulation; generating the topology is set-up, timed
// on its own by BM_GenerateCluster.
// Counters: flows, completion_us (the simulated all-to-all time), recomputations, solved_flows
// (flows re-solved over all recomputations), and peak_rss_mb
// (getrusage ru_maxrss of the process so far: sizes run in ascending order, so each row's value is
// that size's peak). Run one size alone, e.g. --benchmark_filter=/1024, for its own peak.
// BM_GenerateCluster times the set-up; BM_AnalyticalRepeatedExchange the analytical model's
// all-to-all-v pricing as the executor starts it.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "sim/io/topology_json.hpp"
#include "sim/network/analytical_network_model.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/flow_network_model.hpp"

namespace moesim::network {
namespace {

struct Last final : CommCompletionListener {
  SimTime at;
  void on_comm_complete(CommId, SimTime t) override { at = t; }
};

void BM_FlowAllToAll(benchmark::State& state) {
  const auto gpus = static_cast<std::uint32_t>(state.range(0));
  ClusterSpec spec;
  spec.nodes = gpus / 8;
  const Topology topo = generate_cluster(io::load_topology("dgx-h100"), spec);
  CommOp op;
  op.kind = CommKind::all_to_all;
  for (std::uint32_t r = 0; r < gpus; ++r) op.ranks.push_back(RankId{r});
  op.bytes = Bytes{static_cast<std::int64_t>(gpus) * 1024 * 1024};  // 1 MiB to every peer
  std::size_t flows = 0;
  Last last;
  std::uint64_t recomputations = 0;
  std::uint64_t solved = 0;
  for (auto _ : state) {
    FlowNetworkModel model(topo);
    // The scale case is NCCL's direct all-to-all with every pair its own flow (1.05 M flows at
    // 1,024 GPUs): PXN, on by default, would relay cross-rail pairs and aggregate them.
    CollectiveConfig direct;
    direct.pxn = false;
    FlowPlan plan = lower_all_to_all(topo, op, direct);
    flows = plan.flow_count();
    model.start_plan(CommId{0}, std::move(plan), SimTime::zero(), last);
    SimTime now;
    while (auto t = model.next_completion(now)) {
      model.advance(now, *t);
      now = *t;
    }
    recomputations = model.recomputations();
    solved = model.solved_flows();
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  state.counters["flows"] = static_cast<double>(flows);
  state.counters["completion_us"] = last.at.us();
  state.counters["recomputations"] = static_cast<double>(recomputations);
  state.counters["solved_flows"] = static_cast<double>(solved);
  state.counters["peak_rss_mb"] = static_cast<double>(self.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_FlowAllToAll)
    ->Arg(8)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(4096)
    ->Unit(benchmark::kMillisecond);

// The set-up left out above: generating the cluster (devices, links, structural routes; no
// all-pairs tables), up to 2,048 DGX-H100 nodes (16,384 GPUs). Run one size alone for its own
// peak RSS.
void BM_GenerateCluster(benchmark::State& state) {
  const Topology node = io::load_topology("dgx-h100");
  ClusterSpec spec;
  spec.nodes = static_cast<std::size_t>(state.range(0) / 8);
  std::size_t links = 0;
  for (auto _ : state) {
    const Topology cluster = generate_cluster(node, spec);
    links = cluster.links().size();
    benchmark::DoNotOptimize(cluster.gpu_count());
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  state.counters["links"] = static_cast<double>(links);
  state.counters["peak_rss_mb"] = static_cast<double>(self.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_GenerateCluster)
    ->Arg(8)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(4096)
    ->Arg(16384)
    ->Unit(benchmark::kMillisecond);

// The analytical executor's hot path on DeepSeek-V3's job (README): one EP group of 64 H800 GPUs
// on 8 nodes runs a layer's dispatch and combine all-to-all-v (PXN on) once per micro-batch.
// Pricing one prices PXN for its 3,584 cross-node pairs; start() remembers each distinct
// operation (operation_time_memo.hpp), so 32 micro-batches should cost little more than one.
// Counter distinct: operations priced.
void BM_AnalyticalRepeatedExchange(benchmark::State& state) {
  const auto micro_batches = static_cast<int>(state.range(0));
  ClusterSpec spec;
  spec.nodes = 8;
  const Topology topo = generate_cluster(io::load_topology("hgx-h800"), spec);
  std::vector<CommOp> layer;
  for (std::int64_t scale : {1, 2}) {  // dispatch and combine: other traffic
    CommOp op;
    op.kind = CommKind::all_to_all_v;
    op.group = CommGroup::ep;
    for (std::uint32_t r = 0; r < topo.gpu_count(); ++r) op.ranks.push_back(RankId{r});
    auto m = std::make_shared<ByteMatrix>(op.ranks.size());
    for (std::size_t i = 0; i < op.ranks.size(); ++i) {
      for (std::size_t j = 0; j < op.ranks.size(); ++j) {
        if (i != j) m->set(i, j, static_cast<std::int64_t>(1 + (i * 7 + j) % 5) * scale << 16);
      }
    }
    op.bytes = all_to_all_v_size(*m);
    op.matrix = std::move(m);
    layer.push_back(std::move(op));
  }
  Last last;
  std::size_t distinct = 0;
  for (auto _ : state) {
    AnalyticalNetworkModel model(topo);
    SimTime now;
    std::uint32_t id = 0;
    for (int mb = 0; mb < micro_batches; ++mb) {
      for (const CommOp& op : layer) model.start(CommId{id++}, op, now, last);
      while (auto t = model.next_completion(now)) {
        model.advance(now, *t);
        now = *t;
      }
    }
    distinct = model.distinct_started();
    benchmark::DoNotOptimize(last.at);
  }
  state.counters["distinct"] = static_cast<double>(distinct);
  state.counters["completion_us"] = last.at.us();
}
BENCHMARK(BM_AnalyticalRepeatedExchange)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace moesim::network

BENCHMARK_MAIN();
