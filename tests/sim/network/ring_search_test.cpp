// NCCL-style ring search inside a node: on a DGX-1 hybrid cube-mesh the 8-GPU ring follows the
// cycle of doubled NVLinks instead of the rank order (which crosses the QPI-linked 3 -> 4 pair at
// 6 GB/s); on an NVSwitch node the rank order is kept.
#include <gtest/gtest.h>

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
  for (NetworkModelKind kind : {NetworkModelKind::flow, NetworkModelKind::analytical}) {
    const auto model = make_communication_model(t, kind, p);
    const CommOp op = eight(CommKind::all_reduce, 1 << 30);
    const double busbw = report::busbw_gbps(op.kind, 8, op.bytes, model->estimate(op));
    EXPECT_GT(busbw, 35.0) << to_string(kind);
    EXPECT_LE(busbw, 40.0) << to_string(kind);
  }
}

TEST(RingSearch, NvswitchNodeKeepsRankOrder) {
  const Topology t = io::load_topology(testing::source_path("topologies/dgx-h100.json"));
  const GroupLayout layout = make_layout(t, eight(CommKind::all_gather, 1 << 20));
  for (std::uint32_t i = 0; i < 8; ++i) EXPECT_EQ(layout.nodes[0][i], i);
}

}  // namespace
}  // namespace moesim::network
