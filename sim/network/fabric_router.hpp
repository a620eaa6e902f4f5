// FabricRouter: routes of a generated cluster (cluster_generator.hpp) from its structure, with
// tables the size of one node instead of all-pairs tables: memory O(node devices x GPUs per node
// x unit kinds), route cost O(hops).
//
// The routes are exactly those of ShortestPathRouter on the same cluster (router.hpp: shortest
// route weight, no GPU transit, destination-based ECMP), because every device's distance to the
// destination GPU b (node j, local rank b', unit u_j) has a closed form over one node's
// distances dn (Dijkstra inside the node, no GPU transit) and the fabric's link weights
// (w_nic per rail, w_up per unit and rail):
//   spine:          S  = min over rails q of w_up(u_j, q) + w_nic(q) + dn(NIC q, b')
//   leaf (u, r):    min(u == u_j ? w_nic(r) + dn(NIC r, b') : inf, w_up(u, r) + S)
//   single switch:  D  = min over q of w_nic(q) + dn(NIC q, b')
//   node k device v: min(k == j ? dn(v, b') : inf, min over rails p of dn(v, NIC p) + X_k(p)),
//                   X_k(p) = w_nic(p) + distance of the leaf (or switch) NIC p is cabled to.
// Other paths are never shorter: passing through another node costs at least three links where
// a spine (or the single switch) costs two, and a node is never left and re-entered. The walk is
// the shortest-path walk (candidates in directed-link order, pick = key mod count), with the
// candidate lists of node devices precomputed for every distinct X (per unit kind, and per
// destination local rank when the destination shares the unit). Tests check every route against
// ShortestPathRouter on rail-optimized, oversubscribed, partial-unit and single-switch clusters.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/network/cluster_generator.hpp"
#include "sim/network/router.hpp"
#include "sim/network/routing_graph.hpp"

namespace moesim::network {

/// How generate_cluster cabled the nodes (its link order is part of the contract: node k's
/// devices and links are copies k*V.. and k*L.., then NIC links (node-major, rail), then
/// leaf-spine links (unit, rail, spine)).
struct FabricLayout {
  Fabric fabric = Fabric::rail_optimized;
  std::size_t nodes = 0;
  std::size_t nodes_per_unit = 1;
  std::size_t spines = 0;                      ///< rail-optimized only
  std::vector<LinkSpec> nic_link;              ///< per rail (the node's NIC i is rail i)
  std::vector<std::vector<LinkSpec>> up_link;  ///< per unit, per rail: leaf - spine
};

class FabricRouter final : public Router {
 public:
  FabricRouter(const Topology& node, const FabricLayout& layout);
  void route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const override;

 private:
  static constexpr std::uint32_t kExit = 0xFFFFFFFFu;  ///< candidate: the NIC's network link
  /// Candidate next hops inside one node: local directed links, or kExit.
  struct NodeTable {
    std::vector<std::uint32_t> offset;
    std::vector<std::uint32_t> next;
  };
  NodeTable build_table(const std::vector<std::int64_t>* to_target, std::int64_t target,
                        const std::vector<std::int64_t>& exit_cost) const;
  std::size_t at(std::size_t unit_class, std::size_t dst_local) const {
    return unit_class * gpus_ + dst_local;
  }

  RoutingGraph node_graph_;
  std::uint32_t node_devices_ = 0;
  std::uint32_t node_links_ = 0;
  std::uint32_t gpus_ = 0;
  std::uint32_t rails_ = 0;
  std::uint32_t nodes_ = 0;
  std::uint32_t unit_ = 1;
  std::uint32_t spines_ = 0;
  bool single_switch_ = false;
  std::vector<DeviceIndex> gpu_local_;  ///< local rank -> node device
  std::vector<DeviceIndex> nic_local_;  ///< rail -> node device
  std::vector<std::int32_t> rail_of_;   ///< node device -> rail, -1 if not a NIC
  std::vector<std::uint16_t> class_of_unit_;
  std::vector<std::vector<std::int64_t>> dn_nic_;  ///< [rail][device] distance to that NIC
  std::vector<NodeTable> far_;                     ///< [class of the source unit]
  std::vector<NodeTable> unit_tables_;             ///< [class, dst local]: same unit, other node
  std::vector<NodeTable> home_;                    ///< [class, dst local]: the destination node
  std::vector<std::vector<std::uint32_t>> spine_rails_;   ///< [class, dst local]
  std::vector<char> leaf_direct_;                         ///< [class, dst local, rail]
  std::vector<char> leaf_via_;                            ///< [class, dst local, rail]
  std::vector<std::vector<std::uint32_t>> switch_rails_;  ///< [dst local]
};

}  // namespace moesim::network
