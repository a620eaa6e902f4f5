// ShortestPathRouter: routes of an arbitrary topology (a loaded file) by Boost.Graph Dijkstra,
// computed on demand and cached. The search runs from the destination outwards (link weights are
// symmetric), so one search serves every source: the cache holds, per destination GPU, the
// candidate next hops of every device (NextHops), and a route walks them from the source taking
// candidate (destination node + local rank) mod count (router.hpp).
// Memory: one table of O(devices) per cached destination, at most `cache_bytes` in all (oldest
// evicted first), so a 16,384-GPU file does not need all-pairs tables.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "sim/network/router.hpp"
#include "sim/network/routing_graph.hpp"

namespace moesim::network {

class ShortestPathRouter final : public Router {
 public:
  static constexpr std::size_t kDefaultCacheBytes = std::size_t{64} << 20;
  /// The devices and links of a topology; GPUs are ranks in device order, each in its node.
  ShortestPathRouter(const std::vector<Device>& devices, const std::vector<Link>& links,
                     std::size_t cache_bytes = kDefaultCacheBytes);
  void route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const override;

 private:
  std::shared_ptr<const NextHops> table_for(std::uint32_t dst_rank) const;

  RoutingGraph graph_;
  std::vector<DeviceIndex> gpus_;
  std::vector<std::uint32_t> dest_key_;  ///< node + local rank, per rank
  std::size_t cache_bytes_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::uint32_t, std::shared_ptr<const NextHops>> cache_;
  mutable std::vector<std::uint32_t> order_;  ///< cached destinations, oldest first
  mutable std::size_t cached_bytes_ = 0;
};

}  // namespace moesim::network
