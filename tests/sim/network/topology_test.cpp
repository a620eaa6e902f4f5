#include "sim/network/topology.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>

#include "sim/core/errors.hpp"
#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "tests/input_error_text.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

using moesim::testing::input_error_text;
const auto& error_of = input_error_text;

Topology load_preset(const std::string& name) {
  return io::load_topology(testing::source_path("topologies/" + name + ".json"));
}

std::string names(const Topology& t, const std::vector<DirectedLinkId>& route) {
  std::string s = t.devices()[t.tail_of(route.front())].name;
  for (DirectedLinkId d : route) s += ">" + t.devices()[t.head_of(d)].name;
  return s;
}

TEST(Topology, EveryPresetLoads) {
  for (const char* name : {"dgx-h100", "hgx-h200", "dgx-a100", "aws-p4de", "dgx1-v100", "aws-p3dn",
                           "pcie3-8gpu-100g", "pcie3-4gpu-100g", "a6000-8gpu"}) {
    SCOPED_TRACE(name);
    const Topology t = load_preset(name);
    EXPECT_EQ(t.name(), name);
    EXPECT_EQ(t.node_count(), 1u);
    EXPECT_EQ(t.gpu_count(), t.gpus_per_node());
    EXPECT_FALSE(t.sources().empty());
  }
}

TEST(Topology, PresetNameResolvesThroughTheTopologyDir) {
  const Topology t = io::load_topology("dgx-h100");
  EXPECT_EQ(t.gpu_model(), "h100");
  EXPECT_EQ(t.gpu_count(), 8u);
}

TEST(Topology, UnknownPresetListsKnownOnes) {
  const std::string e = error_of([] { io::load_topology("dgx-h900"); });
  EXPECT_NE(e.find("--topology: unknown topology preset (got \"dgx-h900\", expected a .json file "
                   "or one of: a6000-8gpu, aws-p3dn"),
            std::string::npos)
      << e;
}

TEST(Topology, DgxH100RoutesOverNvSwitchNotPcie) {
  const Topology t = load_preset("dgx-h100");
  // GPU0 and GPU1 share PCIe switch 0, but NVLink (450 GB/s) beats PCIe (63 GB/s) at equal hops.
  EXPECT_EQ(names(t, t.route(RankId{0}, RankId{1})), "gpu0>nvswitch>gpu1");
  // Effective NVLink: 450 * 0.822 = 369.9 GB/s.
  EXPECT_NEAR(t.route_bandwidth(RankId{0}, RankId{1}).gbps(), 369.9, 1e-9);
  EXPECT_EQ(t.route_latency(RankId{0}, RankId{1}), SimTime::from_ns(300));
  // Per GPU: 450 NVLink + 63 PCIe.
  EXPECT_DOUBLE_EQ(t.gpu_injection(RankId{3}).gbps(), 513.0);
  // Bisection: 4 GPUs x 450 GB/s into the switch (NVIDIA quotes 3.6 TB/s, both directions).
  EXPECT_NEAR(t.bisection_bandwidth().gbps(), 1800.0 + 0.0, 63.0 * 2 + 1e-6);
  EXPECT_TRUE(t.node_has_nvswitch(0));
}

// Every preset's max-flow bisection, exact on the MB/s integer grid. In the assert-enabled build
// Boost's push_relabel_max_flow checks its own result (is_flow, is_optimal) on each of them.
TEST(Topology, BisectionOfEveryPresetIsAValidMaxFlow) {
  for (const char* name : {"dgx-h100", "hgx-h200", "dgx-a100", "aws-p4de", "dgx1-v100", "aws-p3dn",
                           "pcie3-8gpu-100g", "pcie3-4gpu-100g", "a6000-8gpu"}) {
    SCOPED_TRACE(name);
    const Topology t = load_preset(name);
    const double gbps = t.bisection_bandwidth().gbps();
    EXPECT_GT(gbps, 0.0);
    // Never more than the first half's injection (it is a cut).
    double first_half = 0.0;
    for (std::size_t r = 0; r < t.gpu_count() / 2; ++r) {
      first_half += t.gpu_injection(RankId{static_cast<std::uint32_t>(r)}).gbps();
    }
    EXPECT_LE(gbps, first_half + 1e-6);
  }
}

// 16384 one-GPU nodes on one 25 GB/s switch: the cut is 8192 x 25 GB/s. The source and sink
// capacities are each GPU's own link sum, so Boost's int64 excess sums stay far from overflow
// (a fixed 2^50 MB/s per GPU would add up to 2^63 here).
TEST(Topology, BisectionOfALargeClusterDoesNotOverflow) {
  Topology t("star", "h100");
  constexpr int kGpus = 16384;
  const auto sw = t.add_device({"sw", DeviceKind::leaf_switch, -1, 0});
  for (int g = 0; g < kGpus; ++g) {
    const auto gpu = t.add_device({fmt::format("g{}", g), DeviceKind::gpu, g, 0});
    t.add_link(gpu, sw,
               LinkSpec{LinkKind::network, Bandwidth::from_gbps(25), 1.0, SimTime::from_us(1)});
  }
  t.finalize();
  EXPECT_DOUBLE_EQ(t.bisection_bandwidth().gbps(), 8192 * 25.0);
}

TEST(Topology, Dgx1NeverRoutesThroughAGpu) {
  const Topology t = load_preset("dgx1-v100");
  // gpu0-gpu3 has a double NVLink: direct.
  EXPECT_EQ(names(t, t.route(RankId{0}, RankId{3})), "gpu0>gpu3");
  EXPECT_NEAR(t.route_bandwidth(RankId{0}, RankId{3}).gbps(), 40.0, 1e-9);  // 50 * 0.8
  // gpu0-gpu5: no NVLink; two NVLink hops would pass through a GPU, so PCIe + QPI.
  EXPECT_EQ(names(t, t.route(RankId{0}, RankId{5})), "gpu0>pcie0>cpu0>cpu1>pcie2>gpu5");
}

TEST(Topology, RailOptimizedClusterUsesSpinesAcrossRails) {
  ClusterSpec spec;
  spec.nodes = 4;
  const Topology c = generate_cluster(load_preset("dgx-h100"), spec);
  EXPECT_EQ(c.gpu_count(), 32u);
  EXPECT_EQ(c.node_count(), 4u);
  EXPECT_EQ(c.gpus_per_node(), 8u);
  EXPECT_EQ(c.node_of(RankId{9}), 1);
  EXPECT_EQ(c.local_rank(RankId{9}), 1u);
  // Same rail (local rank 0 -> 0): NIC, one leaf, NIC.
  EXPECT_EQ(names(c, c.route(RankId{0}, RankId{8})),
            "n0.gpu0>n0.pcie0>n0.nic0>su0.leaf0>n1.nic0>n1.pcie0>n1.gpu0");
  // Within the node, GPU 0 to GPU 1 stays on NVLink.
  EXPECT_EQ(names(c, c.route(RankId{0}, RankId{1})), "n0.gpu0>n0.nvswitch>n0.gpu1");
  // Cross rail goes up to a spine (4 spines = 8 leaves / 2).
  const auto r = c.route(RankId{0}, RankId{9});
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(c.devices()[c.head_of(r[3])].kind, DeviceKind::spine_switch);
  // 4 nodes x 8 NICs x 50 GB/s / 8 GPUs = 50 GB/s network injection per GPU.
  EXPECT_DOUBLE_EQ(c.gpu_network_injection(RankId{5}).gbps(), 50.0);
}

TEST(Topology, EcmpSpreadsPairsOverSpinesDeterministically) {
  ClusterSpec spec;
  spec.nodes = 32;
  const Topology c = generate_cluster(load_preset("dgx-h100"), spec);
  std::vector<int> per_spine(c.devices().size(), 0);
  for (std::uint32_t d = 8; d < 256; d += 8) {
    const auto r = c.route(RankId{0}, RankId{d + 1});
    ++per_spine[c.head_of(r[3])];
  }
  int used = 0;
  for (int n : per_spine) used += n > 0 ? 1 : 0;
  EXPECT_GT(used, 1);  // 31 flows over 4 spines: more than one spine carries traffic
  EXPECT_EQ(c.route(RankId{0}, RankId{9}), c.route(RankId{0}, RankId{9}));
}

TEST(Topology, RoundTripsThroughJson) {
  ClusterSpec spec;
  spec.nodes = 2;
  spec.oversubscription = 2.0;
  const Topology c = generate_cluster(load_preset("dgx-a100"), spec);
  const Topology back = io::topology_from_json_text(io::topology_to_json(c), "round.json");
  EXPECT_EQ(back.devices().size(), c.devices().size());
  EXPECT_EQ(back.links().size(), c.links().size());
  EXPECT_TRUE(io::topology_to_json(back) == io::topology_to_json(c));
}

// --- no PCIe P2P: NCCL's SHM transport through host memory ---

TEST(Topology, ShmPairsCrossTheReceiversHostMemoryTwiceAndNvlinkPairsKeepP2p) {
  const Topology t = load_preset("a6000-8gpu");
  // The NVLink-bridged pair stays P2P.
  EXPECT_EQ(names(t, t.route(RankId{0}, RankId{1})), "gpu0>gpu1");
  EXPECT_FALSE(t.is_shm_pair(RankId{0}, RankId{1}));
  // Across the bridge pairs: through the CPU, then the receiver socket's memory: written by the
  // sender, read by the receiver.
  EXPECT_TRUE(t.is_shm_pair(RankId{1}, RankId{2}));
  EXPECT_EQ(names(t, t.route(RankId{1}, RankId{2})), "gpu1>pcie0>cpu0>pcie1>gpu2>mem0>mem0");
  // Across sockets the buffer is on the receiver's side (NCCL_SHM_LOCALITY default).
  EXPECT_EQ(names(t, t.route(RankId{3}, RankId{4})), "gpu3>pcie1>cpu0>cpu1>pcie2>gpu4>mem1>mem1");
  // Alone, a transfer gets half the memory port (39 / 2 GB/s), below PCIe 4.0's 26.3.
  EXPECT_DOUBLE_EQ(t.route_bandwidth(RankId{1}, RankId{2}).gbps(), 19.5);
  // The cross-socket link (16 GB/s) is still the slowest there.
  EXPECT_DOUBLE_EQ(t.route_bandwidth(RankId{3}, RankId{4}).gbps(), 16.0);
}

TEST(Topology, ShmPairUnderOnePcieSwitchIsDivertedThroughTheCpu) {
  // P2P would turn at the switch; SHM goes up to the CPU's memory and back down.
  const Topology t = load_preset("pcie3-8gpu-100g");
  EXPECT_EQ(names(t, t.route(RankId{0}, RankId{1})), "gpu0>pcie0>cpu0>pcie0>gpu1>mem0>mem0");
  // A node with P2P (no host_memory device) keeps the switch route.
  const Topology h = load_preset("dgx-a100");
  EXPECT_FALSE(h.node_uses_shm(0));
}

TEST(Topology, ShmOnlyInsideANodeOfAGeneratedCluster) {
  ClusterSpec spec;
  spec.nodes = 2;
  const Topology c = generate_cluster(load_preset("pcie3-4gpu-100g"), spec);
  EXPECT_TRUE(c.node_uses_shm(1));
  EXPECT_EQ(names(c, c.route(RankId{5}, RankId{6})), "n1.gpu1>n1.cpu0>n1.gpu2>n1.mem0>n1.mem0");
  // Between nodes: the NIC, no host-memory staging.
  for (DirectedLinkId d : c.route(RankId{0}, RankId{5})) {
    EXPECT_NE(c.devices()[c.head_of(d)].kind, DeviceKind::host_memory);
  }
}

// --- bad files: exact messages ---
std::string load_error(const std::string& json) {
  return error_of([&] { io::topology_from_json_text(json, "t.json"); });
}
const char* kHead = R"({"name": "t", "gpu_model": "h100", "devices": [
  {"name": "g0", "kind": "gpu"}, {"name": "g1", "kind": "gpu"}, {"name": "sw", "kind": "nvswitch"}],
  "links": [)";

TEST(TopologyFile, DanglingLink) {
  EXPECT_EQ(load_error(std::string(kHead) +
                       R"({"a": "g0", "b": "gx", "type": "nvlink", "bandwidth_gbps": 450}]})"),
            "t.json: /links/0/b: unknown device (got \"gx\", expected a device name from "
            "/devices)");
}

TEST(TopologyFile, ZeroBandwidth) {
  EXPECT_EQ(load_error(std::string(kHead) +
                       R"({"a": "g0", "b": "sw", "type": "nvlink", "bandwidth_gbps": 0}]})"),
            "t.json: /links/0/bandwidth_gbps: out of range (got 0, expected a number in [0.001, "
            "1000000])");
}

TEST(TopologyFile, UnreachableGpu) {
  EXPECT_EQ(load_error(std::string(kHead) +
                       R"({"a": "g0", "b": "sw", "type": "nvlink", "bandwidth_gbps": 450}]})"),
            "t.json: /devices/1: GPU \"g1\" cannot reach GPU \"g0\" (got no path that avoids "
            "passing through other GPUs, expected every GPU connected to every other)");
}

TEST(TopologyFile, DuplicateName) {
  EXPECT_EQ(load_error(R"({"name": "t", "gpu_model": "h100", "devices": [
      {"name": "g0", "kind": "gpu"}, {"name": "g0", "kind": "gpu"}], "links": []})"),
            "t.json: /devices/1/name: duplicate device name (got \"g0\", expected a name used "
            "once)");
}

TEST(TopologyFile, UnknownKindAndEfficiencyAboveOne) {
  EXPECT_EQ(load_error(R"({"name": "t", "gpu_model": "h100", "devices": [
      {"name": "g0", "kind": "tpu"}], "links": []})"),
            "t.json: /devices/0/kind: unknown device kind (got \"tpu\", expected one of: gpu, "
            "nvswitch, pcie_switch, cpu, nic, leaf_switch, spine_switch, host_memory)");
  EXPECT_EQ(load_error(std::string(kHead) +
                       R"({"a": "g0", "b": "sw", "type": "nvlink", "bandwidth_gbps": 450,
                           "efficiency": 1.5}]})"),
            "t.json: /links/0/efficiency: out of range (got 1.5, expected a number in (0, 1])");
}

TEST(TopologyFile, HostMemoryMustHangOffOneCpu) {
  EXPECT_EQ(load_error(R"({"name": "t", "gpu_model": "h100", "devices": [
      {"name": "g0", "kind": "gpu"}, {"name": "g1", "kind": "gpu"}, {"name": "sw", "kind": "nvswitch"},
      {"name": "m", "kind": "host_memory"}], "links": [
      {"a": "g0", "b": "sw", "type": "nvlink", "bandwidth_gbps": 450},
      {"a": "g1", "b": "sw", "type": "nvlink", "bandwidth_gbps": 450},
      {"a": "sw", "b": "m", "type": "cpu", "bandwidth_gbps": 39}]})"),
            "t.json: /devices/3: host_memory \"m\" must hang off one CPU (got 1 link(s), to a "
            "nvswitch, expected exactly one link, to a device of kind cpu)");
}

// Files are read streaming (devices and links as they are parsed); a file written by hand with
// its links before its devices reads the same.
TEST(TopologyFile, LinksBeforeDevicesReadTheSame) {
  const std::string devices = R"("devices": [{"name": "g0", "kind": "gpu"},
      {"name": "g1", "kind": "gpu"}, {"name": "sw", "kind": "nvswitch"}])";
  const std::string links = R"("links": [
      {"a": "g0", "b": "sw", "type": "nvlink", "bandwidth_gbps": 450},
      {"a": "g1", "b": "sw", "type": "nvlink", "bandwidth_gbps": 300}])";
  const Topology usual = io::topology_from_json_text(
      R"({"name": "t", "gpu_model": "h100", )" + devices + ", " + links + "}", "t.json");
  const Topology reversed = io::topology_from_json_text(
      "{" + links + R"(, "name": "t", )" + devices + R"(, "gpu_model": "h100"})", "t.json");
  EXPECT_EQ(io::topology_to_json(reversed), io::topology_to_json(usual));
  EXPECT_EQ(reversed.route(RankId{0}, RankId{1}), usual.route(RankId{0}, RankId{1}));
  EXPECT_EQ(load_error(R"({"links": [{"a": "g0", "b": "gx", "type": "nvlink",
      "bandwidth_gbps": 450}], "name": "t", "gpu_model": "h100", "devices": [
      {"name": "g0", "kind": "gpu"}]})"),
            "t.json: /links/0/b: unknown device (got \"gx\", expected a device name from "
            "/devices)");
}

TEST(TopologyFile, NoGpu) {
  EXPECT_EQ(load_error(R"({"name": "t", "gpu_model": "h100", "devices": [], "links": []})"),
            "t.json: /devices: no GPU (got 0 devices of kind \"gpu\", expected at least one)");
}

}  // namespace
}  // namespace moesim::network
