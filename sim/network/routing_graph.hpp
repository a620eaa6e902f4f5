// RoutingGraph: the devices and directed links of a topology as a weighted graph, with the
// shortest-path search every router is built on (Boost.Graph Dijkstra inside the .cpp).
//
// Route weight of one link traversal, compared as one integer so that ties are exact (and ECMP
// among equal-cost spines is therefore well defined):
//   kHop                    every hop counts first (fewest switches wins),
//   + 1e6 / line rate GB/s  then slower links cost more (NVLink beats a PCIe path of equal hops),
//   + latency in ns         then lower latency;
//   + kHop / 2 per link touching a CPU: NCCL ranks paths through the host bridge or across
//     sockets (PHB, SYS) below PCIe-switch and NVLink paths (src/graph/paths.cc path types), so a
//     GPU reaches another rail's NIC over the fabric rather than through the CPU.
// kHop exceeds any sum of the bandwidth and latency terms over a path of realistic length.
// Paths never pass THROUGH a GPU: a GPU is reached but never expanded, except the search root.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sim/network/topology.hpp"

namespace moesim::network {

/// Distance of a device that cannot reach the target; adding two link weights to it stays finite.
inline constexpr std::int64_t kUnreachable = std::int64_t{1} << 62;
inline constexpr std::int64_t kHop = std::int64_t{1} << 40;

std::int64_t link_weight(const LinkSpec& spec, bool touches_cpu);

/// Candidate next hops toward one target, per device: at(v) in directed-link order.
struct NextHops {
  std::vector<std::uint32_t> offset;  ///< device count + 1
  std::vector<DirectedLinkId> next;
  std::span<const DirectedLinkId> at(DeviceIndex v) const {
    return {next.data() + offset[v], next.data() + offset[v + 1]};
  }
  std::size_t bytes() const { return (offset.capacity() + next.capacity()) * 4; }
};

class RoutingGraph {
 public:
  RoutingGraph(const std::vector<Device>& devices, const std::vector<Link>& links);
  ~RoutingGraph();
  RoutingGraph(RoutingGraph&&) noexcept;
  RoutingGraph& operator=(RoutingGraph&&) noexcept;

  std::size_t device_count() const { return is_gpu_.size(); }
  bool is_gpu(DeviceIndex v) const { return is_gpu_[v] != 0; }
  DeviceIndex head(DirectedLinkId d) const { return head_[d]; }
  std::int64_t weight(DirectedLinkId d) const { return weight_[d / 2]; }
  /// Out-links of `v` in directed-link order.
  std::span<const DirectedLinkId> out_links(DeviceIndex v) const {
    return {out_.data() + out_offset_[v], out_.data() + out_offset_[v + 1]};
  }

  /// Shortest distance from every device to `target` (kUnreachable where there is no path).
  std::vector<std::int64_t> distances_to(DeviceIndex target) const;
  /// Next hops on shortest paths toward `target`, given its distances: link u->v is one when
  /// dist[v] + weight == dist[u] and v is not a GPU other than the target.
  NextHops next_hops(DeviceIndex target, const std::vector<std::int64_t>& dist) const;

 private:
  struct Search;
  std::unique_ptr<Search> search_;
  std::vector<char> is_gpu_;
  std::vector<DeviceIndex> head_;
  std::vector<std::int64_t> weight_;
  std::vector<std::uint32_t> out_offset_;
  std::vector<DirectedLinkId> out_;
};

}  // namespace moesim::network
