// Lancet: its planner on hand-computed cases, and the graph it builds (irregular all-to-all sizes,
// dW ops overlapping the backward all-to-alls, layout check).
#include <gtest/gtest.h>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/lancet_planner.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

// 1 TFLOP/s, 1 TB/s memory, a 1.0 GB/s network with 5 us per step.
struct LancetCosts : test_support::FixedCosts {
  LancetCosts() : FixedCosts(1e12, 1e12, 1.0, SimTime::from_us(5)) {}
};

using lancet::PipeInstr;

SimTime us(double v) { return SimTime::from_us(v); }

// A (compute 4 us), B (comm 6 us, the MoE), C (compute 4 us); split in 2, each part takes half.
std::vector<PipeInstr> abc() {
  return {PipeInstr{"A", false, false, {us(4), us(2)}, {}},
          PipeInstr{"B", true, true, {us(6), us(3)}, {}},
          PipeInstr{"C", false, false, {us(4), us(2)}, {}}};
}

TEST(LancetPlanner, PipelineSchedulerRule) {
  // k=1: 4 + 6 + 4 = 14. k=2: A0 [0,2] A1 [2,4]; B0 [2,5] B1 [5,8] (after B0 on the comm queue);
  // C0 starts at max(B0 end 5, A1 end 4) = 5 -> 7; C1 at max(8, 7) = 8 -> 10.
  EXPECT_EQ(lancet::pipeline_time(abc(), 0, 3, 1), us(14));
  EXPECT_EQ(lancet::pipeline_time(abc(), 0, 3, 2), us(10));
}

TEST(LancetPlanner, ComputeStartedBesideAnExchangePaysTheContention) {
  // C run beside communication takes 4 us per half instead of 2. k=2: A0 [0,2] A1 [2,4] (A has
  // no contended time: unchanged); B0 [2,5] B1 [5,8]; C0 starts at 5 while B1 runs, at half
  // speed until 8 (3 us for 1.5 us of its work), the 0.5 us left alone: [5,8.5]; C1 at 8.5, B1
  // over: [8.5,10.5]. k=1: C starts at 10 after B: uncontended, 14.
  std::vector<PipeInstr> instrs = abc();
  instrs[2].part_time_beside_comm = {us(8), us(4)};
  EXPECT_EQ(lancet::pipeline_time(instrs, 0, 3, 1), us(14));
  SimTime kernels = SimTime::zero();
  EXPECT_EQ(lancet::pipeline_time(instrs, 0, 3, 2, {}, &kernels), us(10.5));
  EXPECT_EQ(kernels, us(2 + 2 + 3.5 + 2));
}

TEST(LancetPlanner, QueueHandOverChargedPerPartitionAndStageBoundary) {
  // A 1 us wait before each partition's first instruction of B and of C (not of A, the range's
  // first stage). k=1: 4 + (1 + 6) + (1 + 4) = 16. k=2: A0 [0,2] A1 [2,4]; B0 waits [2,3], runs
  // [3,6]; B1 waits [6,7], runs [7,10]; C0 waits [6,7] (after B0 and A1), runs [7,9]; C1 waits
  // [10,11], runs [11,13].
  const lancet::PartitionOverhead wait{.queue_switch = us(1)};
  EXPECT_EQ(lancet::pipeline_time(abc(), 0, 3, 1, wait), us(16));
  EXPECT_EQ(lancet::pipeline_time(abc(), 0, 3, 2, wait), us(13));
  // A large hand-over makes one partition the best plan: k=1 costs 2 waits, k=2 four.
  const lancet::PartitionOverhead slow{.queue_switch = us(4)};
  const auto plan = lancet::plan_partitions(abc(), {0, 3}, 2, true, slow);
  ASSERT_EQ(plan.ranges.size(), 1u);
  EXPECT_EQ(plan.ranges[0].partitions, 1);
  EXPECT_EQ(plan.time, us(22));
}

TEST(LancetPlanner, DynamicProgramPicksRangeAndCount) {
  // Best: one range [A, C] in 2 parts = 10 us (any split of the MoE out of it is worse).
  const auto plan = lancet::plan_partitions(abc(), {0, 1, 2, 3}, 2, true);
  ASSERT_EQ(plan.ranges.size(), 1u);
  EXPECT_EQ(plan.ranges[0].partitions, 2);
  EXPECT_EQ(plan.time, us(10));
  // Batch-prioritized gate: no partition before the MoE. A alone (4) + [B, C] in 2: B0 [0,3]
  // B1 [3,6], C0 [3,5], C1 [6,8] -> 4 + 8 = 12.
  const auto after_only = lancet::plan_partitions(abc(), {0, 1, 2, 3}, 2, false);
  ASSERT_EQ(after_only.ranges.size(), 2u);
  EXPECT_EQ(after_only.ranges[1].begin, 1u);
  EXPECT_EQ(after_only.ranges[1].partitions, 2);
  EXPECT_EQ(after_only.time, us(12));
}

TEST(LancetPlanner, NoPathMeansEligible) {
  // Chain 0 -> 1 -> 2 (1 is an all-to-all), dW 3 reads the input of op 1 (edge 0 -> 3).
  const std::vector<std::vector<std::size_t>> succ = {{1, 3}, {2}, {}, {}};
  EXPECT_TRUE(lancet::unrelated_to(succ, 1)[3]);
  EXPECT_TRUE(lancet::unrelated_to(succ, 2)[3]);
  EXPECT_FALSE(lancet::unrelated_to(succ, 0)[3]);
  EXPECT_FALSE(lancet::unrelated_to(succ, 1)[2]);
}

TEST(LancetPlanner, BestFitGreedy) {
  // Gap 10: |10-9| = 1 is best -> 9, left 1; then |1-3| = 2 < |1-7| = 6 -> 3, left -2: stop.
  // A second all-to-all of 7 with only the 7 eligible takes it.
  const auto a = lancet::best_fit_assign({us(10), us(7)}, {us(3), us(7), us(9)},
                                         {{true, true, true}, {false, true, false}});
  EXPECT_EQ(a, (std::vector<int>{0, 1, 0}));
}

ModelSpec small_model() {
  ModelSpec m;
  m.name = "small";
  m.layers = 4;
  m.hidden = 64;
  m.ffn_hidden = 256;
  m.expert_ffn_hidden = 256;
  m.heads = 4;
  m.kv_heads = 4;
  m.seq_len = 32;
  m.micro_batch = 4;
  m.experts = 8;
  m.top_k = 1;
  m.capacity_factor = 1.0;
  m.moe_layers = MoeLayers::every_other;
  m.dtype = DType::fp16;
  return m;
}

TrainingJob small_job(const std::string& parallel = "ep=4") {
  ClusterShape c;
  c.nodes = 1;
  c.gpus_per_node = 4;
  return make_training_job(small_model(), parse_parallel_layout(parallel, "-p"), c,
                           GeneratedRouting(RoutingDistribution::zipf, 1.0, 3), 0);
}

TEST(Lancet, IrregularAllToAllSendsOnlyKeptTokens) {
  // Every forward dispatch is an all-to-all-v; over a layer's partitions the matrices add up to
  // the kept tokens x M x 2 bytes (no padding); each is preceded by a sizes all-to-all of E x 8.
  LancetCosts f;
  const TrainingJob job = small_job();
  const BuildResult built = make_strategy("lancet")->build_iteration(job, f.costs);
  built.graph.validate();
  const auto cap = expert_capacity(job.model.tokens_per_micro_batch(), 1, 1.0, 8);
  std::int64_t kept = 0;
  for (std::int64_t l = 0; l < 2; ++l) {
    for (std::int64_t r = 0; r < 4; ++r) {
      for (std::int64_t e = 0; e < 8; ++e) kept += std::min(job.routing.at(l, r, e), cap);
    }
  }
  std::int64_t dispatched = 0, sizes = 0, dispatches = 0;
  for (const CommRecord& c : built.graph.comms()) {
    const std::string& name = built.graph.names()[c.name];
    if (name == "ep.dispatch") {
      EXPECT_EQ(c.op.kind, CommKind::all_to_all_v);
      dispatched += c.op.matrix->total();
      ++dispatches;
    } else if (name == "ep.sizes") {
      EXPECT_EQ(c.op.bytes.count, 8 * 8);
      ++sizes;
    }
  }
  EXPECT_EQ(dispatched, kept * 64 * 2);
  EXPECT_EQ(sizes, dispatches);
  // The queue hand-overs the planner charged are in the graph: on rank 0, one wait per partition
  // per stage boundary of the range holding the MoE layer, each as long as a launch.
  std::int64_t waits = 0;
  for (const Task& task : built.graph.tasks()) {
    if (task.rank.value == 0 && built.graph.names()[task.name] == "lancet.queue_wait") {
      ASSERT_EQ(task.kind, TaskKind::delay);
      ++waits;
    }
  }
  // Each layer's range holding the MoE has at least the stages gate | sizes+dispatch | experts |
  // combine | unpermute, so at least 4 boundaries per partition.
  const auto partitions = [&](const char* key) {
    return static_cast<std::int64_t>(built.decisions.at(key).number());
  };
  EXPECT_GE(waits, 4 * (partitions("lancet.partitions.L1") + partitions("lancet.partitions.L3")));
  EXPECT_EQ(built.decisions.count("lancet.partitions.L1"), 1u);
  EXPECT_EQ(built.decisions.count("lancet.partitions.L3"), 1u);
}

TEST(Lancet, WeightGradientsRunDuringBackwardAllToAlls) {
  // Some dW kernel on rank 0 starts before a backward all-to-all of rank 0 ends and after it
  // starts: the dW scheduling pass placed it into the gap.
  LancetCosts f;
  const BuildResult built = make_strategy("lancet")->build_iteration(small_job(), f.costs);
  SimulatedExecutor exec(f.compute, f.network);
  const ExecutionRecord rec = exec.run(built.graph);
  bool overlapped = false;
  for (const CommRecord& c : built.graph.comms()) {
    const std::string& name = built.graph.names()[c.name];
    if (name != "ep.combine.bwd" && name != "ep.dispatch.bwd") continue;
    const TaskRecord& a = rec.tasks[c.members[0].index()];
    for (std::size_t i = 0; i < built.graph.task_count(); ++i) {
      const std::string_view n = built.graph.name_of(TaskId{static_cast<std::uint32_t>(i)});
      if (n.size() < 3 || n.substr(n.size() - 3) != ".dW") continue;
      const TaskRecord& t = rec.tasks[i];
      const bool same_rank = built.graph.tasks()[i].rank == built.graph.task(c.members[0]).rank;
      if (same_rank && t.start >= a.start && t.start < a.end) overlapped = true;
    }
  }
  EXPECT_TRUE(overlapped);
  EXPECT_GT(built.decisions.at("lancet.dw_overlapped").number(), 0.0);
}

TEST(Lancet, PassesOffWithTensorParallelism) {
  // Lancet is defined for data + expert parallelism; with tp = 2 it still builds a valid graph
  // and says its passes are off.
  LancetCosts f;
  const BuildResult built =
      make_strategy("lancet")->build_iteration(small_job("tp=2,ep=2"), f.costs);
  built.graph.validate();
  EXPECT_EQ(built.decisions.at("lancet.passes").name(), "off");
  EXPECT_EQ(built.decisions.at("lancet.dw_overlapped").number(), 0.0);
  EXPECT_EQ(built.decisions.at("lancet.dw_overlapped_time").number(), 0.0);
}

TEST(FlexMoe, RejectsExpertSharding) {
  LancetCosts f;
  try {
    make_strategy("flexmoe")->build_iteration(small_job("ep=2,esp=2"), f.costs);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--parallel: flexmoe places whole experts (no expert sharding, FlexMoE SIGMOD 2023) "
              "(got esp=2, expected esp=1)");
  }
}

}  // namespace
}  // namespace moesim::strategies
