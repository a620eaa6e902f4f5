// Router: the directed links a flow from one GPU to another traverses.
//
// Every router computes the same routes: shortest paths by route weight (route_weight.hpp), never
// passing THROUGH a GPU (GPUs are endpoints, as NCCL's P2P paths), and where several next hops tie
// (equal-cost spines, rails), the one taken is (destination node + destination local rank) mod
// the number of ties, the candidates in directed-link order: deterministic, destination-based
// ECMP as InfiniBand fat trees route (OpenSM ftree "D-mod-K").
//  - ShortestPathRouter (any topology): Boost.Graph Dijkstra from the destination, computed on
//    demand and cached per destination.
//  - FabricRouter (generated clusters): the same routes derived from the fabric's structure
//    (node, rail, leaf, spine) with tables the size of one node.
// Routers are immutable to their users and safe to share between threads.
#pragma once

#include <vector>

#include "sim/core/ids.hpp"

namespace moesim::network {

using DirectedLinkId = std::uint32_t;

class Router {
 public:
  virtual ~Router() = default;
  /// Appends the directed links from `src` to `dst` (nothing when src == dst).
  virtual void route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const = 0;
};

}  // namespace moesim::network
