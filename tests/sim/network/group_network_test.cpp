// The NICs a ring or tree of a collective group reaches (group_network, flow_plan.hpp): each
// member's own NIC, as NCCL's graph of that communicator (NVIDIA/nccl src/graph/topo.cc,
// paths.cc, search.cc; measured: NVIDIA/nccl#1357, one H100 per node with four NICs allowed
// reaches one NIC's busbw). The argmin prices over those NICs and the flow model runs over them,
// so a data-parallel group of one GPU per node is priced at what the executor charges.
// Bands set from the mechanism before the runs: the argmin's price by hand to 0.1% (it is the
// closed form); flow vs argmin within 3% (the flow model shares the links max-min; its stage
// latencies are NCCL's, as the argmin's).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sim/network/flow_network_model.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

using test_support::preset_cluster;

double group_network_flow_us(const Topology& t, const CommOp& op) {
  return FlowNetworkModel(t, CollectiveConfig{}).estimate(op).us();
}

TEST(GroupNetwork, OneGpuPerNodeReachesOneNic) {
  // 4 x DGX H100, tp = 8: the data-parallel group is local rank 0 of every node.
  const Topology h = preset_cluster("dgx-h100", 4);
  const CommOp dp = test_support::comm_op_over(CommKind::all_reduce, {0, 8, 16, 24}, 32 << 20);
  const GroupNetwork net = group_network(h, make_layout(h, dp));
  EXPECT_EQ(net.nics_per_node, 1u);
  const double nic_bps = 50e9 * 0.97;  // one ConnectX-7 NDR port, fabric efficiency 0.97
  EXPECT_NEAR(net.bytes_per_s, nic_bps, 1e-6 * nic_bps);

  // By hand, ring/Simple (LL128 gives 0.92 of it, LL is capped at 39 GB/s across nodes):
  //   2 (n-1)/n S = 1.5 x 32 MiB through one NIC port at 48.5 GB/s = 1037.8 us
  //   latency = start-up 2 + ring base 8.4 + 2 (n-1) = 6 network steps x 14 us = 94.4 us
  const double s = 32 << 20;
  const double expected_us = 2.0 + 8.4 + 6 * 14.0 + 1.5 * s / nic_bps * 1e6;
  const std::vector<AlgoTime> candidates = nccl_candidates(h, dp, CollectiveConfig{});
  const auto simple = std::find_if(candidates.begin(), candidates.end(), [](const AlgoTime& a) {
    return a.algorithm == Algorithm::ring && a.protocol == Protocol::simple;
  });
  ASSERT_NE(simple, candidates.end());
  EXPECT_NEAR(simple->time_us, expected_us, 1e-3 * expected_us);
  // NCCL ranks ring/Simple across nodes at 1.4 x its latency (Hopper, nccl_choice_corrections.hpp):
  // 129 us + 1038 us against ring/LL128's 38 us + 1128 us, so LL128 is the choice by 1 us.
  const AlgoTime& best = candidates.front();
  EXPECT_EQ(best.algorithm, Algorithm::ring);
  EXPECT_EQ(best.protocol, Protocol::ll128);
  // Before: the argmin priced all eight NICs of the node (181 us, ring/LL128) while the flow
  // model ran one (1181 us).
  const double flow_us = group_network_flow_us(h, dp);
  EXPECT_NEAR(flow_us, best.time_us, 0.03 * best.time_us);
}

TEST(GroupNetwork, FullNodesKeepTheWholeNetwork) {
  // Eight GPUs per node reach all eight NICs: the node's whole network, as before.
  const Topology h = preset_cluster("dgx-h100", 4);
  std::vector<std::uint32_t> all(32);
  for (std::uint32_t r = 0; r < 32; ++r) all[r] = r;
  const CommOp op = test_support::comm_op_over(CommKind::all_reduce, all, 32 << 20);
  const GroupLayout layout = make_layout(h, op);
  const GroupNetwork net = group_network(h, layout);
  EXPECT_EQ(net.nics_per_node, 8u);
  EXPECT_DOUBLE_EQ(net.bytes_per_s, h.node_network_capacity(0).bytes_per_s);
  EXPECT_DOUBLE_EQ(group_bandwidth(h, layout).node_net_bps, h.node_network_capacity(0).bytes_per_s);
  EXPECT_EQ(network_channels(h, layout), 8);
}

TEST(GroupNetwork, TwoGpusPerNodeReachTwoNics) {
  // Local ranks 0 and 4 of two DGX H100 nodes: two NICs, a quarter of the node, in both models.
  // On one switch, which isolates the NIC count from the fabric (the ring's node-crossing hops
  // now stay on one rail on a rail-optimized fabric too: flow_ring_rails_test.cpp).
  ClusterSpec spec;
  spec.nodes = 2;
  spec.fabric = Fabric::single_switch;
  const Topology h =
      generate_cluster(io::load_topology(testing::source_path("topologies/dgx-h100.json")), spec);
  const CommOp op = test_support::comm_op_over(CommKind::all_reduce, {0, 4, 8, 12}, 64 << 20);
  const GroupLayout layout = make_layout(h, op);
  const GroupNetwork net = group_network(h, layout);
  EXPECT_EQ(net.nics_per_node, 2u);
  const double two_nics_bps = 2 * 50e9 * 0.97;
  EXPECT_NEAR(net.bytes_per_s, two_nics_bps, 1e-6 * two_nics_bps);
  EXPECT_EQ(network_channels(h, layout), 2);
  // By hand, ring/Simple: 1.5 x 64 MiB over two ports (97 GB/s) = 1037.8 us, plus start-up 2,
  // base 8.4 and 2 network steps x 14 us (two nodes; the NVLink hops cost the network's post
  // overhead, below NET's 14 us) inside the steps: NCCL's latency model of n = 4 ranks.
  CollectiveConfig ring_only;
  ring_only.algorithm = CollectiveConfig::Choice::ring;
  const double priced_us = nccl_best(h, op, ring_only).time_us;
  const double bandwidth_us = 1.5 * (64 << 20) / two_nics_bps * 1e6;
  EXPECT_GT(priced_us, bandwidth_us);
  EXPECT_LT(priced_us, bandwidth_us + 100.0);
  // The flow ring runs the same two NICs, and its steps' latencies sum to NCCL's ring latency
  // (ring.cpp: 2 network + 4 intra-node steps, as the argmin), so it costs the argmin's price.
  // (Before, every step waited the network's 14 us: 2 + 8.4 + 6 x 14 + 1037.8 us, +4%.)
  const double flow_us = FlowNetworkModel(h, ring_only).estimate(op).us();
  EXPECT_NEAR(flow_us, priced_us, 0.03 * priced_us);
}

}  // namespace
}  // namespace moesim::network
