#include "sim/network/collectives/pxn_relays.hpp"

#include <utility>

#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

PxnRelays::PxnRelays(const Topology& topo, std::vector<std::uint32_t> ranks)
    : topo_(&topo), ranks_(std::move(ranks)) {
  const std::size_t n = ranks_.size();
  position_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) position_.emplace(ranks_[i], i);
  if (n > kMaxTabulatedRanks) return;
  table_.assign(n * n, -1);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      if (const auto p = ask(i, j)) table_[i * n + j] = static_cast<std::int32_t>(*p);
    }
  }
  topo_ = nullptr;  // a remembered table outlives no topology: it never routes again
  position_ = {};   // nor looks a proxy up
}

std::optional<std::size_t> PxnRelays::ask(std::size_t i, std::size_t j) const {
  const auto proxy = pxn_proxy(*topo_, ranks_[i], ranks_[j]);
  if (!proxy) return std::nullopt;
  const auto it = position_.find(*proxy);
  if (it == position_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::size_t> PxnRelays::proxy_of(std::size_t i, std::size_t j) const {
  if (ranks_.size() > kMaxTabulatedRanks) return ask(i, j);
  const std::int32_t p = table_[i * ranks_.size() + j];
  if (p < 0) return std::nullopt;
  return static_cast<std::size_t>(p);
}

std::shared_ptr<const PxnRelays> pxn_relays(const Topology& topo,
                                            const std::vector<std::uint32_t>& ranks) {
  PxnRelayMemo* memo = topo.pxn_relay_memo();
  if (memo == nullptr || ranks.size() > PxnRelays::kMaxTabulatedRanks) {
    return std::make_shared<const PxnRelays>(topo, ranks);
  }
  {
    const std::lock_guard<std::mutex> lock(memo->mutex);
    if (auto it = memo->groups.find(ranks); it != memo->groups.end()) return it->second;
  }
  auto relays = std::make_shared<const PxnRelays>(topo, ranks);
  const std::lock_guard<std::mutex> lock(memo->mutex);
  return memo->groups.emplace(ranks, std::move(relays)).first->second;
}

}  // namespace moesim::network
