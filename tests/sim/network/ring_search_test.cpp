// NCCL-style ring search inside a node: on a DGX-1 hybrid cube-mesh the 8-GPU layout ring
// follows the cycle of doubled NVLinks instead of the rank order (which crosses the QPI-linked
// 3 -> 4 pair at 6 GB/s), and the ring set NCCL runs (one channel per ring) puts a ring on every
// NVLink: six rings; on NVSwitch and PCIe nodes the rank order is kept, as one ring.
#include "sim/network/collectives/ring_search.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "sim/io/topology_json.hpp"
#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/network_model_factory.hpp"
#include "sim/report/bandwidth_metrics.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

CommOp eight(CommKind kind, std::int64_t bytes) {
  CommOp op;
  op.kind = kind;
  op.bytes = Bytes{bytes};
  for (std::uint32_t r = 0; r < 8; ++r) op.ranks.push_back(RankId{r});
  return op;
}

TEST(RingSearch, HybridCubeMeshRingUsesTheDoubledNvlinks) {
  const Topology t = io::load_topology(testing::source_path("topologies/dgx1-v100.json"));
  const GroupLayout layout = make_layout(t, eight(CommKind::all_reduce, 1 << 30));
  ASSERT_EQ(layout.nodes.size(), 1u);
  // Every hop of the ring is a doubled NVLink2 pair: 2 x 25 GB/s x 0.8 = 40 GB/s.
  const auto& ring = layout.nodes[0];
  for (std::size_t i = 0; i < ring.size(); ++i) {
    const RankId a{layout.ranks[ring[i]]};
    const RankId b{layout.ranks[ring[(i + 1) % ring.size()]]};
    EXPECT_NEAR(t.route_bandwidth(a, b).bytes_per_s, 40e9, 1e6) << a.value << " -> " << b.value;
  }
  // So a one-channel ring all-reduce runs at that link, not at the 6 GB/s QPI.
  AnalyticalParams p;
  p.collective.algorithm = CollectiveConfig::Choice::ring;
  p.collective.channels = 1;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    const auto model = make_communication_model(t, kind, p);
    const CommOp op = eight(CommKind::all_reduce, 1 << 30);
    const double busbw = report::busbw_gbps(op.kind, 8, op.bytes, model->estimate(op));
    EXPECT_GT(busbw, 35.0) << to_string(kind);
    EXPECT_LE(busbw, 40.0) << to_string(kind);
  }
}

// How many NVLinks join a and b in the preset (its bandwidth_gbps / 25 GB/s per NVLink2).
int nvlinks(const Topology& t, std::uint32_t a, std::uint32_t b) {
  if (link_class(t, a, b) != LinkClass::nvlink) return 0;
  return static_cast<int>(std::lround(t.route_bandwidth(RankId{a}, RankId{b}).bytes_per_s / 20e9));
}

TEST(RingSearch, HybridCubeMeshRunsOneRingPerNvlink) {
  const Topology t = io::load_topology(testing::source_path("topologies/dgx1-v100.json"));
  const GroupLayout layout = make_layout(t, eight(CommKind::all_reduce, 1 << 30));
  const RingSet set = node_ring_set(t, layout);
  // Six NVLink2 per V100: six rings, and every directed NVLink carries exactly one of them.
  ASSERT_EQ(set.rings.size(), 6u);
  std::map<std::pair<std::uint32_t, std::uint32_t>, int> crossings;
  for (const auto& ring : set.rings) {
    ASSERT_EQ(ring.size(), 8u);
    EXPECT_EQ(std::set<std::uint32_t>(ring.begin(), ring.end()).size(), 8u);
    for (std::size_t i = 0; i < ring.size(); ++i) ++crossings[{ring[i], ring[(i + 1) % 8]}];
  }
  for (std::uint32_t a = 0; a < 8; ++a) {
    for (std::uint32_t b = 0; b < 8; ++b) {
      if (a == b) continue;
      const auto it = crossings.find({a, b});
      EXPECT_EQ(it == crossings.end() ? 0 : it->second, nvlinks(t, a, b)) << a << " -> " << b;
    }
  }
  // 6 rings x one 25 GB/s x 0.8 NVLink each.
  EXPECT_NEAR(set.bytes_per_s, 120e9, 1e6);
  AnalyticalParams p;
  p.collective.algorithm = CollectiveConfig::Choice::ring;
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    const auto model = make_communication_model(t, kind, p);
    const CommOp op = eight(CommKind::all_reduce, 1 << 30);
    const double busbw = report::busbw_gbps(op.kind, 8, op.bytes, model->estimate(op));
    EXPECT_GT(busbw, 115.0) << to_string(kind);
    EXPECT_LE(busbw, 120.0) << to_string(kind);
  }
}

TEST(RingSearch, HybridCubeMeshQuadUsesBothDirectionsOfTwoCycles) {
  // GPUs 0-3 (a K4 with 0-3, 1-2, 2-3 doubled): GPUs 0 and 1 have four NVLinks inside the group,
  // so four rings at one NVLink each: 80 GB/s, where the best single ring gets 20 GB/s (every
  // Hamiltonian cycle of the four crosses a single NVLink).
  const Topology t = io::load_topology(testing::source_path("topologies/dgx1-v100.json"));
  const RingSet set = search_rings(t, {0, 3, 2, 1});
  EXPECT_EQ(set.rings.size(), 4u);
  EXPECT_NEAR(set.bytes_per_s, 80e9, 1e6);
  EXPECT_NEAR(ring_set_bandwidth(t, {{0, 3, 2, 1}}), 20e9, 1e6);
}

TEST(RingSearch, NvswitchAndPcieNodesKeepOneRing) {
  // Every ring needs the same GPU ports there: more rings move no more.
  for (const char* preset : {"dgx-h100.json", "pcie3-8gpu-100g.json", "a6000-8gpu.json"}) {
    const Topology t = io::load_topology(testing::source_path(std::string("topologies/") + preset));
    const GroupLayout layout = make_layout(t, eight(CommKind::all_reduce, 1 << 30));
    EXPECT_EQ(node_ring_set(t, layout).rings.size(), 1u) << preset;
  }
}

TEST(RingSearch, NvswitchNodeKeepsRankOrder) {
  const Topology t = io::load_topology(testing::source_path("topologies/dgx-h100.json"));
  const GroupLayout layout = make_layout(t, eight(CommKind::all_gather, 1 << 20));
  for (std::uint32_t i = 0; i < 8; ++i) EXPECT_EQ(layout.nodes[0][i], i);
}

}  // namespace
}  // namespace moesim::network
