// PXN (NCCL >= 2.12, NCCL_PXN_DISABLE=0): on a rail-optimized fabric a cross-rail transfer of an
// all-to-all goes over NVLink to the sender node's GPU on the destination's rail and leaves by
// that GPU's NIC, so it stays under one leaf switch instead of crossing the spine.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/collectives/pxn_relays.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/bandwidth_metrics.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

Topology rail_cluster(std::size_t nodes, double oversubscription) {
  ClusterSpec spec;
  spec.nodes = nodes;
  spec.oversubscription = oversubscription;
  return generate_cluster(io::load_topology(testing::source_path("topologies/dgx-h100.json")),
                          spec);
}

CommOp all_to_all(std::uint32_t ranks, std::int64_t bytes) {
  CommOp op;
  op.kind = CommKind::all_to_all;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < ranks; ++r) op.ranks.push_back(RankId{r});
  return op;
}

bool crosses_spine(const Topology& t, const FlowSpec& f) {
  for (DirectedLinkId d : t.route(RankId{f.src}, RankId{f.dst})) {
    if (t.devices()[t.head_of(d)].kind == DeviceKind::spine_switch) return true;
  }
  return false;
}

TEST(Pxn, ProxyIsTheSenderNodesGpuOnTheDestinationsRail) {
  const Topology t = rail_cluster(4, 1.0);
  EXPECT_EQ(pxn_proxy(t, 0, 8 + 3), std::optional<std::uint32_t>{3});
  EXPECT_EQ(pxn_proxy(t, 5, 16 + 2), std::optional<std::uint32_t>{2});
  EXPECT_FALSE(pxn_proxy(t, 0, 8));  // same rail: its own NIC already
  EXPECT_FALSE(pxn_proxy(t, 0, 5));  // same node
}

TEST(Pxn, AGroupsRelayTableGivesEveryPairsProxyAmongItsMembers) {
  // Ranks 0-5 of node 0 and 8-13 of node 1 (rails 6 and 7 left out): a pair whose proxy is a
  // member relays through it, one whose proxy is not (0 -> 14 would go through 6) sends itself.
  const Topology t = rail_cluster(2, 1.0);
  std::vector<std::uint32_t> ranks;
  for (std::uint32_t r : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 9u, 10u, 11u, 12u, 13u, 14u}) {
    ranks.push_back(r);
  }
  const auto relays = pxn_relays(t, ranks);
  int relayed = 0;
  int outside = 0;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    for (std::size_t j = 0; j < ranks.size(); ++j) {
      if (i == j) continue;
      const auto proxy = pxn_proxy(t, ranks[i], ranks[j]);
      const auto member = relays->proxy_of(i, j);
      if (!proxy) {
        EXPECT_FALSE(member) << ranks[i] << " -> " << ranks[j];
        continue;
      }
      const bool is_member = std::find(ranks.begin(), ranks.end(), *proxy) != ranks.end();
      ASSERT_EQ(member.has_value(), is_member) << ranks[i] << " -> " << ranks[j];
      if (member) {
        EXPECT_EQ(ranks[*member], *proxy);
        ++relayed;
      } else {
        ++outside;
      }
    }
  }
  EXPECT_GT(relayed, 0);
  EXPECT_GT(outside, 0);  // 0..5 -> 14: proxy 6 is not in the group
  // Remembered on the topology: the same group gets the same table, another group its own.
  EXPECT_EQ(pxn_relays(t, ranks).get(), relays.get());
  ranks.pop_back();
  EXPECT_NE(pxn_relays(t, ranks).get(), relays.get());
}

TEST(Pxn, CrossRailAllToAllTrafficAvoidsTheSpine) {
  const Topology t = rail_cluster(4, 1.0);
  const CommOp op = all_to_all(32, 1 << 30);
  CollectiveConfig cfg;
  cfg.algorithm = CollectiveConfig::Choice::direct;
  const FlowPlan with = lower_collective(t, op, cfg);
  cfg.pxn = false;
  const FlowPlan without = lower_collective(t, op, cfg);
  ASSERT_EQ(with.stages.size(), 1u);
  const double each = (1 << 30) / 32.0;
  double nvlink_bytes = 0, network_bytes = 0;
  for (const FlowSpec& f : with.stages[0].flows) {
    const bool remote = t.node_of(RankId{f.src}) != t.node_of(RankId{f.dst});
    EXPECT_FALSE(crosses_spine(t, f)) << f.src << " -> " << f.dst;
    if (remote) {
      EXPECT_EQ(t.local_rank(RankId{f.src}), t.local_rank(RankId{f.dst}));
      network_bytes += f.bytes;
    } else {
      nvlink_bytes += f.bytes;
    }
  }
  // What crosses the network is unchanged: 32 x 24 remote blocks. Over NVLink: the 32 x 7 local
  // blocks plus the 7 of every 8 remote blocks that go to another rail.
  EXPECT_NEAR(network_bytes, 32.0 * 24.0 * each, 1.0);
  EXPECT_NEAR(nvlink_bytes, 32.0 * 7.0 * each + 32.0 * 21.0 * each, 1.0);
  // One network message per (proxy, destination): 32 x 3.
  std::size_t remote_flows = 0;
  for (const FlowSpec& f : with.stages[0].flows) {
    remote_flows += t.node_of(RankId{f.src}) != t.node_of(RankId{f.dst});
  }
  EXPECT_EQ(remote_flows, 32u * 3u);
  // Without PXN the cross-rail transfers go leaf -> spine -> leaf.
  std::size_t spine_flows = 0;
  for (const FlowSpec& f : without.stages[0].flows) spine_flows += crosses_spine(t, f);
  EXPECT_EQ(spine_flows, 32u * 21u);
}

TEST(Pxn, SavesTheSpineOnAnOversubscribedFabricAndCostsNothingOnAFullOne) {
  // 4 nodes of 8 H100 in one scalable unit: a cross-rail transfer is leaf -> spine -> leaf
  // without PXN. 21 of every 24 remote blocks change rail; at 2:1 the leaf uplinks carry half
  // the NIC rate, so without PXN the exchange takes (21/24) / (1/2) = 1.75x the NIC-bound time,
  // with PXN the NIC-bound time (what it costs is NVLink bytes, above: 360 GB/s of NVLink per
  // GPU carries the 3x more intra-node bytes well inside the NIC time).
  const CommOp op = all_to_all(32, 1 << 30);
  auto time_us = [&](double oversubscription, NetworkModelKind kind, bool pxn) {
    const Topology t = rail_cluster(4, oversubscription);
    AnalyticalParams p;
    p.collective.algorithm = CollectiveConfig::Choice::direct;
    p.collective.pxn = pxn;
    return make_communication_model(t, kind, p)->estimate(op).us();
  };
  const double full = time_us(1.0, NetworkModelKind::flow, true);
  EXPECT_NEAR(time_us(1.0, NetworkModelKind::flow, false) / full, 1.0, 0.01);
  EXPECT_NEAR(time_us(2.0, NetworkModelKind::flow, true) / full, 1.0, 0.01);
  EXPECT_NEAR(time_us(2.0, NetworkModelKind::flow, false) / full, 1.75, 0.02);
  // The analytical model has no fabric contention: the same time with and without PXN, the
  // flow model's NIC-bound one.
  for (double oversubscription : {1.0, 2.0}) {
    const double with = time_us(oversubscription, NetworkModelKind::analytical, true);
    EXPECT_NEAR(with / full, 1.0, 0.01);
    EXPECT_NEAR(time_us(oversubscription, NetworkModelKind::analytical, false) / with, 1.0, 1e-9);
  }
}

}  // namespace
}  // namespace moesim::network
