// Parm (parm-s1, parm-s2, parm): collective sizes against the reconstructed S1/S2 (Parm, INFOCOM
// 2024), no duplicated expert work, and the alpha-beta planner's choice on constructed networks.
#include <gtest/gtest.h>

#include <map>
#include <queue>

#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/sim/strategies/strategy_test_support.hpp"

namespace moesim::strategies {
namespace {

using namespace test_support;
using Fixture = FixedCosts;

// 8 GPUs = 2 nodes x 4, tp = esp = 4 (a node), ep = 2 (across nodes) -> dp = 2, edp = 1.
// One MoE layer, M = 8, T = B*L = 8 tokens per replica, E = 2, k = 1, f = 1 -> C = 4; fp32.
ModelSpec parm_model() { return test_support::tiny_model(4, 8); }

TrainingJob tiny_job(ModelSpec m = parm_model()) {
  return make_training_job(m, parse_parallel_layout("tp=4,esp=4,ep=2", "-p"), shape_of(2, 4),
                           GeneratedRouting(RoutingDistribution::uniform, 0, 1), 0);
}

TEST(Parm, S1SizesFollowStrategiesMd) {
  // Baseline S_disp = E*C*M*b = 2*4*8*4 = 256 B. S1 (PauseMP): each MP rank keeps C' = C/g = 1
  // slot per expert -> EP all-to-all E*C'*M*b = 64 B = S_disp/g; ESP all-gather output
  // g*64 = 256 B; experts compute ep*g*C' = 2*4*1 = 8 tokens (DeepSpeed: 32, g times more);
  // MP-AllGather output T*M*b = 8*8*4 = 256 B over the 4 tp ranks, once forward, once backward.
  Fixture f;
  const TrainingJob job = tiny_job();
  const BuildResult s1 = make_strategy("parm-s1")->build_iteration(job, f.costs);
  s1.graph.validate();
  const auto by = comms_by_name(s1.graph);
  ASSERT_TRUE(by.count("ep.dispatch"));
  for (const CommRecord* c : by.at("ep.dispatch")) {
    EXPECT_EQ(c->op.kind, CommKind::all_to_all);
    EXPECT_EQ(c->op.bytes.count, 64);
    EXPECT_EQ(c->op.ranks.size(), 2u);
  }
  for (const CommRecord* c : by.at("esp.allgather")) EXPECT_EQ(c->op.bytes.count, 256);
  for (const CommRecord* c : by.at("esp.reducescatter")) EXPECT_EQ(c->op.bytes.count, 256);
  ASSERT_EQ(by.at("mp.allgather").size(), 2u);  // one per tp group (2 nodes)
  ASSERT_EQ(by.at("mp.allgather.bwd").size(), 2u);
  for (const CommRecord* c : by.at("mp.allgather")) {
    EXPECT_EQ(c->op.kind, CommKind::all_gather);
    EXPECT_EQ(c->op.bytes.count, 256);
    EXPECT_EQ(c->op.ranks.size(), 4u);
  }
  EXPECT_EQ(s1.decisions.at("parm.schedule").name(), "S1");
  EXPECT_EQ(expert1_tokens(s1.graph, RankId{0}), 8);

  const BuildResult ds = make_strategy("deepspeed-moe")->build_iteration(job, f.costs);
  EXPECT_EQ(comms_by_name(ds.graph).at("ep.dispatch").front()->op.bytes.count, 256);
  EXPECT_EQ(expert1_tokens(ds.graph, RankId{0}), 32);
}

TEST(Parm, S2CrossesTheNetworkOnceAndFansOutInsideTheSameCollective) {
  // S2: one all-to-all-v over the EP x ESP group (here all 8 ranks: ranks 0-3 on node 0 = ep 0,
  // 4-7 on node 1 = ep 1, esp = local index). Each MP rank holds C' = 1 slot of each expert:
  // to the member with its own esp index on the other node the slot of that node's expert
  // (1 x 1 x M x b = 32 B, S1's EP traffic: one copy per token across the network), to each of
  // the 3 other members of its own node what it holds for its own node's expert from both EP
  // positions (2 x 32 = 64 B, the ESP all-gather's traffic), nothing else. The combine and the
  // backward's input gradients are the transpose. No ESP collective; experts still compute 8
  // tokens; the g = 4 partial outputs of each slot are summed at the relaying member.
  Fixture f;
  const TrainingJob job = tiny_job();
  const BuildResult s2 = make_strategy("parm-s2")->build_iteration(job, f.costs);
  s2.graph.validate();
  const auto by = comms_by_name(s2.graph);
  EXPECT_FALSE(by.count("esp.allgather"));
  EXPECT_FALSE(by.count("ep.dispatch"));
  for (const char* name :
       {"parm.dispatch", "parm.combine", "parm.combine.bwd", "parm.dispatch.bwd"}) {
    ASSERT_TRUE(by.count(name)) << name;
    ASSERT_EQ(by.at(name).size(), 1u) << name;
    const CommOp& o = by.at(name).front()->op;
    EXPECT_EQ(o.kind, CommKind::all_to_all_v) << name;
    ASSERT_EQ(o.ranks.size(), 8u) << name;
    ASSERT_NE(o.matrix, nullptr) << name;
    std::int64_t inter_total = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      for (std::size_t j = 0; j < 8; ++j) {
        if (i == j) continue;
        const bool same_node = i / 4 == j / 4;
        const bool same_esp = i % 4 == j % 4;
        const std::int64_t expect = same_node ? 64 : (same_esp ? 32 : 0);
        EXPECT_EQ(o.matrix->at(i, j), expect) << name << " " << i << "->" << j;
        if (!same_node) inter_total += o.matrix->at(i, j);
      }
    }
    // Across the network: 8 ranks x 32 B, once per token (the old unified all-to-all sent g = 4
    // copies: 8 x 4 x 32 B).
    EXPECT_EQ(inter_total, 8 * 32) << name;
  }
  EXPECT_EQ(expert1_tokens(s2.graph, RankId{5}), 8);
  EXPECT_EQ(s2.decisions.at("parm.schedule").name(), "S2");
  EXPECT_EQ(s2.decisions.at("parm.policy").name(), "forced");
}

TEST(Parm, DroplessModelsArePaddedToTheLargestCount) {
  // Like DeepSpeed-MoE, Parm pads a dropless model's dispatch to the largest per-expert count of
  // any replica (C = max), then splits it over the g MP ranks: C' = ceil(C/4); the unified
  // all-to-all sends C' slots of each expert of the destination's node to every member.
  Fixture f;
  ModelSpec m = parm_model();
  m.dropless = true;
  m.seq_len = 64;
  const TrainingJob job =
      make_training_job(m, parse_parallel_layout("tp=4,esp=4,ep=2", "-p"), shape_of(2, 4),
                        GeneratedRouting(RoutingDistribution::zipf, 1.2, 5), 0);
  std::int64_t largest = 0;
  for (std::int64_t src = 0; src < 2; ++src) {
    for (std::int64_t e = 0; e < 2; ++e) largest = std::max(largest, job.routing.at(0, src, e));
  }
  const std::int64_t c_split = (largest + 3) / 4;
  const BuildResult s2 = make_strategy("parm-s2")->build_iteration(job, f.costs);
  s2.graph.validate();
  const CommOp& d = comms_by_name(s2.graph).at("parm.dispatch").front()->op;
  EXPECT_EQ(d.kind, CommKind::all_to_all_v);
  const std::int64_t slot = c_split * 8 * 4;  // C' * M * b
  EXPECT_EQ(d.matrix->at(0, 4), slot);
  EXPECT_EQ(d.matrix->at(0, 5), 0);
  EXPECT_EQ(d.matrix->at(0, 1), 2 * slot);
  EXPECT_EQ(s2.decisions.at("moe.capacity_per_rank").integer(), c_split);
}

// A two-tier network for planner tests: intra-node and inter-node links of different bandwidth,
// no latency; an operation costs max over ranks of max(intra bytes / B_intra, inter bytes /
// B_inter) (its intra and inter parts overlap). Nodes hold 4 ranks. Only estimate() is used.
class TwoTierNetwork final : public network::CommunicationModel {
 public:
  TwoTierNetwork(double intra_bytes_per_ns, double inter_bytes_per_ns)
      : intra_(intra_bytes_per_ns), inter_(inter_bytes_per_ns) {}
  std::string_view name() const override { return "two-tier"; }
  void start(CommId, const CommOp&, SimTime, network::CommCompletionListener&) override {}
  std::optional<SimTime> next_completion(SimTime) const override { return std::nullopt; }
  void advance(SimTime, SimTime) override {}
  SimTime estimate(const CommOp& op) const override {
    const std::size_t n = op.ranks.size();
    const auto node = [&](std::size_t i) { return op.ranks[i].value / 4; };
    bool one_node = true;
    for (std::size_t i = 0; i < n; ++i) one_node = one_node && node(i) == node(0);
    const double rate = one_node ? intra_ : inter_;
    const double s = op.bytes.as_double();
    double ns = 0;
    switch (op.kind) {
      case CommKind::all_gather:
      case CommKind::reduce_scatter:
        ns = s * static_cast<double>(n - 1) / static_cast<double>(n) / rate;
        break;
      case CommKind::all_reduce:
        ns = 2 * s * static_cast<double>(n - 1) / static_cast<double>(n) / rate;
        break;
      case CommKind::all_to_all:
      case CommKind::all_to_all_v:
        for (std::size_t i = 0; i < n; ++i) {
          double in = 0, out = 0;
          for (std::size_t j = 0; j < n; ++j) {
            if (i == j) continue;
            const double b =
                op.kind == CommKind::all_to_all ? s / static_cast<double>(n) : op.matrix->at(i, j);
            (node(i) == node(j) ? in : out) += b;
          }
          ns = std::max({ns, in / intra_, out / inter_});
        }
        break;
      default:
        ns = s / rate;
    }
    return SimTime::from_ns(static_cast<std::int64_t>(ns));
  }

 private:
  double intra_, inter_;
};

TEST(Parm, PlannerPicksS2WhenIntraAndInterNodeTrafficBothMatter) {
  // S' = S_disp/g = 64 B per rank, g = 4, N_EP = 2, per exchange and rank:
  //   S1: EP all-to-all 32 B inter, then ESP all-gather and reduce-scatter 3/4*256 = 192 B
  //       intra each (dependent, so they add up)
  //   S2: unified all-to-all-v, 3*64 = 192 B intra beside 32 B inter (overlapped), plus a local
  //       sum of the g partial outputs: (g+1) * E*C' slots * M * b = 5*2*8*4 = 320 B of memory
  //       traffic, forward and backward.
  // Intra 1 B/ns, inter 0.2 B/ns, memory unbounded: S1 per pass 160 + 192 + 192 + 160 = 704 ns,
  // S2 2 x max(192, 160) = 384 ns -> S2.
  // Intra 1000 B/ns, inter 1 B/ns, memory 1 B/ns: the exchanges cost the same (32 ns of
  // network), S1's ESP collectives are nearly free, S2's sums cost 2 x 320 ns -> S1.
  const TrainingJob job = tiny_job();
  {
    const FixedCosts fixed(1e12);
    TwoTierNetwork net(1.0, 0.2);
    const CostModels costs{fixed.compute, net};
    const BuildResult b = make_strategy("parm")->build_iteration(job, costs);
    EXPECT_EQ(b.decisions.at("parm.schedule").name(), "S2")
        << b.decisions.at("parm.estimate.S1") << " / " << b.decisions.at("parm.estimate.S2");
  }
  {
    const FixedCosts fixed(1e12, 1e9);
    TwoTierNetwork net(1000.0, 1.0);
    const CostModels costs{fixed.compute, net};
    const BuildResult b = make_strategy("parm")->build_iteration(job, costs);
    EXPECT_EQ(b.decisions.at("parm.schedule").name(), "S1")
        << b.decisions.at("parm.estimate.S1") << " / " << b.decisions.at("parm.estimate.S2");
    // Both exchange estimates: 4 passes (dispatch + combine, forward + backward) of 32 B at
    // 1 B/ns = 128 ns.
    EXPECT_NEAR(b.decisions.at("parm.estimate.S1.exchange").number(), 0.128, 0.002)
        << b.decisions.at("parm.estimate.S1");
    EXPECT_NEAR(b.decisions.at("parm.estimate.S2.exchange").number(), 0.128, 0.002)
        << b.decisions.at("parm.estimate.S2");
  }
}

TEST(Parm, RunsOnAnyLayoutAndPipeline) {
  // Without ESP (tp=2, esp=1) PauseMP still splits the tokens and S2's group is the EP group.
  Fixture f;
  ModelSpec m = parm_model();
  m.layers = 4;
  m.moe_layers = MoeLayers::every_other;
  m.experts = 4;
  m.top_k = 2;
  const TrainingJob job =
      make_training_job(m, parse_parallel_layout("tp=2,ep=2,pp=2,mb=2", "-p"), shape_of(2, 4),
                        GeneratedRouting(RoutingDistribution::zipf, 1.0, 1), 0);
  for (const char* name : {"parm", "parm-s1", "parm-s2"}) {
    const BuildResult b = make_strategy(name)->build_iteration(job, f.costs);
    b.graph.validate();
    SimulatedExecutor exec(f.compute, f.network);
    EXPECT_GT(exec.run(b.graph).makespan(), SimTime::zero()) << name;
  }
}

}  // namespace
}  // namespace moesim::strategies
