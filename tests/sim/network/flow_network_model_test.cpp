// Hand-computed max-min cases first (expectations in the comments), then the flow model on
// small topologies and the collectives on presets.
#include "sim/network/flow_network_model.hpp"

#include <gtest/gtest.h>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/max_min_solver.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

struct Recorder final : CommCompletionListener {
  std::vector<std::pair<CommId, SimTime>> done;
  void on_comm_complete(CommId id, SimTime at) override { done.emplace_back(id, at); }
};

std::vector<double> solve(const std::vector<double>& cap,
                          const std::vector<std::vector<std::uint32_t>>& routes) {
  std::vector<std::uint32_t> begin, links;
  std::vector<std::uint16_t> len;
  for (const auto& r : routes) {
    begin.push_back(static_cast<std::uint32_t>(links.size()));
    len.push_back(static_cast<std::uint16_t>(r.size()));
    links.insert(links.end(), r.begin(), r.end());
  }
  std::vector<double> rate(routes.size());
  MaxMinSolver s;
  s.solve(cap, begin, len, links, rate);
  return rate;
}

TEST(MaxMinSolver, TwoFlowsOnOneLinkSplitItEvenly) {
  // One link of 100; two flows through it: 50 each.
  EXPECT_EQ(solve({100}, {{0}, {0}}), (std::vector<double>{50, 50}));
}

TEST(MaxMinSolver, FlowBottleneckedElsewhereLeavesTheRestToOthers) {
  // Links: 0 cap 10, 1 cap 100. A uses 0 and 1; B and C use 1.
  // Shares: link 0 10/1 = 10, link 1 100/3 = 33.3 -> link 0 first: A = 10.
  // Link 1 then has 90 for B and C: 45 each. Link 1 is saturated: 10 + 45 + 45 = 100.
  EXPECT_EQ(solve({10, 100}, {{0, 1}, {1}, {1}}), (std::vector<double>{10, 45, 45}));
}

TEST(MaxMinSolver, IncastSharesTheReceiversLink) {
  // Three senders (uplinks 0, 1, 2 of 100) into one receiver link 3 of 90: 30 each.
  EXPECT_EQ(solve({100, 100, 100, 90}, {{0, 3}, {1, 3}, {2, 3}}),
            (std::vector<double>{30, 30, 30}));
}

TEST(MaxMinSolver, ThreeLevelsOfBottlenecks) {
  // Links 0 (cap 12), 1 (cap 30), 2 (cap 100). Flows: a{0}, b{0,1}, c{1,2}, d{2}, e{2}.
  // Round 1: shares 6, 15, 33.3 -> link 0: a = b = 6.  Link 1: 30 - 6 = 24 left for c alone,
  // share 24; link 2: 100/3 -> link 1 next: c = 24. Link 2: 76 for d, e: 38 each.
  EXPECT_EQ(solve({12, 30, 100}, {{0}, {0, 1}, {1, 2}, {2}, {2}}),
            (std::vector<double>{6, 6, 24, 38, 38}));
}

// g0, g1 on an NVSwitch (NVLink 100 GB/s each); the NVSwitch reaches nic0 (PCIe 100), two
// InfiniBand hops nic0 - ib - nic1 (25 GB/s each, 1 us latency each), nic1 - g2 (PCIe 100) in
// node 1. Everything else 0 latency, efficiency 1.
Topology nvswitch_and_ib() {
  Topology t("test", "h100");
  const auto g0 = t.add_device({"g0", DeviceKind::gpu, 0, 0});
  const auto g1 = t.add_device({"g1", DeviceKind::gpu, 0, 0});
  const auto sw = t.add_device({"sw", DeviceKind::nvswitch, 0, 0});
  const auto nic0 = t.add_device({"nic0", DeviceKind::nic, 0, 0});
  const auto g2 = t.add_device({"g2", DeviceKind::gpu, 1, 0});
  const auto g3 = t.add_device({"g3", DeviceKind::gpu, 1, 0});
  const auto nic1 = t.add_device({"nic1", DeviceKind::nic, 1, 0});
  const auto ib = t.add_device({"ib", DeviceKind::leaf_switch, -1, 0});
  auto spec = [](LinkKind k, double gbps, double lat_us) {
    return LinkSpec{k, Bandwidth::from_gbps(gbps), 1.0, SimTime::from_us(lat_us)};
  };
  t.add_link(g0, sw, spec(LinkKind::nvlink, 100, 0));
  t.add_link(g1, sw, spec(LinkKind::nvlink, 100, 0));
  t.add_link(sw, nic0, spec(LinkKind::pcie, 100, 0));
  t.add_link(nic0, ib, spec(LinkKind::network, 25, 1));
  t.add_link(ib, nic1, spec(LinkKind::network, 25, 1));
  t.add_link(nic1, g2, spec(LinkKind::pcie, 100, 0));
  t.add_link(nic1, g3, spec(LinkKind::pcie, 100, 0));
  t.finalize();
  return t;
}

FlowPlan one_stage(std::vector<FlowSpec> flows) {
  FlowPlan p;
  p.stages.push_back(Stage{SimTime::zero(), std::move(flows)});
  return p;
}

SimTime run_to_end(FlowNetworkModel& m) {
  SimTime now;
  while (auto t = m.next_completion(now)) {
    m.advance(now, *t);
    now = *t;
  }
  return now;
}

TEST(FlowNetworkModel, RouteThroughNvSwitchAndTwoIbHops) {
  const Topology t = nvswitch_and_ib();
  // Route g0 -> g2: g0 > sw > nic0 > ib > nic1 > g2 (NVSwitch, then two IB hops).
  ASSERT_EQ(t.route(RankId{0}, RankId{2}).size(), 5u);
  FlowNetworkModel m(t);
  Recorder rec;
  // A: g0->g2 and B: g1->g2 share both IB links (25): 12.5 GB/s each.
  // C: g0->g1 shares g0's NVLink with A: 100 - 12.5 = 87.5 GB/s.
  // C ends at 1e9 / 87.5e9 s = 11428571428.57 ps -> 11428571429 ps (rounded up); A and B stay
  // at 12.5 (the IB bottleneck is unchanged) and end at 1e9 / 12.5e9 = 80 ms, then arrive
  // 2 us later (two IB hops of 1 us).
  m.start_plan(CommId{0}, one_stage({{0, 2, 1e9, Segment::full}, {1, 2, 1e9, Segment::full}}),
               SimTime::zero(), rec);
  m.start_plan(CommId{1}, one_stage({{0, 1, 1e9, Segment::full}}), SimTime::zero(), rec);
  run_to_end(m);
  ASSERT_EQ(rec.done.size(), 2u);
  EXPECT_EQ(rec.done[0].first, CommId{1});
  EXPECT_EQ(rec.done[0].second, SimTime::from_ps(11428571429));
  EXPECT_EQ(rec.done[1].first, CommId{0});
  EXPECT_EQ(rec.done[1].second, SimTime::from_ms(80) + SimTime::from_us(2));
  // Conservation: every byte started was delivered.
  EXPECT_NEAR(m.bytes_delivered(), m.bytes_started(), 1e-3);
  EXPECT_DOUBLE_EQ(m.bytes_started(), 3e9);
  EXPECT_EQ(m.active_flows(), 0u);
}

TEST(FlowNetworkModel, FreedBandwidthGoesToTheRemainingFlow) {
  const Topology t = nvswitch_and_ib();
  FlowNetworkModel m(t);
  Recorder rec;
  // Two flows g0->g1 (0.5 GB and 1 GB) share g0's 100 GB/s NVLink: 50 each. The small one ends at
  // 10 ms; the big one has 0.5 GB left and then runs alone at 100: 5 ms more -> 15 ms.
  m.start_plan(CommId{0}, one_stage({{0, 1, 0.5e9, Segment::full}}), SimTime::zero(), rec);
  m.start_plan(CommId{1}, one_stage({{0, 1, 1e9, Segment::full}}), SimTime::zero(), rec);
  run_to_end(m);
  ASSERT_EQ(rec.done.size(), 2u);
  EXPECT_EQ(rec.done[0].second, SimTime::from_ms(10));
  EXPECT_EQ(rec.done[1].second, SimTime::from_ms(15));
  EXPECT_GE(m.recomputations(), 2u);
}

TEST(FlowNetworkModel, StagesRunInSequenceWithTheirLatency) {
  const Topology t = nvswitch_and_ib();
  FlowNetworkModel m(t);
  Recorder rec;
  // Stage 0 after 5 us: 1 GB g0->g1 at 100 GB/s = 10 ms. Stage 1 3 us later: same again.
  FlowPlan p;
  p.stages.push_back(Stage{SimTime::from_us(5), {{0, 1, 1e9, Segment::full}}});
  p.stages.push_back(Stage{SimTime::from_us(3), {{1, 0, 1e9, Segment::full}}});
  m.start_plan(CommId{7}, std::move(p), SimTime::from_us(1), rec);
  run_to_end(m);
  ASSERT_EQ(rec.done.size(), 1u);
  EXPECT_EQ(rec.done[0].second, SimTime::from_us(1 + 5 + 10000 + 3 + 10000));
}

Topology preset(const std::string& name) {
  return io::load_topology(testing::source_path("topologies/" + name + ".json"));
}

CommOp op_of(CommKind kind, std::uint32_t first, std::uint32_t n, Bytes bytes) {
  CommOp op;
  op.kind = kind;
  op.bytes = bytes;
  for (std::uint32_t r = first; r < first + n; ++r) op.ranks.push_back(RankId{r});
  op.root = op.ranks.front();
  return op;
}

TEST(Collectives, RingAllReduceOnNvSwitchMovesTwoNMinusOneOverNOfTheBuffer) {
  const Topology t = preset("dgx-h100");
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::ring;
  const CommOp op = op_of(CommKind::all_reduce, 0, 8, gib(1));
  const FlowPlan plan = lower_collective(t, op, cfg);
  // 2(n-1) = 14 steps of 8 flows (one channel inside a node), each S/8.
  ASSERT_EQ(plan.stages.size(), 14u);
  EXPECT_EQ(plan.stages[0].flows.size(), 8u);
  EXPECT_DOUBLE_EQ(plan.stages[0].flows[0].bytes, gib(1).as_double() / 8);
  // Each GPU link carries one flow per direction at 450 * 0.822 = 369.9 GB/s:
  // 14 * (S/8) / 369.9e9 s = 5.0797 ms, plus 14 step latencies (3.4 us Simple NVLink) and the
  // base 8.4 us and the start-up (NcclTuning::startup_us, 2 us). No route latencies (2 x 150 ns
  // a step through the NVSwitch): NCCL's step latency holds them (FlowPlan::adds_link_latency).
  EXPECT_FALSE(plan.adds_link_latency);
  FlowNetworkModel m(t, cfg);
  const double expect_us = 14.0 * gib(1).as_double() / 8 / 369.9e9 * 1e6 + 14 * 3.4 + 8.4 + 2.0;
  EXPECT_NEAR(m.estimate(op).us(), expect_us, 0.01);
}

TEST(Collectives, AllToAllIsConcurrentPointToPoint) {
  const Topology t = preset("dgx-h100");
  const CommOp op = op_of(CommKind::all_to_all, 0, 8, mib(8));
  const FlowPlan plan = lower_collective(t, op, {});
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].flows.size(), 56u);  // 8 x 7 pairs, 1 MiB each
  // Each GPU sends 7 MiB out of its NVLink at 369.9 GB/s.
  FlowNetworkModel m(t);
  EXPECT_NEAR(m.estimate(op).us(), 7.0 * 1048576 / 369.9e9 * 1e6 + 3.4 + 2.0, 0.01);
}

TEST(Collectives, HierarchicalAllToAllAggregatesByLocalRank) {
  ClusterSpec spec;
  spec.nodes = 2;
  const Topology t = generate_cluster(preset("dgx-h100"), spec);
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::hierarchical;
  const CommOp op = op_of(CommKind::all_to_all, 0, 16, mib(16));
  const FlowPlan plan = lower_collective(t, op, cfg);
  ASSERT_EQ(plan.stages.size(), 2u);
  // Stage 1: 2 nodes x 8 x 7 intra pairs, each forwarding 2 blocks (one per node) of 1 MiB.
  EXPECT_EQ(plan.stages[0].flows.size(), 112u);
  EXPECT_DOUBLE_EQ(plan.stages[0].flows[0].bytes, 2.0 * 1048576);
  // Stage 2: same local rank across the 2 nodes: 2 x 8 flows of 8 blocks.
  EXPECT_EQ(plan.stages[1].flows.size(), 16u);
  EXPECT_DOUBLE_EQ(plan.stages[1].flows[0].bytes, 8.0 * 1048576);
  for (const FlowSpec& f : plan.stages[1].flows) {
    EXPECT_EQ(t.local_rank(RankId{f.src}), t.local_rank(RankId{f.dst}));
  }
}

TEST(Collectives, EveryOpCompletesAndConservesBytesOnATwoNodeCluster) {
  ClusterSpec spec;
  spec.nodes = 2;
  const Topology t = generate_cluster(preset("dgx-a100"), spec);
  for (CommKind kind :
       {CommKind::all_reduce, CommKind::all_gather, CommKind::reduce_scatter, CommKind::all_to_all,
        CommKind::broadcast, CommKind::reduce, CommKind::send_recv}) {
    SCOPED_TRACE(std::string(to_string(kind)));
    const CommOp op =
        kind == CommKind::send_recv ? op_of(kind, 3, 2, mib(64)) : op_of(kind, 0, 16, mib(64));
    FlowNetworkModel m(t);
    Recorder rec;
    m.start(CommId{1}, op, SimTime::zero(), rec);
    run_to_end(m);
    ASSERT_EQ(rec.done.size(), 1u);
    EXPECT_GT(rec.done[0].second, SimTime::zero());
    EXPECT_NEAR(m.bytes_delivered(), m.bytes_started(), m.bytes_started() * 1e-9);
  }
  // A TP group of 4 inside node 1 and an EP group of the same local rank across nodes.
  FlowNetworkModel m(t);
  Recorder rec;
  CommOp ep;
  ep.kind = CommKind::all_to_all;
  ep.bytes = mib(2);
  ep.ranks = {RankId{2}, RankId{10}};
  m.start(CommId{1}, op_of(CommKind::all_reduce, 8, 4, mib(32)), SimTime::zero(), rec);
  m.start(CommId{2}, ep, SimTime::zero(), rec);
  run_to_end(m);
  EXPECT_EQ(rec.done.size(), 2u);
}

TEST(Collectives, AllToAllVFollowsTheMatrix) {
  const Topology t = preset("dgx-h100");
  auto matrix = std::make_shared<ByteMatrix>(2);
  // Rank 0 sends 369.9 MB to rank 1, nothing back: 369.9e6 / 369.9e9 = 1 ms.
  matrix->set(0, 1, 369900000);
  CommOp op;
  op.kind = CommKind::all_to_all_v;
  op.ranks = {RankId{0}, RankId{1}};
  op.matrix = matrix;
  op.bytes = all_to_all_v_size(*matrix);
  FlowNetworkModel m(t);
  EXPECT_NEAR(m.estimate(op).us(), 1000.0 + 3.4 + 2.0, 1e-6);  // + start-up 2 us
}

}  // namespace
}  // namespace moesim::network
