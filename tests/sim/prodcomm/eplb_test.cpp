// EPLB placement on small loads, every expected value worked out by hand in the comments.
#include "sim/strategies/eplb.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace moesim::strategies {
namespace {

TEST(Eplb, BalancedPackingPutsTheHeaviestFirstIntoTheLightestPackWithRoom) {
  // [4, 3, 2, 1] into 2 packs of 2: 4 -> A, 3 -> B, 2 -> B (3 < 4), 1 -> A: loads 5 and 5.
  const std::vector<double> w{4, 3, 2, 1};
  const Packing p = balanced_packing(w, 2);
  EXPECT_EQ(p.pack, (std::vector<std::int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(p.rank_in_pack, (std::vector<std::int64_t>{0, 0, 1, 1}));
}

TEST(Eplb, ReplicationGoesToTheLargestLoadPerCopy) {
  // [6, 2, 1] on 5 slots: copy 4 to expert 0 (6 > 2), now 3 per copy; copy 5 again to expert 0
  // (3 > 2): expert 0 has 3 copies of load 2.
  const std::vector<double> w{6, 2, 1};
  const Replication r = replicate_experts(w, 5);
  EXPECT_EQ(r.physical_to_logical, (std::vector<std::int64_t>{0, 1, 2, 0, 0}));
  EXPECT_EQ(r.replica_rank, (std::vector<std::int64_t>{0, 0, 0, 1, 2}));
  EXPECT_EQ(r.copies, (std::vector<std::int64_t>{3, 1, 1}));
}

TEST(Eplb, GlobalPolicyBalancesTwoGpus) {
  // Loads [6, 2, 1, 1], 6 slots on 2 GPUs, one group (global): expert 0 gets 3 copies (2 each).
  // Copies [e0 2, e1 2, e2 1, e3 1, e0 2, e0 2] packed 3 per GPU, heaviest first:
  // GPU 0 <- e0(copy 0), e0(copy 1), e2; GPU 1 <- e1, e0(copy 2), e3: loads 5 and 5.
  const std::vector<double> w{6, 2, 1, 1};
  const LayerPlacement p = rebalance_experts(w, 6, 1, 1, 2);
  EXPECT_EQ(p.slot_expert, (std::vector<std::int64_t>{0, 0, 2, 1, 0, 3}));
  EXPECT_EQ(p.slot_replica, (std::vector<std::int64_t>{0, 1, 0, 0, 2, 0}));
  EXPECT_EQ(p.replicas, (std::vector<std::int64_t>{3, 1, 1, 1}));
}

TEST(Eplb, HierarchicalKeepsEachGroupOnOneNode) {
  // 8 experts in 2 groups of 4: group 0 = [8, 1, 1, 1] (11), group 1 = [2, 2, 2, 2] (8); 2 nodes
  // of 2 GPUs, 12 slots (6 per node, 3 per GPU). Groups -> nodes: group 0 -> node 0, group 1 ->
  // node 1. Node 0 replicates expert 0 twice (8 -> 4 -> 2.67 per copy; then 2.67 > 1); node 1
  // adds 2 copies to experts 4 and 5 (2 each, ties to the lowest index).
  const std::vector<double> w{8, 1, 1, 1, 2, 2, 2, 2};
  const LayerPlacement p = rebalance_experts(w, 12, 2, 2, 4);
  for (std::size_t s = 0; s < 6; ++s) EXPECT_LT(p.slot_expert[s], 4) << s;
  for (std::size_t s = 6; s < 12; ++s) EXPECT_GE(p.slot_expert[s], 4) << s;
  EXPECT_EQ(p.replicas, (std::vector<std::int64_t>{3, 1, 1, 1, 2, 2, 1, 1}));
  // Node 0's copies, 3 per GPU, heaviest first: e0 (8/3) -> A, e0 -> B, e0 -> A (tie), e1 (1)
  // -> B, e2 -> B (3.67 < 5.33), e3 -> A: loads 6.33 and 4.67 (without copies: 8 + 1 = 9).
  std::vector<double> gpu_load(4, 0.0);
  for (std::size_t s = 0; s < 12; ++s) {
    const auto e = static_cast<std::size_t>(p.slot_expert[s]);
    gpu_load[s / 3] += w[e] / static_cast<double>(p.replicas[e]);
  }
  EXPECT_NEAR(*std::max_element(gpu_load.begin(), gpu_load.end()), 16.0 / 3.0 + 1.0, 1e-9);
  // Every expert has a copy and copy indices run 0..c-1.
  for (std::int64_t e = 0; e < 8; ++e) {
    std::set<std::int64_t> ranks;
    for (std::size_t s = 0; s < 12; ++s) {
      if (p.slot_expert[s] == e) ranks.insert(p.slot_replica[s]);
    }
    EXPECT_EQ(static_cast<std::int64_t>(ranks.size()), p.replicas[static_cast<std::size_t>(e)]);
  }
}

TEST(Eplb, GroupsThatDoNotDivideTheNodesFallBackToGlobal) {
  // 3 groups on 2 nodes: global policy, copies anywhere.
  const std::vector<double> w{6, 2, 1, 1, 1, 1};
  const LayerPlacement p = rebalance_experts(w, 8, 3, 2, 2);
  EXPECT_EQ(p.replicas[0], 3);
}

}  // namespace
}  // namespace moesim::strategies
