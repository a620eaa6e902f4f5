// NCCL's per-size refinements of its argmin (NVIDIA/nccl src/graph/tuning.cc,
// ncclTopoGetAlgoTime; nccl_choice_corrections.hpp): they rank the candidates and leave the
// charged time alone.
#include <gtest/gtest.h>

#include <vector>

#include "sim/network/nccl_cost_model.hpp"
#include "tests/sim/network/comm_op_over.hpp"
#include "tests/sim/network/preset_cluster.hpp"

namespace moesim::network {
namespace {

// Local rank 0 of every node (a data-parallel group of one GPU per node).
std::vector<std::uint32_t> choice_test_first_gpus(const Topology& t) {
  std::vector<std::uint32_t> out;
  for (std::size_t n = 0; n < t.node_count(); ++n) {
    out.push_back(static_cast<std::uint32_t>(n * t.gpus_per_node()));
  }
  return out;
}

const AlgoTime& choice_test_find(const std::vector<AlgoTime>& c, Algorithm a, Protocol p) {
  for (const AlgoTime& x : c) {
    if (x.algorithm == a && x.protocol == p) return x;
  }
  ADD_FAILURE() << "no candidate " << to_string(a) << "/" << to_string(p);
  return c.front();
}

TEST(TreeCorrectionFactor, NcclsTableByPowerOfTwo) {
  const NcclChoiceCorrections c;
  // log2(bytes / 64), floored: 1 MiB is bucket 14, 2 MiB 15, below 128 B bucket 0.
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, 1 << 20), 0.5);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, (2 << 20) - 1), 0.5);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, 2 << 20), 0.6);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::ll, 512 << 10), 0.4);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::ll, 1 << 20), 0.5);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::ll128, 1 << 20), 0.6);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, 8), 0.9);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::ll, 8), 1.0);
  // From 64 x 2^23 B = 512 MiB up NCCL applies none.
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, 256.0 * (1 << 20)), 0.9);
  EXPECT_DOUBLE_EQ(c.tree_bandwidth_factor(Protocol::simple, 512.0 * (1 << 20)), 1.0);
}

TEST(TreeCorrectionFactor, TestbedBTakesRingLlAtOneMiB) {
  // FSMoE Testbed-B, 8 nodes, one GPU per node, 1 MiB all-reduce. Uncorrected, tree/Simple is
  // the fastest (92.4 us of latency against ring/LL's 44.4, at half ring/LL's wire time); NCCL
  // halves the tree's bandwidth at 1 MiB (Simple 0.5) and so takes ring/LL.
  const Topology b = test_support::preset_cluster("pcie3-4gpu-100g", 8);
  const CommOp dp =
      test_support::comm_op_over(CommKind::all_reduce, choice_test_first_gpus(b), 1 << 20);
  const std::vector<AlgoTime> c = nccl_candidates(b, dp, CollectiveConfig{});
  EXPECT_EQ(c.front().algorithm, Algorithm::ring);
  EXPECT_EQ(c.front().protocol, Protocol::ll);
  const AlgoTime& tree = choice_test_find(c, Algorithm::tree, Protocol::simple);
  EXPECT_LT(tree.time_us, c.front().time_us);  // what runs: the choice does not change it
  // Model time = latency (2 + 92.4 us) + wire / 0.5: twice the charged wire time.
  const double wire_us = tree.time_us - 94.4;
  EXPECT_NEAR(tree.model_us, 94.4 + 2.0 * wire_us, 1e-6);
  // The ring's LL candidate carries no factor.
  EXPECT_DOUBLE_EQ(c.front().model_us, c.front().time_us);
}

TEST(RingPlateau, SimpleLatencyAcrossNodesForTheChoiceOnly) {
  // Testbed-B (RTX 2080 Ti, compute capability 7.5: x1.9), 4 MiB: ring/Simple latency
  // 8.4 + 14 NET steps x 14 us = 204.4 us, charged once, ranked at 1.9 x.
  const Topology b = test_support::preset_cluster("pcie3-4gpu-100g", 8);
  const CommOp dp =
      test_support::comm_op_over(CommKind::all_reduce, choice_test_first_gpus(b), 4 << 20);
  CollectiveConfig ring_only;
  ring_only.algorithm = CollectiveConfig::Choice::ring;
  const std::vector<AlgoTime> c = nccl_candidates(b, dp, ring_only);
  const AlgoTime& simple = choice_test_find(c, Algorithm::ring, Protocol::simple);
  EXPECT_NEAR(simple.model_us - simple.time_us, 0.9 * 204.4, 1e-6);
  // Inside one node there is no plateau.
  const CommOp node = test_support::comm_op_over(CommKind::all_reduce, {0, 1, 2, 3}, 4 << 20);
  for (const AlgoTime& a : nccl_candidates(b, node, ring_only)) {
    EXPECT_DOUBLE_EQ(a.model_us, a.time_us);
  }
}

}  // namespace
}  // namespace moesim::network
