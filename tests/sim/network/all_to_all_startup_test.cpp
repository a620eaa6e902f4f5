// The start-up of an all-to-all across nodes: NCCL posts one network p2p operation per peer, for
// every GPU sharing a NIC (nccl_tuning.hpp p2p_posts_per_peer, exchange_posting_us). Both network
// models charge it, so the planners (estimate) and the executor see the same cost; it grows with
// the peers and the GPUs per NIC, costs twice as much per post on an AMD host, and is absent
// inside a node.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "sim/io/topology_json.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/network/network_model_factory.hpp"
#include "tests/input_error_text.hpp"
#include "tests/sim/network/preset_cluster.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

using test_support::preset_cluster;

// One GPU per node (local rank 0), as FSMoE's EP groups.
CommOp one_per_node(const Topology& t, std::int64_t bytes) {
  CommOp op;
  op.kind = CommKind::all_to_all;
  op.bytes = Bytes{bytes};
  for (std::size_t n = 0; n < t.node_count(); ++n) {
    op.ranks.push_back(RankId{static_cast<std::uint32_t>(n * t.gpus_per_node())});
  }
  return op;
}

TEST(AllToAllStartup, OnePostPerNetworkPeerAndGpuSharingTheNic) {
  const NcclTuning tuning;
  // Testbed-A: 6 nodes, 8 GPUs on one NIC, AMD host (6 us per Simple post): 5 peers x 8 GPUs.
  const Topology a = preset_cluster("a6000-8gpu", 6);
  EXPECT_EQ(a.cpu_vendor(), CpuVendor::amd);  // kept by the cluster generator
  EXPECT_NEAR(exchange_posting_us(a, one_per_node(a, 1 << 20), tuning, false),
              tuning.p2p_posts_per_peer * 6.0 * 5 * 8, 1e-9);
  // Testbed-B: 8 nodes, 4 GPUs per NIC, Intel default (3 us): 7 peers x 4 GPUs.
  const Topology b = preset_cluster("pcie3-4gpu-100g", 8);
  EXPECT_NEAR(exchange_posting_us(b, one_per_node(b, 1 << 20), tuning, false),
              tuning.p2p_posts_per_peer * 3.0 * 7 * 4, 1e-9);
  // DGX H100: a NIC per GPU, so the peers alone; the hierarchical lowering posts one per node.
  const Topology h = preset_cluster("dgx-h100", 4);
  CommOp all;
  all.kind = CommKind::all_to_all;
  all.bytes = Bytes{1 << 20};
  for (std::uint32_t r = 0; r < h.gpu_count(); ++r) all.ranks.push_back(RankId{r});
  EXPECT_NEAR(exchange_posting_us(h, all, tuning, false), tuning.p2p_posts_per_peer * 3.0 * 24,
              1e-9);
  EXPECT_NEAR(exchange_posting_us(h, all, tuning, true), tuning.p2p_posts_per_peer * 3.0 * 3, 1e-9);
  // Inside one node: nothing (P2P and SHM transfers need no proxy posting).
  CommOp local = all;
  local.ranks.resize(8);
  EXPECT_EQ(exchange_posting_us(h, local, tuning, false), 0.0);
}

TEST(AllToAllStartup, AllToAllVCountsOnlyThePeersItExchangesWith) {
  const NcclTuning tuning;
  const Topology b = preset_cluster("pcie3-4gpu-100g", 8);
  CommOp op = one_per_node(b, 0);
  op.kind = CommKind::all_to_all_v;
  auto m = std::make_shared<ByteMatrix>(op.ranks.size());
  m->set(0, 1, 4096);  // rank 0 talks to ranks 1 and 2 only; rank 1 and 2 to rank 0
  m->set(2, 0, 4096);
  op.matrix = m;
  op.bytes = Bytes{4096};
  EXPECT_NEAR(exchange_posting_us(b, op, tuning, false), tuning.p2p_posts_per_peer * 3.0 * 2 * 4,
              1e-9);
}

TEST(AllToAllStartup, BothModelsChargeItAndItGrowsWithThePeers) {
  double previous = 0.0;
  for (std::size_t nodes : {2u, 4u, 8u}) {
    SCOPED_TRACE(nodes);
    const Topology b = preset_cluster("pcie3-4gpu-100g", nodes);
    const CommOp op = one_per_node(b, 1024);  // small: the start-up dominates
    const double posting = exchange_posting_us(b, op, NcclTuning{}, false);
    const double flow = make_communication_model(b, NetworkModelKind::flow)->estimate(op).us();
    const double analytical =
        make_communication_model(b, NetworkModelKind::analytical)->estimate(op).us();
    EXPECT_GT(flow, posting);
    // The same start-up in both, and the same latencies: NCCL's step latency holds the links'
    // (FlowPlan::adds_link_latency), so only the 1 KiB transfers differ, by far under 1 us.
    EXPECT_NEAR(flow, analytical, 1.0);
    EXPECT_GT(analytical, previous + 20.0);  // 4 GPUs x 3 us x >= 2 more peers
    previous = analytical;
  }
}

// Held out (not fitted): nccl-tests alltoall_perf on 8 nodes x 8 H800, 8 MiB per rank:
// 337.8 us out of place, 295.6 in place (NVIDIA/nccl issue #1531, first row of its table).
// NCCL's algorithm (direct grouped send/recv) within 10% of the out-of-place time, the band of
// issue 13 for messages of 4 MiB and up; without the posting the model is about half of it.
TEST(AllToAllStartup, HeldOutH800AllToAllRow) {
  const Topology h = preset_cluster("hgx-h800", 8);
  CommOp op;
  op.kind = CommKind::all_to_all;
  op.bytes = Bytes{8388608};
  for (std::uint32_t r = 0; r < h.gpu_count(); ++r) op.ranks.push_back(RankId{r});
  AnalyticalParams p;
  p.collective.algorithm = CollectiveConfig::Choice::direct;
  const double us = make_communication_model(h, NetworkModelKind::flow, p)->estimate(op).us();
  EXPECT_NEAR(us, 337.8, 0.10 * 337.8);
  const double posting = exchange_posting_us(h, op, NcclTuning{}, false);
  EXPECT_LT(us - posting, 0.6 * 337.8);  // the start-up is what closes it
}

TEST(AllToAllStartup, TheCpuVendorRoundTripsThroughTheTopologyFile) {
  const Topology a = io::load_topology(testing::source_path("topologies/a6000-8gpu.json"));
  EXPECT_EQ(a.cpu_vendor(), CpuVendor::amd);
  EXPECT_NE(io::topology_to_json(a).find("\"cpu_vendor\": \"amd\""), std::string::npos);
  const Topology h = io::load_topology(testing::source_path("topologies/dgx-h100.json"));
  EXPECT_EQ(h.cpu_vendor(), CpuVendor::intel);
  EXPECT_EQ(io::topology_to_json(h).find("cpu_vendor"), std::string::npos);
}

TEST(AllToAllStartup, AnUnknownCpuVendorIsAnInputErrorAtItsPlace) {
  std::ifstream in(testing::source_path("topologies/a6000-8gpu.json"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = "\"cpu_vendor\": \"amd\"";
  ASSERT_NE(text.find(key), std::string::npos);
  text.replace(text.find(key), key.size(), "\"cpu_vendor\": \"arm\"");
  const auto path = std::filesystem::temp_directory_path() /
                    ("moesim-cpu-vendor-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << text;
  const std::string error =
      moesim::testing::input_error_text([&] { io::load_topology(path.string()); });
  std::filesystem::remove(path);
  EXPECT_NE(error.find("/cpu_vendor: unknown CPU vendor (got \"arm\""), std::string::npos) << error;
}

}  // namespace
}  // namespace moesim::network
