// Lone broadcast and reduce across nodes: the flow lowering and the planner agree.
// NCCL runs both as a pipelined chain along the ring of every channel, the buffer split over
// the channels (NVIDIA/nccl src/device/broadcast.h, reduce.h: runRing, one chain per channel),
// and a multi-node ring graph gives each channel its own NIC (src/graph/search.cc), so the
// chains together use every rail the group reaches; the planner prices the same channels
// (nccl_cost_model.cpp, CollectiveLowering::rooted_chain).
// Band, set from the mechanism before the runs: flow vs the planner within 3% (the same chain
// latency in both, the same bottleneck, the NICs or NVLink, at the same rate; left is max-min
// sharing of secondary links, as flow_ring_rails_test.cpp).
// Before (one chain on one channel over one NIC): 2 x dgx-h100, 64 MiB broadcast 1551 us flow
// vs 244 us planned.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/nccl_ring_latency.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

TEST(FlowRootedChain, LoneBroadcastAndReduceAgreeWithThePlanner) {
  for (const std::string preset : {"dgx-h100", "dgx-a100", "aws-p4de"}) {
    for (std::size_t nodes : {1u, 2u, 4u}) {
      const Topology t = test_support::preset_cluster(preset, nodes);
      std::vector<std::uint32_t> ranks(t.gpu_count());
      for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
      for (CommKind kind : {CommKind::broadcast, CommKind::reduce}) {
        for (std::int64_t bytes :
             {std::int64_t{1} << 20, std::int64_t{16} << 20, std::int64_t{256} << 20}) {
          SCOPED_TRACE(preset + " x" + std::to_string(nodes) +
                       (kind == CommKind::broadcast ? " broadcast " : " reduce ") +
                       std::to_string(bytes));
          CommOp op = test_support::comm_op_over(kind, ranks, bytes);
          op.root = RankId{3};  // not a node's first GPU: the chain wraps around the ring
          const CollectiveConfig cfg;
          const AlgoTime best = nccl_best(t, op, cfg);
          // LL included: both models charge NCCL's LL ceiling (Stage::min_transfer).
          const double planned_us = best.time_us;
          const double flow_us = FlowNetworkModel(t, cfg).estimate(op).us();
          EXPECT_NEAR(flow_us, planned_us, 0.03 * planned_us);
        }
      }
    }
  }
}

// Across nodes the chains leave every node through every NIC the group reaches: one channel
// per NIC, each on its own rail.
TEST(FlowRootedChain, ChainsUseEveryNic) {
  const Topology t = test_support::preset_cluster("dgx-h100", 2);
  std::vector<std::uint32_t> ranks(t.gpu_count());
  for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
  CommOp op = test_support::comm_op_over(CommKind::broadcast, ranks, std::int64_t{64} << 20);
  const FlowPlan plan = lower_broadcast(t, op, CollectiveConfig{}, Protocol::simple);
  ASSERT_EQ(plan.stages.size(), 1u);
  std::size_t crossing = 0;
  for (const FlowSpec& f : plan.stages.front().flows) {
    if (t.node_of(RankId{f.src}) != t.node_of(RankId{f.dst})) ++crossing;
  }
  // 8 channels; the root (rank 0) enters its node first on channel 0 only: 1 network hop there,
  // 2 on the other 7 (out of the root's node and back into it).
  EXPECT_EQ(crossing, 1u + 2u * 7u);
}

}  // namespace
}  // namespace moesim::network

namespace moesim::network {
namespace {

// NCCL chooses a broadcast's protocol by its own latency, baseLat + one hwLat when the ring
// graph's channels repeat one GPU order (sameChannels) and nRanks of them otherwise (Simple's
// from the tree), hw = NET across nodes (tuning.cc, 2.17 - 2.29); the chain's hops are charged.
// By hand: model - charged = (base + k x step) - ring latency over n - 1 steps.
TEST(RootedChainChoice, NcclsOwnLatencyChooses) {
  const NcclTuning t;
  struct Case {
    const char* preset;
    std::size_t nodes;
    bool same_channels;  // one NIC per node: one GPU order; eight: one per NIC
  };
  for (const Case c : {Case{"pcie3-4gpu-100g", 2, true}, Case{"dgx-h100", 2, false}}) {
    const Topology topo = test_support::preset_cluster(c.preset, c.nodes);
    std::vector<std::uint32_t> ranks(topo.gpu_count());
    for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
    const CommOp op = test_support::comm_op_over(CommKind::broadcast, ranks, 1 << 20);
    const std::size_t n = ranks.size();
    const GroupBandwidth bw = group_bandwidth(topo, make_layout(topo, op));
    EXPECT_EQ(bw.same_channels, c.same_channels) << c.preset;
    for (const AlgoTime& a : nccl_candidates(topo, op, CollectiveConfig{})) {
      SCOPED_TRACE(std::string(c.preset) + " " + std::string(to_string(a.protocol)));
      const Protocol p = a.protocol;
      const double step = !c.same_channels && p == Protocol::simple
                              ? t.hw(LinkClass::net, Algorithm::tree, p)
                              : t.hw(LinkClass::net, Algorithm::ring, p);
      const double model_lat =
          t.base(Algorithm::ring, p) + (c.same_channels ? 1.0 : static_cast<double>(n)) * step;
      const double charged_lat =
          nccl_ring_latency(t, NcclRelease{}, p,
                            RingLatencyShape{n - 1, c.nodes, false, bw.intra_class, false})
              .charged_us();
      EXPECT_NEAR(a.model_us - a.time_us, model_lat - charged_lat, 1e-6);
    }
  }
}

}  // namespace
}  // namespace moesim::network
