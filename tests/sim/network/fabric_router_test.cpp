// FabricRouter against the independent oracle: ShortestPathRouter (Boost.Graph Dijkstra over the
// whole cluster, the routing moesim used before structural routes) on every ordered GPU pair.
#include "sim/network/fabric_router.hpp"

#include <gtest/gtest.h>

#include "sim/io/topology_json.hpp"
#include "sim/network/cluster_generator.hpp"
#include "sim/network/shortest_path_router.hpp"
#include "tests/testdata.hpp"

namespace moesim::network {
namespace {

Topology load_node_preset(const std::string& name) {
  return io::load_topology(testing::source_path("topologies/" + name + ".json"));
}

void expect_same_routes(const Topology& cluster) {
  const ShortestPathRouter oracle(cluster.devices(), cluster.links());
  std::vector<DirectedLinkId> want;
  std::vector<DirectedLinkId> got;
  std::size_t differing = 0;
  std::size_t network_routes = 0;
  for (std::uint32_t dst = 0; dst < cluster.gpu_count(); ++dst) {
    for (std::uint32_t src = 0; src < cluster.gpu_count(); ++src) {
      want.clear();
      got.clear();
      oracle.route(RankId{src}, RankId{dst}, want);
      cluster.router()->route(RankId{src}, RankId{dst}, got);  // the router alone (no SHM)
      for (DirectedLinkId d : want) {
        if (cluster.link_of(d).spec.kind == LinkKind::network) {
          ++network_routes;
          break;
        }
      }
      if (want != got && ++differing <= 3) {
        ADD_FAILURE() << cluster.name() << ": route " << src << " -> " << dst << " differs";
      }
    }
  }
  EXPECT_EQ(differing, 0u) << cluster.name();
  // Every pair in different nodes crosses the fabric (the comparison is not vacuous).
  const std::size_t g = cluster.gpu_count();
  const std::size_t per = cluster.gpus_per_node();
  EXPECT_GE(network_routes, g * (g - per)) << cluster.name();
}

TEST(FabricRouter, MatchesShortestPathsOnRailOptimizedDgxH100) {
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 4;
  expect_same_routes(generate_cluster(node, spec));
}

TEST(FabricRouter, MatchesShortestPathsAcrossUnitsWithAPartialUnit) {
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 40;  // one full 32-node unit and one of 8: two uplink rates
  expect_same_routes(generate_cluster(node, spec));
}

TEST(FabricRouter, MatchesShortestPathsOversubscribed) {
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 7;
  spec.nodes_per_unit = 3;
  spec.oversubscription = 2.0;
  expect_same_routes(generate_cluster(node, spec));
}

TEST(FabricRouter, MatchesShortestPathsOnASingleSwitch) {
  // Two CPU sockets: a GPU reaches the other socket's NICs faster through the switch than
  // through the CPUs, which the closed form must reproduce.
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 5;
  spec.fabric = Fabric::single_switch;
  expect_same_routes(generate_cluster(node, spec));
}

TEST(FabricRouter, MatchesShortestPathsOnEveryPresetWithNics) {
  int with_nics = 0;
  for (const char* name : {"hgx-h200", "dgx-a100", "aws-p4de", "dgx1-v100", "aws-p3dn",
                           "pcie3-8gpu-100g", "pcie3-4gpu-100g", "a6000-8gpu"}) {
    SCOPED_TRACE(name);
    const Topology node = load_node_preset(name);
    bool has_nic = false;
    for (const Device& d : node.devices()) has_nic = has_nic || d.kind == DeviceKind::nic;
    if (!has_nic) continue;
    ++with_nics;
    for (Fabric fabric : {Fabric::rail_optimized, Fabric::single_switch}) {
      ClusterSpec spec;
      spec.nodes = 5;
      spec.nodes_per_unit = 2;
      spec.fabric = fabric;
      spec.oversubscription = fabric == Fabric::single_switch ? 1.0 : 1.5;
      expect_same_routes(generate_cluster(node, spec));
    }
  }
  EXPECT_GE(with_nics, 4);
}

}  // namespace
}  // namespace moesim::network

namespace moesim::network {
namespace {

TEST(FabricRouter, AGeneratedFileLoadsBackWithStructuralRoutes) {
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 40;
  spec.oversubscription = 2.0;
  const std::string text = io::topology_to_json(generate_cluster(node, spec));
  const Topology loaded = io::topology_from_json_text(text, "cluster.json");
  EXPECT_NE(dynamic_cast<const FabricRouter*>(loaded.router().get()), nullptr);
  expect_same_routes(loaded);
  // Written again, the file is the same.
  EXPECT_EQ(io::topology_to_json(loaded), text);
}

TEST(FabricRouter, AnEditedFileFallsBackToShortestPaths) {
  const Topology node = load_node_preset("dgx-h100");
  ClusterSpec spec;
  spec.nodes = 3;
  std::string text = io::topology_to_json(generate_cluster(node, spec));
  // Make one node's PCIe switch 0 reach the CPU at NVLink speed: other routes, not regenerable.
  const std::string from =
      "{\"a\":\"n1.pcie0\",\"b\":\"n1.cpu0\",\"type\":\"pcie\",\"bandwidth_gbps\":63.0";
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, from.size(),
               "{\"a\":\"n1.pcie0\",\"b\":\"n1.cpu0\",\"type\":\"pcie\",\"bandwidth_gbps\":900.0");
  const Topology loaded = io::topology_from_json_text(text, "cluster.json");
  EXPECT_NE(dynamic_cast<const ShortestPathRouter*>(loaded.router().get()), nullptr);
  expect_same_routes(loaded);
}

}  // namespace
}  // namespace moesim::network
