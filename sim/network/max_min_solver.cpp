#include "sim/network/max_min_solver.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>

namespace moesim::network {

namespace {

// A heap entry is (share, link id) packed into one 128-bit integer: the share's bits above the
// id. Shares are never negative (remaining capacity is clamped at zero) and the bits of
// non-negative doubles order as unsigned integers, so the integer order is the (share, id)
// order, and one branch-free compare replaces the pair's two.
__extension__ using Entry = unsigned __int128;

Entry make_entry(double share, std::uint32_t link) {
  return (static_cast<Entry>(std::bit_cast<std::uint64_t>(share)) << 32) | link;
}
double share_of(Entry e) { return std::bit_cast<double>(static_cast<std::uint64_t>(e >> 32)); }
std::uint32_t link_of(Entry e) { return static_cast<std::uint32_t>(e); }

// A 4-ary min-heap: half the depth of a binary one, and a node's four children share a cache
// line, so a pop costs fewer dependent loads. The order is total and each link has at most one
// entry, so the pops come out in the same sequence as from any heap.
void heap_sift_down(std::vector<Entry>& heap, std::size_t i) {
  const std::size_t n = heap.size();
  const Entry e = heap[i];
  for (;;) {
    const std::size_t first = 4 * i + 1;
    if (first >= n) break;
    std::size_t best = first;
    Entry best_entry = heap[first];
    const std::size_t last = std::min(first + 4, n);
    for (std::size_t c = first + 1; c < last; ++c) {
      const Entry x = heap[c];
      const bool less = x < best_entry;
      best = less ? c : best;
      best_entry = less ? x : best_entry;
    }
    if (!(best_entry < e)) break;
    heap[i] = best_entry;
    i = best;
  }
  heap[i] = e;
}

Entry heap_pop(std::vector<Entry>& heap) {
  const Entry top = heap.front();
  heap.front() = heap.back();
  heap.pop_back();
  if (!heap.empty()) heap_sift_down(heap, 0);
  return top;
}

// The top entry replaced by `e` (not smaller): one sift instead of a pop and a push.
void heap_replace_top(std::vector<Entry>& heap, Entry e) {
  heap.front() = e;
  heap_sift_down(heap, 0);
}

void heap_make(std::vector<Entry>& heap) {
  for (std::size_t i = heap.size() / 4 + 1; i-- > 0;) {
    if (i < heap.size()) heap_sift_down(heap, i);
  }
}

}  // namespace

// Work is proportional to the links the given flows touch, not to all links: per-link state
// lives in arrays indexed by link id that are kept zero between calls (only the touched entries
// are written and reset), and the CSR is built over the touched links only.
void MaxMinSolver::solve(std::span<const double> capacity,
                         std::span<const std::uint32_t> route_begin,
                         std::span<const std::uint16_t> route_len,
                         std::span<const std::uint32_t> links, std::span<double> rate) {
  const std::size_t flows = route_begin.size();
  if (count_.size() < capacity.size()) {
    count_.resize(capacity.size(), 0);
    slot_.resize(capacity.size(), 0);
    remaining_.resize(capacity.size(), 0.0);
    fill_.resize(capacity.size(), 0);
  }
  touched_.clear();
  for (std::size_t f = 0; f < flows; ++f) {
    const std::uint32_t* r = links.data() + route_begin[f];
    for (std::uint16_t h = 0; h < route_len[f]; ++h) {
      if (count_[r[h]]++ == 0) touched_.push_back(r[h]);
    }
  }
  // Touched link t = touched_[t]; its flows are members_[offset_[t] .. offset_[t+1]).
  // Remaining capacity and the fill cursor are indexed by link id (only touched entries are
  // written): one load less per hop in the loops below than going through slot_.
  const std::size_t n = touched_.size();
  offset_.resize(n + 1);
  offset_[0] = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint32_t l = touched_[t];
    slot_[l] = static_cast<std::uint32_t>(t);
    fill_[l] = offset_[t];
    offset_[t + 1] = offset_[t] + count_[l];
    remaining_[l] = capacity[l];
  }
  if (members_capacity_ < offset_[n]) {
    members_.reset();  // before allocating: never the old and the new at once
    members_capacity_ = std::max<std::size_t>(offset_[n], members_capacity_ * 3 / 2);
    members_.reset(new std::uint32_t[members_capacity_]);  // uninitialised: filled below
  }
  for (std::size_t f = 0; f < flows; ++f) {
    const std::uint32_t* r = links.data() + route_begin[f];
    for (std::uint16_t h = 0; h < route_len[f]; ++h) {
      members_[fill_[r[h]]++] = static_cast<std::uint32_t>(f);
    }
  }
  frozen_.assign(flows, 0);
  std::size_t unfrozen = flows;
  for (std::size_t f = 0; f < flows; ++f) {
    if (route_len[f] == 0) {
      rate[f] = std::numeric_limits<double>::infinity();
      frozen_[f] = 1;
      --unfrozen;
    }
  }
  heap_.clear();
  for (std::size_t t = 0; t < n; ++t)
    heap_.push_back(make_entry(remaining_[touched_[t]] / count_[touched_[t]], touched_[t]));
  fill(
      unfrozen, route_begin, route_len, links, rate,
      [&](std::uint32_t l) {
        const std::uint32_t t = slot_[l];
        return std::span<const std::uint32_t>(members_.get() + offset_[t],
                                              offset_[t + 1] - offset_[t]);
      },
      [&](std::uint32_t f) {
        if (frozen_[f]) return false;
        frozen_[f] = 1;
        return true;
      });
  // Every count is back to zero (each flow was frozen once); nothing else to reset.
}

void MaxMinSolver::solve_component(std::span<const double> capacity,
                                   std::span<const std::uint32_t> component_links,
                                   const std::vector<std::vector<std::uint32_t>>& link_flows,
                                   std::size_t component_flows,
                                   std::span<const std::uint32_t> route_begin,
                                   std::span<const std::uint16_t> route_len,
                                   std::span<const std::uint32_t> links, std::span<double> rate) {
  if (count_.size() < capacity.size()) {
    count_.resize(capacity.size(), 0);
    slot_.resize(capacity.size(), 0);
    remaining_.resize(capacity.size(), 0.0);
    fill_.resize(capacity.size(), 0);
  }
  if (frozen_stamp_.size() < rate.size()) frozen_stamp_.resize(rate.size(), 0);
  if (++epoch_ == 0) {
    std::fill(frozen_stamp_.begin(), frozen_stamp_.end(), 0);
    epoch_ = 1;
  }
  heap_.clear();
  for (const std::uint32_t l : component_links) {
    count_[l] = static_cast<std::uint32_t>(link_flows[l].size());
    remaining_[l] = capacity[l];
    heap_.push_back(make_entry(remaining_[l] / count_[l], l));
  }
  fill(
      component_flows, route_begin, route_len, links, rate,
      [&](std::uint32_t l) { return std::span<const std::uint32_t>(link_flows[l]); },
      [&](std::uint32_t f) {
        if (frozen_stamp_[f] == epoch_) return false;
        frozen_stamp_[f] = epoch_;
        return true;
      });
}

// Progressive filling over heap_ (one (share, link) entry per link, any order), count_ and
// remaining_ set for those links: `members_of(l)` lists the flows of link l, `freeze(f)` is
// true the first time it is called for f.
template <class MembersOf, class Freeze>
void MaxMinSolver::fill(std::size_t unfrozen, std::span<const std::uint32_t> route_begin,
                        std::span<const std::uint16_t> route_len,
                        std::span<const std::uint32_t> links, std::span<double> rate,
                        MembersOf members_of, Freeze freeze) {
  // Heap entries are (share, link id): ties pop in link-id order whatever subset is solved and
  // in whatever order its links come.
  heap_make(heap_);
  // Entries of links whose flows are all frozen (count zero) would each cost a pop when they
  // reach the top (at 1,024 GPUs most of a component's links: their flows freeze at another
  // link). Once they are a quarter of the heap they are filtered out in one pass and the heap
  // rebuilt (lancet at 1,024 GPUs: 4% less CPU; at a half, none): the live entries are the
  // same, and so, the order being total, is every later pop.
  std::size_t dead = 0;
  // Once every flow is frozen every count is zero: the entries left would all be skipped.
  while (unfrozen > 0 && !heap_.empty()) {
    const Entry top = heap_.front();
    const std::uint32_t l = link_of(top);
    if (count_[l] == 0) {
      heap_pop(heap_);
      if (dead > 0) --dead;
      continue;
    }
    const double stored = share_of(top);
    const double share = std::max(0.0, remaining_[l]) / count_[l];
    // Shares only grow; an entry below the current share (beyond rounding) is stale: it goes
    // back with the current share (larger: it sinks).
    if (share > stored * (1 + 1e-12) + 1e-300) {
      heap_replace_top(heap_, make_entry(share, l));
      continue;
    }
    heap_pop(heap_);
    for (const std::uint32_t f : members_of(l)) {
      if (!freeze(f)) continue;
      --unfrozen;
      rate[f] = share;
      const std::uint32_t* r = links.data() + route_begin[f];
      for (std::uint16_t h = 0; h < route_len[f]; ++h) {
        remaining_[r[h]] -= share;
        dead += --count_[r[h]] == 0;
      }
    }
    --dead;  // l itself (all its flows just froze), no longer in the heap
    if (4 * dead > heap_.size() && heap_.size() > 8) {
      std::erase_if(heap_, [&](Entry e) { return count_[link_of(e)] == 0; });
      heap_make(heap_);
      dead = 0;
    }
  }
  // Every count is back to zero (each flow was frozen once); nothing else to reset.
}

void MaxMinSolver::release_if_larger_than(std::size_t flow_hops) {
  if (members_capacity_ <= flow_hops) return;
  members_.reset();
  members_capacity_ = 0;
  frozen_ = {};
}

}  // namespace moesim::network
