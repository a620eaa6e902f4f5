// FlexMoE: replica routing, balance ratio, the policy maker on hand-computed cases, and the graph
// (moves charged with parameters + optimizer state, replica all-reduces, purity).
#include <gtest/gtest.h>

#include <map>

#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/flexmoe_planner.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

// 1 TFLOP/s, 1 TB/s memory, a 10.0 GB/s network with 5 us per step.
struct FlexMoeCosts : test_support::FixedCosts {
  FlexMoeCosts() : FixedCosts(1e12, 1e12, 10.0, SimTime::from_us(5)) {}
};

using namespace flexmoe;

TEST(FlexMoePlanner, RoutesEvenlyOverReplicasPreferringOwnGpu) {
  // GPUs 0, 1 on different nodes; expert 0 on {0, 1}, expert 1 on {1}. Demand: GPU 0 sends 6 to
  // e0; GPU 1 sends 2 to e0 and 4 to e1. e0's 8 tokens -> quotas 4 + 4: GPU 0 keeps 4 of its own,
  // GPU 1 keeps its 2, GPU 0's other 2 go to GPU 1. Loads: GPU 0 = 4, GPU 1 = 4 + 4 = 8.
  Placement p = Placement::initial(2, 2, 2);
  p.replicas[0] = {0, 1};
  const Routed r = route({{6, 0}, {2, 4}}, p, {0, 1});
  EXPECT_EQ(r.sent[0][0], 4);
  EXPECT_EQ(r.sent[0][1], 2);
  EXPECT_EQ(r.sent[1][1], 6);
  EXPECT_EQ(r.load, (std::vector<std::int64_t>{4, 8}));
  // Balance ratio max/mean = 8 / 6.
  EXPECT_DOUBLE_EQ(balance_ratio(r), 8.0 / 6.0);
}

TEST(FlexMoePlanner, SpreadsANodesImportOverItsReplicasAndItsExportOverSenders) {
  // 6 GPUs, nodes {0,0,0,1,1,1}; expert 0 on GPUs {0, 3, 4}. Demand: GPUs 0, 1, 2 send 4 each,
  // GPU 5 sends 6: 18 tokens, quota 6 per replica.
  //  own GPU:  GPU 0 keeps its 4 (GPU 0 still needs 2);
  //  node 0:   GPUs 1, 2 (4 + 4 left) give GPU 0 its 2 in proportion: 1 + 1 (3 + 3 left);
  //  node 1:   GPU 5's 6 over GPUs 3 and 4 (open 6 + 6): 3 + 3;
  //  anywhere: GPUs 3, 4 need 3 + 3 of GPUs 1, 2's 3 + 3: GPU 3 takes 3 of {3, 3} = 2 + 1
  //            (largest remainder, lower index first), GPU 4 the rest {1, 2}.
  // Each of GPUs 3, 4 receives 3 across nodes and GPUs 1, 2 send 3 each. (Filling in position
  // order put all 6 cross-node tokens into GPU 4 and 4 of them out of GPU 2: twice the busiest
  // NIC's all-to-all time.)
  Placement p = Placement::initial(6, 6, 2);
  p.replicas[0] = {0, 3, 4};
  std::vector<std::vector<std::int64_t>> demand(6, std::vector<std::int64_t>(6, 0));
  demand[0][0] = demand[1][0] = demand[2][0] = 4;
  demand[5][0] = 6;
  const Routed r = route(demand, p, {0, 0, 0, 1, 1, 1});
  EXPECT_EQ(r.sent[0][0], 4);
  EXPECT_EQ(r.sent[1][0], 1);
  EXPECT_EQ(r.sent[2][0], 1);
  EXPECT_EQ(r.sent[5][3], 3);
  EXPECT_EQ(r.sent[5][4], 3);
  EXPECT_EQ(r.sent[1][3], 2);
  EXPECT_EQ(r.sent[2][3], 1);
  EXPECT_EQ(r.sent[1][4], 1);
  EXPECT_EQ(r.sent[2][4], 2);
  EXPECT_EQ(r.load, (std::vector<std::int64_t>{6, 0, 0, 6, 6, 0}));
}

TEST(FlexMoePlanner, AllToAllTimeUsesTheAllToAllBandwidthNotALoneTransfers) {
  // 2 GPUs on 2 nodes, one expert each; GPU 0 sends 1000 one-byte tokens to e1 on GPU 1.
  // Lone transfer 2 GB/s, all-to-all 1 GB/s per GPU (two GPUs per NIC):
  // T_A2A = 4 x 1000 B / 1 GB/s = 4 us (not 2 us).
  CostParams c;
  c.per_token = SimTime::zero();
  c.intra_bytes_per_s = c.inter_bytes_per_s = 2e9;
  c.a2a_intra_bytes_per_s = c.a2a_inter_bytes_per_s = 1e9;
  c.token_bytes = 1;
  c.node_of = {0, 1};
  const CostBreakdown b = iteration_cost({{0, 1000}, {0, 0}}, Placement::initial(2, 2, 1), c);
  EXPECT_EQ(b.a2a, SimTime::from_us(4));
}

TEST(FlexMoePlanner, ExpandsTheHotExpertWhenItPays) {
  // 2 GPUs (one node), 2 slots each; e0 gets 20 tokens, e1 2. 1 us per token, 1 GB/s, 1-byte
  // tokens, free sync; a move of 20 kB costs 20 us, amortised over 10 iterations = 2 us.
  // Static: loads 20 / 2 -> T ~ 20 us. Expand e0 onto GPU 1: 10 / 12 -> 12 + 2 = 14 < 20: taken.
  // Next, expanding e1 onto GPU 0: 11 / 11 -> 11 + 2 = 13 > 12: rejected, stop.
  CostParams c;
  c.per_token = SimTime::from_us(1);
  c.intra_bytes_per_s = c.inter_bytes_per_s = 1e9;
  c.a2a_intra_bytes_per_s = c.a2a_inter_bytes_per_s = 1e9;
  c.token_bytes = 1;
  c.expert_bytes = 0;
  c.move_bytes = 20000;
  c.amortize_iterations = 10;
  c.node_of = {0, 0};
  const PolicyResult r = make_scheduling_plan({{10, 1}, {10, 1}}, Placement::initial(2, 2, 2), c);
  EXPECT_EQ(r.placement.replicas[0], (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(r.placement.replicas[1], (std::vector<std::int64_t>{1}));
  ASSERT_EQ(r.moves.size(), 1u);
  EXPECT_EQ(r.moves[0].kind, MoveKind::expand);
  EXPECT_EQ(r.moves[0].from, 0);
  EXPECT_EQ(r.moves[0].to, 1);
}

TrainingJob job_at(std::int64_t iteration, std::vector<RoutingCounts>* history) {
  ModelSpec m;
  m.name = "small";
  m.layers = 2;
  m.hidden = 256;
  m.ffn_hidden = 1024;
  m.expert_ffn_hidden = 1024;
  m.heads = 4;
  m.kv_heads = 4;
  m.seq_len = 256;
  m.micro_batch = 4;
  m.experts = 8;
  m.top_k = 1;
  m.dropless = true;
  m.moe_layers = MoeLayers::every_other;
  m.dtype = DType::fp16;
  ClusterShape c;
  c.nodes = 1;
  c.gpus_per_node = 4;
  TrainingJob job =
      make_training_job(m, parse_parallel_layout("ep=4", "-p"), c,
                        GeneratedRouting(RoutingDistribution::zipf, 1.5, 5), iteration);
  if (history != nullptr) {
    job.routing_history = std::make_shared<const std::vector<RoutingCounts>>(*history);
  }
  return job;
}

TEST(FlexMoe, StaticWithoutHistoryThenMovesChargedWithOptimizerState) {
  FlexMoeCosts f;
  const auto strategy = make_strategy("flexmoe");
  std::vector<RoutingCounts> history;
  const TrainingJob j0 = job_at(0, &history);
  const BuildResult b0 = strategy->build_iteration(j0, f.costs);
  b0.graph.validate();
  EXPECT_EQ(b0.decisions.at("flexmoe.replicas.L1").name(), "none");
  history.push_back(j0.routing);
  const TrainingJob j1 = job_at(1, &history);
  const BuildResult b1 = strategy->build_iteration(j1, f.costs);
  b1.graph.validate();
  EXPECT_NE(b1.decisions.at("flexmoe.replicas.L1").name(), "none");
  // Each move: parameters (2 x 256 x 1024) + 6x optimizer state, fp16: 7 x 524288 x 2 bytes.
  std::int64_t moves = 0, replica_allreduces = 0;
  for (const CommRecord& c : b1.graph.comms()) {
    const std::string& name = b1.graph.names()[c.name];
    if (name == "flex.move") {
      EXPECT_EQ(c.op.kind, CommKind::send_recv);
      EXPECT_EQ(c.op.bytes.count, 7 * 524288 * 2);
      ++moves;
    } else if (name == "grad.allreduce.expert") {
      EXPECT_EQ(c.op.bytes.count, 524288 * 2);
      ++replica_allreduces;
    }
  }
  EXPECT_GT(moves, 0);
  EXPECT_GT(replica_allreduces, 0);
  // Pure: the same job gives the same decisions.
  EXPECT_EQ(strategy->build_iteration(j1, f.costs).decisions, b1.decisions);
}

TEST(FlexMoe, ARebalancingIterationWaitsForItsMovesAndReLayout) {
  // The GPUs whose vExperts changed copy every expert they hold (16 bytes per parameter: fp16
  // parameter and gradient, fp32 master, m, v; read + write) before their forward, after the
  // moves to and from them; the iteration is longer than the same placement without moves.
  FlexMoeCosts f;
  const auto strategy = make_strategy("flexmoe");
  std::vector<RoutingCounts> history;
  const TrainingJob j0 = job_at(0, &history);
  history.push_back(j0.routing);
  const TrainingJob j1 = job_at(1, &history);
  const BuildResult b1 = strategy->build_iteration(j1, f.costs);
  const TaskGraph& g = b1.graph;
  const std::int64_t expert_params = 2 * 256 * 1024;
  std::int64_t relayouts = 0;
  std::vector<std::vector<TaskId>> preds(g.task_count());
  for (const auto& [before, after] : g.edges()) preds[after.index()].push_back(before);
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const TaskId id{static_cast<std::uint32_t>(i)};
    if (g.name_of(id) != "flex.relayout") continue;
    ++relayouts;
    const Task& t = g.task(id);
    const auto& k = *g.compute_of(t);
    EXPECT_EQ(k.kind, KernelKind::memcpy);
    EXPECT_EQ(k.bytes.count % (2 * 16 * expert_params), 0);  // whole experts
    EXPECT_GE(k.bytes.count, 2 * 16 * expert_params);
    // The first task of its rank's compute stream, after at least one move.
    for (std::size_t j = 0; j < i; ++j) {
      EXPECT_FALSE(g.tasks()[j].rank == t.rank && g.tasks()[j].stream == t.stream);
    }
    bool after_move = false;
    for (TaskId p : preds[i]) after_move = after_move || g.name_of(p) == "flex.move";
    EXPECT_TRUE(after_move);
  }
  EXPECT_GT(relayouts, 0);
  // Run: on each re-laying-out rank, no forward kernel starts before its re-layout ends.
  SimulatedExecutor exec(f.compute, f.network);
  const ExecutionRecord rec = exec.run(g);
  std::map<std::uint32_t, SimTime> relayout_end;
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    if (g.name_of(TaskId{static_cast<std::uint32_t>(i)}) == "flex.relayout") {
      relayout_end[g.tasks()[i].rank.value] = rec.tasks[i].end;
    }
  }
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    const auto it = relayout_end.find(t.rank.value);
    if (it == relayout_end.end() || t.phase != Phase::forward || t.kind != TaskKind::compute ||
        g.name_of(TaskId{static_cast<std::uint32_t>(i)}) == "flex.relayout") {
      continue;
    }
    EXPECT_GE(rec.tasks[i].start, it->second) << g.name_of(TaskId{static_cast<std::uint32_t>(i)});
  }
}

}  // namespace
}  // namespace moesim::strategies
