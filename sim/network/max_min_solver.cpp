#include "sim/network/max_min_solver.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace moesim::network {

void MaxMinSolver::solve(std::span<const double> capacity,
                         std::span<const std::uint32_t> route_begin,
                         std::span<const std::uint16_t> route_len,
                         std::span<const std::uint32_t> links, std::span<double> rate) {
  const std::size_t flows = route_begin.size();
  const std::size_t n_links = capacity.size();
  count_.assign(n_links, 0);
  for (std::size_t f = 0; f < flows; ++f) {
    const std::uint32_t* r = links.data() + route_begin[f];
    for (std::uint16_t h = 0; h < route_len[f]; ++h) ++count_[r[h]];
  }
  // Link -> flows (CSR).
  offset_.assign(n_links + 1, 0);
  for (std::size_t l = 0; l < n_links; ++l) offset_[l + 1] = offset_[l] + count_[l];
  members_.resize(offset_[n_links]);
  {
    std::vector<std::uint32_t>& fill = fill_;
    fill.assign(offset_.begin(), offset_.end() - 1);
    for (std::size_t f = 0; f < flows; ++f) {
      const std::uint32_t* r = links.data() + route_begin[f];
      for (std::uint16_t h = 0; h < route_len[f]; ++h) {
        members_[fill[r[h]]++] = static_cast<std::uint32_t>(f);
      }
    }
  }
  remaining_.assign(capacity.begin(), capacity.end());
  frozen_.assign(flows, 0);
  for (std::size_t f = 0; f < flows; ++f) {
    if (route_len[f] == 0) {
      rate[f] = std::numeric_limits<double>::infinity();
      frozen_[f] = 1;
    }
  }
  heap_.clear();
  for (std::size_t l = 0; l < n_links; ++l) {
    if (count_[l] > 0) heap_.emplace_back(remaining_[l] / count_[l], static_cast<std::uint32_t>(l));
  }
  auto cmp = std::greater<>();
  std::make_heap(heap_.begin(), heap_.end(), cmp);
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    const auto [stored, l] = heap_.back();
    heap_.pop_back();
    if (count_[l] == 0) continue;
    const double share = std::max(0.0, remaining_[l]) / count_[l];
    // Shares only grow; an entry below the current share (beyond rounding) is stale.
    if (share > stored * (1 + 1e-12) + 1e-300) {
      heap_.emplace_back(share, l);
      std::push_heap(heap_.begin(), heap_.end(), cmp);
      continue;
    }
    for (std::uint32_t k = offset_[l]; k < offset_[l + 1]; ++k) {
      const std::uint32_t f = members_[k];
      if (frozen_[f]) continue;
      frozen_[f] = 1;
      rate[f] = share;
      const std::uint32_t* r = links.data() + route_begin[f];
      for (std::uint16_t h = 0; h < route_len[f]; ++h) {
        remaining_[r[h]] -= share;
        --count_[r[h]];
      }
    }
  }
}

}  // namespace moesim::network
