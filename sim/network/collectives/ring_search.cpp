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
  // hops[i][j]: the links (indices into `capacity`) of the hop from member i to member j.
  FixedSpeedSearch(const std::vector<std::vector<std::vector<std::uint32_t>>>& hops,
                   const std::vector<std::vector<std::size_t>>& candidates,
                   const std::vector<double>& capacity, double speed, std::size_t target,
                   std::int64_t& budget)
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
    for (std::uint32_t d : hops_[i][j]) remaining_[d] += speed_;
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

  const std::vector<std::vector<std::vector<std::uint32_t>>>& hops_;
  const std::vector<std::vector<std::size_t>>& candidates_;
  std::vector<double> remaining_;
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
  // One route per pair; its class and bottleneck as link_class() and route_bandwidth() give them.
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      if (i == j) continue;
      auto& path = routes[i][j];
      topo.route(RankId{members[i]}, RankId{members[j]}, path);
      double bw = std::numeric_limits<double>::infinity();
      for (DirectedLinkId d : path) {
        if (topo.link_of(d).spec.kind != LinkKind::nvlink) classes[i][j] = LinkClass::pci;
        const auto times = std::count(path.begin(), path.end(), d);
        bw = std::min(bw, topo.capacity(d) / static_cast<double>(times));
      }
      route_bw[i][j] = bw;
    }
  }

  std::int64_t budget = kStepsInAll;
  // NVLink-only paths (NCCL's first typeIntra, PATH_NVL). Where they form no ring NCCL widens
  // the path type; moesim keeps the layout's single ring there (see the header).
  // The links the NVLink hops cross, numbered 0.. in `capacity` (the search's state is flat).
  std::vector<std::vector<std::vector<std::uint32_t>>> hops(
      k, std::vector<std::vector<std::uint32_t>>(k));
  std::unordered_map<DirectedLinkId, std::uint32_t> index;
  std::vector<double> capacity;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      if (i == j || classes[i][j] != LinkClass::nvlink) continue;
      for (DirectedLinkId d : routes[i][j]) {
        const auto [it, added] = index.emplace(d, static_cast<std::uint32_t>(capacity.size()));
        if (added) capacity.push_back(topo.capacity(d));
        hops[i][j].push_back(it->second);
      }
    }
  }
  // Next-member order, as NCCL's ncclTopoSearchNextGpuSort: widest path first, then the
  // nearest index after the current member.
  std::vector<std::vector<std::size_t>> candidates(k);
  // Most any ring set can move: a member's distinct first links out (and last links in). At
  // speed s a member takes part in at most sum over those ports of floor(capacity / s) rings.
  double bound = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> out_ports(k), in_ports(k);
  for (std::size_t i = 0; i < k; ++i) {
    std::unordered_map<std::uint32_t, double> out, in;
    for (std::size_t step = 1; step < k; ++step) {
      const std::size_t j = (i + step) % k;
      if (!hops[i][j].empty()) {
        candidates[i].push_back(j);
        out.emplace(hops[i][j].front(), capacity[hops[i][j].front()]);
      }
      if (!hops[j][i].empty()) in.emplace(hops[j][i].back(), capacity[hops[j][i].back()]);
    }
    std::stable_sort(candidates[i].begin(), candidates[i].end(),
                     [&](std::size_t a, std::size_t b) { return route_bw[i][a] > route_bw[i][b]; });
    double out_sum = 0, in_sum = 0;
    for (const auto& [d, c] : out) {
      out_sum += c;
      out_ports[i].push_back(c);
    }
    for (const auto& [d, c] : in) {
      in_sum += c;
      in_ports[i].push_back(c);
    }
    bound = std::min({bound, out_sum, in_sum});
  }
  const auto most_rings = [&](double speed) {
    std::size_t most = kMaxSearchRings;
    for (std::size_t i = 0; i < k; ++i) {
      for (const auto* ports : {&out_ports[i], &in_ports[i]}) {
        std::size_t rings = 0;
        for (double c : *ports) {
          rings += static_cast<std::size_t>(std::floor(c / speed + kRelativeSlack));
        }
        most = std::min(most, rings);
      }
    }
    return most;
  };
  if (!(bound > 0) || !std::isfinite(bound)) return single;

  std::vector<double> link_speeds = capacity;
  std::sort(link_speeds.begin(), link_speeds.end());
  link_speeds.erase(std::unique(link_speeds.begin(), link_speeds.end()), link_speeds.end());
  std::vector<double> speeds;
  for (double c : link_speeds) {
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
    const std::size_t target = most_rings(speed);
    if (target == 0 || static_cast<double>(target) * speed <= best_total * (1.0 + kRelativeSlack)) {
      continue;
    }
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
  RingSetMemo* memo = topo.ring_set_memo();
  if (memo == nullptr) return search_rings(topo, members);
  {
    const std::lock_guard<std::mutex> lock(memo->mutex);
    if (auto it = memo->sets.find(members); it != memo->sets.end()) return it->second;
  }
  RingSet set = search_rings(topo, members);
  const std::lock_guard<std::mutex> lock(memo->mutex);
  return memo->sets.emplace(std::move(members), std::move(set)).first->second;
}

}  // namespace moesim::network
