// Lone multi-node rings where a node's GPUs share one NIC: flow and planner agree.
// NCCL's ring search (NVIDIA/nccl src/graph/search.cc) builds NET -> GPU a -> ... -> GPU x -> NET
// with the GPU-NIC paths scored by bandwidth, so on aws-p3dn (one NIC on socket 0) the ring
// enters and leaves each node through socket-0 GPUs, never across the 6 GB/s inter-socket link
// (channel_entries, ChannelExit::predecessor). On pcie3-4gpu-100g (no PCIe P2P, SHM through host
// memory) a node holds a path of its 4 GPUs, 3 SHM hops, not the 4 of a closed one-node cycle
// (nccl_cost_model.cpp group_bandwidth).
// Band, set from the mechanism before the runs: flow vs the planner within 3% (the same
// bottleneck at the same rate in both: the NIC / PCIe path on aws-p3dn, the host-memory port on
// pcie3-4gpu-100g; left is max-min sharing of secondary links, as flow_ring_rails_test.cpp).
// Before: aws-p3dn 21105 us flow vs 10511 us planned; pcie3-4gpu-100g 18175 vs 24197 us.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

CommOp nic_path_test_all_ranks(const Topology& t) {
  std::vector<std::uint32_t> ranks(t.gpu_count());
  for (std::uint32_t r = 0; r < ranks.size(); ++r) ranks[r] = r;
  return test_support::comm_op_over(CommKind::all_reduce, ranks, 64 << 20);
}

// Whether the route from src to dst crosses a CPU-to-CPU link before it leaves the node.
bool nic_path_test_crosses_sockets(const Topology& t, std::uint32_t src, std::uint32_t dst) {
  for (DirectedLinkId d : t.route(RankId{src}, RankId{dst})) {
    if (t.link_of(d).spec.kind == LinkKind::network) return false;
    if (t.link_of(d).spec.kind == LinkKind::cpu) return true;
  }
  return false;
}

TEST(FlowRingNicPath, LoneTwoNodeAllReduceMatchesThePlanner) {
  for (const std::string preset : {"aws-p3dn", "pcie3-4gpu-100g"}) {
    for (CollectiveConfig::Choice choice :
         {CollectiveConfig::Choice::automatic, CollectiveConfig::Choice::ring}) {
      SCOPED_TRACE(preset + (choice == CollectiveConfig::Choice::ring ? " ring" : " auto"));
      const Topology t = test_support::preset_cluster(preset, 2);
      const CommOp op = nic_path_test_all_ranks(t);
      CollectiveConfig cfg;
      cfg.algorithm = choice;
      const double planned_us = nccl_best(t, op, cfg).time_us;
      const double flow_us = FlowNetworkModel(t, cfg).estimate(op).us();
      EXPECT_NEAR(flow_us, planned_us, 0.03 * planned_us);
    }
  }
}

TEST(FlowRingNicPath, RingEntersAndLeavesOnTheNicsSocket) {
  const Topology p = test_support::preset_cluster("aws-p3dn", 2);
  const CommOp op = nic_path_test_all_ranks(p);
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::ring;
  const FlowPlan plan = lower_ring(p, op, cfg, Protocol::simple);
  ASSERT_FALSE(plan.stages.empty());
  std::size_t crossing = 0;
  for (const FlowSpec& f : plan.stages.front().flows) {
    if (p.node_of(RankId{f.src}) == p.node_of(RankId{f.dst})) continue;
    ++crossing;
    EXPECT_FALSE(nic_path_test_crosses_sockets(p, f.src, f.dst));  // the exit GPU's way out
    EXPECT_FALSE(nic_path_test_crosses_sockets(p, f.dst, f.src));  // the entry GPU's way in
  }
  EXPECT_EQ(crossing, 2u);
}

}  // namespace
}  // namespace moesim::network
