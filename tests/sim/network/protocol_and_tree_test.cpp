// Two rules of NCCL's all-reduce the network models follow, with hand-computed expectations:
//  - LL128 only where NCCL enables it by default (NVIDIA/nccl src/graph/tuning.cc,
//    ncclTopoTuneModel: intra-node hops NVLink only, PATH_NVB or better, and every GPU's way to
//    its NIC through PCIe switches only, PATH_PXB or better); GroupBandwidth::ll128_paths.
//  - The flow model's tree all-reduce charges what the argmin priced it at: S / (0.46 f B) over
//    the node's whole network (one tree pair per NIC), plus NCCL's tree latencies.
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

// Local rank 0 of every node (a data-parallel group of one GPU per node).
std::vector<std::uint32_t> protocol_test_first_gpus(const Topology& t) {
  std::vector<std::uint32_t> out;
  for (std::size_t n = 0; n < t.node_count(); ++n) {
    out.push_back(static_cast<std::uint32_t>(n * t.gpus_per_node()));
  }
  return out;
}

std::vector<std::uint32_t> protocol_test_range(std::uint32_t count) {
  std::vector<std::uint32_t> out(count);
  for (std::uint32_t r = 0; r < count; ++r) out[r] = r;
  return out;
}

bool offers_ll128(const Topology& t, const CommOp& op) {
  const std::vector<AlgoTime> c = nccl_candidates(t, op, CollectiveConfig{});
  return std::any_of(c.begin(), c.end(),
                     [](const AlgoTime& a) { return a.protocol == Protocol::ll128; });
}

TEST(Ll128Rule, OffWhereTheNicHangsOffTheCpuOrGpusTalkOverPcie) {
  // Testbed-B (FSMoE): GPUs and NIC on the CPU's root ports, GPU -> NIC is PATH_PHB.
  const Topology b = preset_cluster("pcie3-4gpu-100g", 8);
  const CommOp dp =
      test_support::comm_op_over(CommKind::all_reduce, protocol_test_first_gpus(b), 4 << 20);
  EXPECT_FALSE(group_bandwidth(b, make_layout(b, dp)).ll128_paths);
  EXPECT_FALSE(offers_ll128(b, dp));
  // Inside an A6000 node the GPUs talk over SHM (PCIe through host memory): above PATH_NVB.
  const Topology a = preset_cluster("a6000-8gpu", 1);
  EXPECT_FALSE(offers_ll128(
      a, test_support::comm_op_over(CommKind::all_reduce, protocol_test_range(8), 4 << 20)));
  // Without LL128 the argmin falls back to LL or Simple, never an LL128 it cannot run.
  const AlgoTime best = nccl_best(b, dp, CollectiveConfig{});
  EXPECT_NE(best.protocol, Protocol::ll128);
}

TEST(Ll128Rule, OnOverNvlinkAndNicsBehindPcieSwitches) {
  // DGX H100: NVSwitch inside the node, each NIC behind the GPU's PCIe switch (PATH_PXB).
  const Topology h = preset_cluster("dgx-h100", 4);
  const CommOp all =
      test_support::comm_op_over(CommKind::all_reduce, protocol_test_range(32), 32 << 20);
  EXPECT_TRUE(group_bandwidth(h, make_layout(h, all)).ll128_paths);
  EXPECT_TRUE(offers_ll128(h, all));
  EXPECT_TRUE(offers_ll128(
      h, test_support::comm_op_over(CommKind::all_reduce, protocol_test_range(8), 32 << 20)));
}

// Flow-model time of `op` alone, with the algorithm forced.
double protocol_test_flow_us(const Topology& t, const CommOp& op, CollectiveConfig::Choice algo) {
  CollectiveConfig cfg;
  cfg.algorithm = algo;
  return FlowNetworkModel(t, cfg).estimate(op).us();
}

TEST(TreeAllReduce, FlowChargesWhatTheArgminPriced) {
  // Testbed-B, 8 nodes, one GPU per node, 4 MiB, tree/Simple. By hand:
  //   latency  = start-up 2 + base 8.4 + 2 x (0 intra hops + log2(8) = 3 x NET/Simple 14) = 94.4 us
  //   per phase a GPU receives two halves (its children's, in the one tree where it is inner)
  //   and sends two (one to each tree's parent), each S/2 / 0.92: S / 0.92 per phase and
  //   direction, two phases, through the slowest link on the way to the NIC (PCIe 3.0 x16:
  //   15.75 GB/s x 0.762).
  const Topology b = preset_cluster("pcie3-4gpu-100g", 8);
  const double s = 4 << 20;
  const CommOp dp =
      test_support::comm_op_over(CommKind::all_reduce, protocol_test_first_gpus(b), 4 << 20);
  const double pcie_bps = 15.75e9 * 0.762;
  const double expected_us = 94.4 + 2.0 * (s / 0.92) / pcie_bps * 1e6;
  const double flow_us = protocol_test_flow_us(b, dp, CollectiveConfig::Choice::tree);
  EXPECT_NEAR(flow_us, expected_us, 0.01 * expected_us);  // + the links' own latencies
  // The argmin's price of the same tree (node network = the NIC port, a little above PCIe).
  CollectiveConfig tree_only;
  tree_only.algorithm = CollectiveConfig::Choice::tree;
  double priced_us = 0;
  for (const AlgoTime& a : nccl_candidates(b, dp, tree_only)) {
    if (a.protocol == Protocol::simple) priced_us = a.time_us;
  }
  EXPECT_NEAR(flow_us, priced_us, 0.03 * priced_us);
}

TEST(TreeAllReduce, OneTreePairPerNicAcrossDgxNodes) {
  // 4 x DGX H100, 32 MiB over all 32 GPUs, tree: 8 NICs per node carry an eighth each, so the
  // flow model's time is the argmin's (within the NVLink chain's share and link latencies), not
  // eight times it through the node's first NIC.
  const Topology h = preset_cluster("dgx-h100", 4);
  const CommOp all =
      test_support::comm_op_over(CommKind::all_reduce, protocol_test_range(32), 32 << 20);
  CollectiveConfig tree_only;
  tree_only.algorithm = CollectiveConfig::Choice::tree;
  const AlgoTime priced = nccl_best(h, all, tree_only);
  const double flow_us = protocol_test_flow_us(h, all, CollectiveConfig::Choice::tree);
  EXPECT_NEAR(flow_us, priced.time_us, 0.05 * priced.time_us);
}

TEST(TreeAllReduce, LevelsOffPowersOfTwo) {
  // 6 nodes, one GPU each, 8 KiB (latency-bound): NCCL's binary tree over 6 nodes is
  // ceil(log2 6) = 3 levels deep (src/graph/trees.cc: 0 -> 4 -> 2 -> 1), which the flow
  // lowering runs and the argmin charges; tuning.cc's model counts log2i(6) = 2, which only
  // chooses. Charged and model also differ by the choice's bandwidth correction
  // (treeCorrectionFactor), the same on 8 nodes, where both counts are 3 levels: the difference
  // of the two gaps is 2 phases x 1 level x hwLat[NET][Tree][LL].
  const Topology b = preset_cluster("pcie3-4gpu-100g", 6);
  const CommOp dp =
      test_support::comm_op_over(CommKind::all_reduce, protocol_test_first_gpus(b), 8 << 10);
  CollectiveConfig tree_only;
  tree_only.algorithm = CollectiveConfig::Choice::tree;
  const NcclTuning t;
  for (const AlgoTime& a : nccl_candidates(b, dp, tree_only)) {
    if (a.protocol != Protocol::ll) continue;
    const double gap = a.time_us - a.model_us;  // charged minus NCCL's model
    const double level = t.hw(LinkClass::net, Algorithm::tree, Protocol::ll);
    const Topology b8 = preset_cluster("pcie3-4gpu-100g", 8);
    const CommOp dp8 =
        test_support::comm_op_over(CommKind::all_reduce, protocol_test_first_gpus(b8), 8 << 10);
    for (const AlgoTime& a8 : nccl_candidates(b8, dp8, tree_only)) {
      if (a8.protocol != Protocol::ll) continue;
      EXPECT_NEAR(gap - (a8.time_us - a8.model_us), 2.0 * level, 1e-6);
    }
  }
  EXPECT_NEAR(protocol_test_flow_us(b, dp, CollectiveConfig::Choice::tree),
              nccl_best(b, dp, tree_only).time_us, 0.05 * nccl_best(b, dp, tree_only).time_us);
}

}  // namespace
}  // namespace moesim::network
