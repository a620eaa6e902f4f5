#include "sim/network/shortest_path_router.hpp"

#include <algorithm>
#include <map>

#include "sim/core/errors.hpp"

namespace moesim::network {

ShortestPathRouter::ShortestPathRouter(const std::vector<Device>& devices,
                                       const std::vector<Link>& links, std::size_t cache_bytes)
    : graph_(devices, links), cache_bytes_(cache_bytes) {
  std::map<int, std::uint32_t> seen;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (devices[i].kind != DeviceKind::gpu) continue;
    gpus_.push_back(static_cast<DeviceIndex>(i));
    dest_key_.push_back(static_cast<std::uint32_t>(devices[i].node) + seen[devices[i].node]++);
  }
}

std::shared_ptr<const NextHops> ShortestPathRouter::table_for(std::uint32_t dst_rank) const {
  {
    const std::lock_guard lock(mutex_);
    if (auto it = cache_.find(dst_rank); it != cache_.end()) return it->second;
  }
  // Search outside the lock: two threads may both compute one table; both results are equal.
  const DeviceIndex target = gpus_[dst_rank];
  auto table =
      std::make_shared<const NextHops>(graph_.next_hops(target, graph_.distances_to(target)));
  const std::lock_guard lock(mutex_);
  auto [it, inserted] = cache_.emplace(dst_rank, table);
  if (!inserted) return it->second;
  order_.push_back(dst_rank);
  cached_bytes_ += table->bytes();
  while (cached_bytes_ > cache_bytes_ && order_.size() > 1) {
    const auto old = cache_.find(order_.front());
    cached_bytes_ -= old->second->bytes();
    cache_.erase(old);
    order_.erase(order_.begin());
  }
  return table;
}

void ShortestPathRouter::route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const {
  MOESIM_CHECK(src.index() < gpus_.size() && dst.index() < gpus_.size(), "rank out of range");
  if (src == dst) return;
  const std::shared_ptr<const NextHops> table = table_for(dst.value);
  const DeviceIndex target = gpus_[dst.index()];
  const std::uint32_t key = dest_key_[dst.index()];
  DeviceIndex u = gpus_[src.index()];
  while (u != target) {
    const auto next = table->at(u);
    MOESIM_CHECK(!next.empty(), "no next hop from device {} to device {}", u, target);
    const DirectedLinkId d = next[next.size() == 1 ? 0 : key % next.size()];
    out.push_back(d);
    u = graph_.head(d);
  }
}

}  // namespace moesim::network
