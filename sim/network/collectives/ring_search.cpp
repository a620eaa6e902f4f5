#include "sim/network/collectives/ring_search.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_map>

#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

namespace {

// Depth-first steps per speed and for the whole search, bounded as NCCL bounds its own
// (NCCL_SEARCH_TIMEOUT 1 << 18, NCCL_SEARCH_GLOBAL_TIMEOUT 3 << 19, src/graph/search.cc) but
// smaller: moesim searches once per operation, NCCL once per communicator. A DGX-1 finds its six
// rings in far fewer steps.
constexpr std::int64_t kStepsPerSpeed = std::int64_t{1} << 12;
constexpr std::int64_t kStepsInAll = std::int64_t{1} << 15;
constexpr double kRelativeSlack = 1e-9;

// One search at one per-ring speed: as many rings as fit, each ring consuming `speed` on every
// directed link of every hop it takes (a link crossed twice by one hop pays twice).
class FixedSpeedSearch {
 public:
  FixedSpeedSearch(const std::vector<std::vector<std::vector<DirectedLinkId>>>& hops,
                   const std::vector<std::vector<std::size_t>>& candidates,
                   const std::unordered_map<DirectedLinkId, double>& capacity, double speed,
                   std::size_t target, std::int64_t& budget)
      : hops_(hops),
        candidates_(candidates),
        remaining_(capacity),
        speed_(speed),
        target_(target),
        budget_(budget),
        local_budget_(kStepsPerSpeed) {}

  std::vector<std::vector<std::size_t>> run() {
    new_ring();
    return best_;
  }

 private:
  bool out_of_steps() const { return budget_ <= 0 || local_budget_ <= 0; }
  bool done() const { return best_.size() >= target_ || out_of_steps(); }

  bool take(std::size_t i, std::size_t j) {
    const auto& links = hops_[i][j];
    std::size_t taken = 0;
    for (; taken < links.size(); ++taken) {
      double& left = remaining_[links[taken]];
      if (left < speed_ * (1.0 - kRelativeSlack)) break;
      left -= speed_;
    }
    if (taken == links.size()) return true;
    for (std::size_t u = 0; u < taken; ++u) remaining_[links[u]] += speed_;
    return false;
  }
  void release(std::size_t i, std::size_t j) {
    for (DirectedLinkId d : hops_[i][j]) remaining_[d] += speed_;
  }

  // Starts the next ring at member 0 (every ring visits every member, so any start will do).
  void new_ring() {
    std::vector<std::size_t> path{0};
    std::vector<char> used(hops_.size(), 0);
    used[0] = 1;
    grow(path, used);
  }

  void grow(std::vector<std::size_t>& path, std::vector<char>& used) {
    --budget_;
    --local_budget_;
    if (out_of_steps()) return;
    const std::size_t k = hops_.size();
    const std::size_t last = path.back();
    if (path.size() == k) {
      if (hops_[last][0].empty() || !take(last, 0)) return;
      current_.push_back(path);
      if (current_.size() > best_.size()) best_ = current_;
      if (!done()) new_ring();
      current_.pop_back();
      release(last, 0);
      return;
    }
    for (std::size_t j : candidates_[last]) {
      if (used[j] || !take(last, j)) continue;
      used[j] = 1;
      path.push_back(j);
      grow(path, used);
      path.pop_back();
      used[j] = 0;
      release(last, j);
      if (done()) return;
    }
  }

  const std::vector<std::vector<std::vector<DirectedLinkId>>>& hops_;
  const std::vector<std::vector<std::size_t>>& candidates_;
  std::unordered_map<DirectedLinkId, double> remaining_;
  double speed_;
  std::size_t target_;
  std::int64_t& budget_;
  std::int64_t local_budget_;
  std::vector<std::vector<std::size_t>> current_;
  std::vector<std::vector<std::size_t>> best_;
};

}  // namespace

double ring_set_bandwidth(const Topology& topo,
                          const std::vector<std::vector<std::uint32_t>>& rings) {
  if (rings.empty()) return 0.0;
  std::unordered_map<DirectedLinkId, int> uses;
  std::vector<std::vector<DirectedLinkId>> ring_links(rings.size());
  for (std::size_t r = 0; r < rings.size(); ++r) {
    const auto& ring = rings[r];
    for (std::size_t i = 0; i < ring.size(); ++i) {
      for (DirectedLinkId d : topo.route(RankId{ring[i]}, RankId{ring[(i + 1) % ring.size()]})) {
        ++uses[d];
        ring_links[r].push_back(d);
      }
    }
  }
  double slowest = std::numeric_limits<double>::infinity();
  for (const auto& links : ring_links) {
    for (DirectedLinkId d : links) slowest = std::min(slowest, topo.capacity(d) / uses.at(d));
  }
  if (!std::isfinite(slowest)) return 0.0;
  return static_cast<double>(rings.size()) * slowest;
}

RingSet search_rings(const Topology& topo, const std::vector<std::uint32_t>& members) {
  RingSet single{{members}, ring_set_bandwidth(topo, {members})};
  const std::size_t k = members.size();
  if (k < 3 || k > 16) return single;

  std::vector<std::vector<std::vector<DirectedLinkId>>> routes(
      k, std::vector<std::vector<DirectedLinkId>>(k));
  std::vector<std::vector<LinkClass>> classes(k, std::vector<LinkClass>(k, LinkClass::nvlink));
  std::vector<std::vector<double>> route_bw(k, std::vector<double>(k, 0.0));
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      if (i == j) continue;
      routes[i][j] = topo.route(RankId{members[i]}, RankId{members[j]});
      classes[i][j] = link_class(topo, members[i], members[j]);
      route_bw[i][j] = topo.route_bandwidth(RankId{members[i]}, RankId{members[j]}).bytes_per_s;
    }
  }

  std::int64_t budget = kStepsInAll;
  // NVLink-only paths (NCCL's first typeIntra, PATH_NVL). Where they form no ring NCCL widens
  // the path type; moesim keeps the layout's single ring there (see the header).
  std::vector<std::vector<std::vector<DirectedLinkId>>> hops(
      k, std::vector<std::vector<DirectedLinkId>>(k));
  std::unordered_map<DirectedLinkId, double> capacity;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      if (i == j || classes[i][j] != LinkClass::nvlink) continue;
      hops[i][j] = routes[i][j];
      for (DirectedLinkId d : hops[i][j]) capacity.emplace(d, topo.capacity(d));
    }
  }
  // Next-member order, as NCCL's ncclTopoSearchNextGpuSort: widest path first, then the
  // nearest index after the current member.
  std::vector<std::vector<std::size_t>> candidates(k);
  // Most any ring set can move: a member's distinct first links out (and last links in).
  double bound = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < k; ++i) {
    std::unordered_map<DirectedLinkId, double> out, in;
    for (std::size_t step = 1; step < k; ++step) {
      const std::size_t j = (i + step) % k;
      if (!hops[i][j].empty()) {
        candidates[i].push_back(j);
        out.emplace(hops[i][j].front(), topo.capacity(hops[i][j].front()));
      }
      if (!hops[j][i].empty()) in.emplace(hops[j][i].back(), topo.capacity(hops[j][i].back()));
    }
    std::stable_sort(candidates[i].begin(), candidates[i].end(),
                     [&](std::size_t a, std::size_t b) { return route_bw[i][a] > route_bw[i][b]; });
    double out_sum = 0, in_sum = 0;
    for (const auto& [d, c] : out) out_sum += c;
    for (const auto& [d, c] : in) in_sum += c;
    bound = std::min({bound, out_sum, in_sum});
  }
  if (!(bound > 0) || !std::isfinite(bound)) return single;

  std::vector<double> speeds;
  for (const auto& [d, c] : capacity) {
    for (std::size_t m = 1; m <= kMaxSearchRings; ++m) speeds.push_back(c / static_cast<double>(m));
  }
  std::sort(speeds.begin(), speeds.end(), std::greater<>());
  speeds.erase(std::unique(speeds.begin(), speeds.end(),
                           [](double a, double b) { return std::abs(a - b) <= 1e-9 * a; }),
               speeds.end());
  std::vector<std::vector<std::size_t>> best;
  double best_total = 0.0;
  for (double speed : speeds) {
    if (speed > bound * (1.0 + kRelativeSlack)) continue;
    if (best_total >= bound * (1.0 - kRelativeSlack) || budget <= 0) break;
    const auto target = std::min<std::size_t>(
        kMaxSearchRings, static_cast<std::size_t>(std::floor(bound / speed + kRelativeSlack)));
    if (static_cast<double>(target) * speed <= best_total * (1.0 + kRelativeSlack)) continue;
    auto found = FixedSpeedSearch(hops, candidates, capacity, speed, target, budget).run();
    const double total = static_cast<double>(found.size()) * speed;
    if (total > best_total * (1.0 + kRelativeSlack)) {
      best_total = total;
      best = std::move(found);
    }
  }
  if (best.empty()) return single;
  RingSet set;
  for (const auto& ring : best) {
    std::vector<std::uint32_t> order;
    order.reserve(k);
    for (std::size_t i : ring) order.push_back(members[i]);
    set.rings.push_back(std::move(order));
  }
  set.bytes_per_s = ring_set_bandwidth(topo, set.rings);
  if (set.rings.size() > 1 && set.bytes_per_s > single.bytes_per_s * (1.0 + kRelativeSlack)) {
    return set;
  }
  return single;
}

RingSet node_ring_set(const Topology& topo, const GroupLayout& layout) {
  std::vector<std::uint32_t> members;
  if (!layout.nodes.empty()) {
    for (std::uint32_t pos : layout.nodes.front()) members.push_back(layout.ranks[pos]);
  }
  return search_rings(topo, members);
}

}  // namespace moesim::network
