#include "sim/network/collectives/flow_plan.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

std::size_t FlowPlan::flow_count() const {
  std::size_t n = 0;
  for (const Stage& s : stages) n += s.flow_count();
  return n;
}

std::size_t GroupLayout::per_node_max() const {
  std::size_t m = 0;
  for (const auto& n : nodes) m = std::max(m, n.size());
  return m;
}

namespace {

// NCCL's ring search inside a node (src/graph/search.cpp): it orders a node's GPUs so that the
// ring follows the fastest links rather than the rank order, which on a DGX-1 hybrid cube-mesh
// finds the cycle of doubled NVLinks (0-3-2-1-5-6-7-4) where rank order would cross the
// QPI-linked 3 -> 4 pair. Here: the order of `members` (positions in `ranks`) whose slowest
// consecutive route is fastest, over all orders starting at the first member (up to 8 members;
// ties keep the rank order, so uniform nodes such as NVSwitch ones are left as they are).
void search_ring(const Topology& topo, const std::vector<std::uint32_t>& ranks,
                 std::vector<std::uint32_t>& members) {
  const std::size_t k = members.size();
  if (k < 4 || k > 8) return;
  std::vector<std::vector<double>> bw(k, std::vector<double>(k, 0.0));
  double fastest = 0;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < k; ++j) {
      if (i == j) continue;
      bw[i][j] =
          topo.route_bandwidth(RankId{ranks[members[i]]}, RankId{ranks[members[j]]}).bytes_per_s;
      fastest = std::max(fastest, bw[i][j]);
    }
  }
  // The enumeration NCCL-like search implies (every order from the rank order on, in
  // lexicographic order, kept when strictly better) ends at the lexicographically first order
  // whose bottleneck is the largest. Found directly: for each link speed from the fastest down,
  // a depth-first search in lexicographic order over the links at least that fast; the first
  // speed with a ring gives that order (the same one, at a fraction of the k!/k orders' cost).
  std::vector<double> speeds;
  for (const auto& row : bw) speeds.insert(speeds.end(), row.begin(), row.end());
  std::sort(speeds.begin(), speeds.end(), std::greater<>());
  speeds.erase(std::unique(speeds.begin(), speeds.end()), speeds.end());
  std::vector<std::size_t> order(k);
  for (std::size_t i = 0; i < k; ++i) order[i] = i;
  const auto bottleneck = [&](const std::vector<std::size_t>& o) {
    double b = bw[o[k - 1]][o[0]];
    for (std::size_t i = 0; i + 1 < k; ++i) b = std::min(b, bw[o[i]][o[i + 1]]);
    return b;
  };
  if (bottleneck(order) >= fastest) return;  // the rank order already runs at the fastest link
  std::vector<std::size_t> path(k);
  std::vector<char> used(k, 0);
  path[0] = 0;
  used[0] = 1;
  double floor = 0.0;
  // Extends path[0..depth) with unused members in index order over links >= floor.
  const auto extend = [&](const auto& self, std::size_t depth) -> bool {
    if (depth == k) return bw[path[k - 1]][path[0]] >= floor;
    for (std::size_t v = 1; v < k; ++v) {
      if (used[v] || bw[path[depth - 1]][v] < floor) continue;
      used[v] = 1;
      path[depth] = v;
      if (self(self, depth + 1)) return true;
      used[v] = 0;
    }
    return false;
  };
  std::vector<std::size_t> best = order;
  for (double speed : speeds) {
    floor = speed;
    std::fill(used.begin() + 1, used.end(), 0);
    if (extend(extend, 1)) {
      best = path;
      break;
    }
  }
  // The rank order when no order is better (ties keep it).
  if (bottleneck(best) <= bottleneck(order)) best = order;
  std::vector<std::uint32_t> reordered(k);
  for (std::size_t i = 0; i < k; ++i) reordered[i] = members[best[i]];
  members = std::move(reordered);
}

}  // namespace

GroupLayout make_layout(const Topology& topo, const CommOp& op) {
  GroupLayout layout;
  layout.ranks.reserve(op.ranks.size());
  std::map<int, std::size_t> node_slot;  // node -> index in layout.nodes, by first appearance
  for (std::size_t i = 0; i < op.ranks.size(); ++i) {
    const std::uint32_t r = op.ranks[i].value;
    layout.ranks.push_back(r);
    const int node = topo.node_of(RankId{r});
    auto [it, inserted] = node_slot.emplace(node, layout.nodes.size());
    if (inserted) layout.nodes.emplace_back();
    layout.nodes[it->second].push_back(static_cast<std::uint32_t>(i));
  }
  for (auto& members : layout.nodes) search_ring(topo, layout.ranks, members);
  return layout;
}

int network_channels(const Topology& topo, const GroupLayout& layout) {
  if (layout.nodes_spanned() <= 1) return 1;
  std::size_t nics = 0;
  for (const Device& d : topo.devices()) {
    if (d.kind == DeviceKind::nic && d.node == 0) ++nics;
  }
  return static_cast<int>(std::max<std::size_t>(1, std::min(nics, layout.per_node_max())));
}

LinkClass link_class(const Topology& topo, std::uint32_t src, std::uint32_t dst) {
  LinkClass c = LinkClass::nvlink;
  for (DirectedLinkId d : topo.route(RankId{src}, RankId{dst})) {
    switch (topo.link_of(d).spec.kind) {
      case LinkKind::network:
        return LinkClass::net;
      case LinkKind::pcie:
      case LinkKind::cpu:
        c = LinkClass::pci;
        break;
      case LinkKind::nvlink:
        break;
    }
  }
  return c;
}

namespace {

// The NIC a route leaves its node by (the device the first network link leaves), if any.
std::optional<DeviceIndex> nic_toward(const Topology& topo, std::uint32_t src, std::uint32_t dst) {
  for (DirectedLinkId d : topo.route(RankId{src}, RankId{dst})) {
    if (topo.link_of(d).spec.kind == LinkKind::network) return topo.tail_of(d);
  }
  return std::nullopt;
}

// The bandwidth of the route from `src` to its first network link toward `dst` (another
// node): the slowest link on its way to the NIC, the NIC's own port included.
double nic_path_bandwidth_bps(const Topology& topo, std::uint32_t src, std::uint32_t dst) {
  double slowest = std::numeric_limits<double>::infinity();
  for (DirectedLinkId d : topo.route(RankId{src}, RankId{dst})) {
    slowest = std::min(slowest, topo.capacity(d));
    if (topo.link_of(d).spec.kind == LinkKind::network) break;
  }
  return slowest;
}

}  // namespace

std::vector<std::vector<std::size_t>> channel_entries(const Topology& topo,
                                                      const GroupLayout& layout, int channels,
                                                      ChannelExit exit) {
  const std::size_t k = layout.nodes_spanned();
  std::vector<std::vector<std::size_t>> entries(static_cast<std::size_t>(std::max(channels, 0)),
                                                std::vector<std::size_t>(k, 0));
  for (std::size_t m = 0; m < k; ++m) {
    const auto& node = layout.nodes[m];
    // The NICs the node's members leave by, by first appearance in node order, and the
    // members next to each (positions in `node`, node order).
    std::vector<DeviceIndex> nics;
    std::vector<std::vector<std::size_t>> next_to;
    if (k > 1) {
      const std::uint32_t peer = layout.ranks[layout.nodes[(m + 1) % k].front()];
      for (std::size_t j = 0; j < node.size(); ++j) {
        const auto nic = nic_toward(topo, layout.ranks[node[j]], peer);
        if (!nic) continue;
        const auto it = std::find(nics.begin(), nics.end(), *nic);
        if (it == nics.end()) {
          nics.push_back(*nic);
          next_to.push_back({j});
        } else {
          next_to[static_cast<std::size_t>(it - nics.begin())].push_back(j);
        }
      }
    }
    // NCCL scores a channel's GPU <-> NIC paths by bandwidth (search.cc: the net hops must
    // carry the ring's bwInter), so where several members share a NIC it enters, and a ring
    // leaves, at members with the fastest way to it: aws-p3dn's ring enters and leaves on the
    // NIC's socket, not across the 6 GB/s inter-socket link. Stable: ties keep node order.
    if (k > 1 && !nics.empty()) {
      const std::uint32_t peer = layout.ranks[layout.nodes[(m + 1) % k].front()];
      std::vector<double> to_nic_bps(node.size());
      for (std::size_t j = 0; j < node.size(); ++j) {
        to_nic_bps[j] = nic_path_bandwidth_bps(topo, layout.ranks[node[j]], peer);
      }
      const auto score = [&](std::size_t j) {
        if (exit == ChannelExit::entry_only) return to_nic_bps[j];
        // The ring leaves the node from the member before its entry (lower_ring's rotation).
        return std::min(to_nic_bps[j], to_nic_bps[(j + node.size() - 1) % node.size()]);
      };
      for (auto& at_nic : next_to) {
        std::stable_sort(at_nic.begin(), at_nic.end(),
                         [&](std::size_t a, std::size_t b) { return score(a) > score(b); });
      }
    }
    for (std::size_t c = 0; c < entries.size(); ++c) {
      if (nics.empty()) {
        entries[c][m] = c % node.size();
        continue;
      }
      const auto& at_nic = next_to[c % nics.size()];
      entries[c][m] = at_nic[(c / nics.size()) % at_nic.size()];
    }
  }
  return entries;
}

void ring_hop_flows(const Topology& topo, const std::unordered_set<std::uint32_t>& members,
                    bool pxn, std::uint32_t src, std::uint32_t dst, double bytes,
                    std::vector<FlowSpec>& flows) {
  if (pxn && topo.node_of(RankId{src}) != topo.node_of(RankId{dst})) {
    if (const auto proxy = pxn_proxy(topo, src, dst); proxy && members.count(*proxy) != 0) {
      flows.push_back(FlowSpec{src, *proxy, bytes, Segment::full});
      flows.push_back(FlowSpec{*proxy, dst, bytes, Segment::full});
      return;
    }
  }
  flows.push_back(FlowSpec{src, dst, bytes, Segment::full});
}

GroupNetwork group_network(const Topology& topo, const GroupLayout& layout) {
  GroupNetwork out;
  const std::size_t k = layout.nodes_spanned();
  if (k <= 1) return out;
  double slowest = std::numeric_limits<double>::infinity();
  std::size_t fewest = std::numeric_limits<std::size_t>::max();
  std::size_t nics_on_node0 = 0;  // nodes are alike (Topology::finalize checks GPUs per node)
  for (const Device& d : topo.devices()) {
    if (d.kind == DeviceKind::nic && d.node == 0) ++nics_on_node0;
  }
  std::vector<DirectedLinkId> ports;  // the first network link of each member's route
  for (std::size_t i = 0; i < k; ++i) {
    const std::uint32_t peer = layout.ranks[layout.nodes[(i + 1) % k].front()];
    ports.clear();
    for (std::uint32_t pos : layout.nodes[i]) {
      for (DirectedLinkId d : topo.route(RankId{layout.ranks[pos]}, RankId{peer})) {
        if (topo.link_of(d).spec.kind != LinkKind::network) continue;
        // Distinct NICs: one port per NIC device (a NIC's ports are told apart by their link).
        const bool seen = std::any_of(ports.begin(), ports.end(), [&](DirectedLinkId p) {
          return topo.tail_of(p) == topo.tail_of(d);
        });
        if (!seen) ports.push_back(d);
        break;
      }
    }
    // Every NIC of the node (a full-node group): the node's whole network, all ports of every
    // NIC, as before; else the ports the members' routes leave by.
    const int node = topo.node_of(RankId{layout.ranks[layout.nodes[i].front()]});
    double sum = 0;
    if (ports.size() >= nics_on_node0) {
      sum = topo.node_network_capacity(node).bytes_per_s;
    } else {
      for (DirectedLinkId d : ports) sum += topo.capacity(d);
    }
    slowest = std::min(slowest, sum);
    fewest = std::min(fewest, ports.size());
  }
  out.nics_per_node = fewest;
  out.bytes_per_s = slowest;
  return out;
}

std::optional<std::uint32_t> pxn_proxy(const Topology& topo, std::uint32_t src, std::uint32_t dst) {
  const RankId s{src};
  const RankId d{dst};
  const int node = topo.node_of(s);
  if (node == topo.node_of(d) || topo.local_rank(s) == topo.local_rank(d)) return std::nullopt;
  // The GPU of src's node with dst's local rank, where ranks go node by node (generated
  // clusters, the presets); other numberings are checked below and left without PXN.
  const std::uint32_t proxy = src - static_cast<std::uint32_t>(topo.local_rank(s)) +
                              static_cast<std::uint32_t>(topo.local_rank(d));
  const RankId p{proxy};
  if (proxy >= topo.gpu_count() || topo.node_of(p) != node ||
      topo.local_rank(p) != topo.local_rank(d)) {
    return std::nullopt;
  }
  if (link_class(topo, src, proxy) != LinkClass::nvlink) return std::nullopt;
  const auto own = nic_toward(topo, src, dst);
  const auto rail = nic_toward(topo, proxy, dst);
  if (!own || !rail || *own == *rail) return std::nullopt;
  return proxy;
}

bool nvls_available(const Topology& topo, const CommOp& op) {
  if (op.ranks.size() < 2) return false;
  const int node = topo.node_of(op.ranks.front());
  for (RankId r : op.ranks) {
    if (topo.node_of(r) != node) return false;
  }
  // NVLS needs NVLink SHARP: an NVSwitch node of Hopper-class GPUs (gpu_generation.hpp).
  return topo.node_has_nvswitch(node) && has_nvlink_sharp(nccl_gpu_generation(topo.gpu_model()));
}

}  // namespace moesim::network

namespace moesim::network {

Level level_of(const Topology& topo, const CommOp& op) {
  if (op.ranks.empty()) return Level::intra_node;
  const int node = topo.node_of(op.ranks.front());
  for (RankId r : op.ranks) {
    if (topo.node_of(r) != node) return Level::inter_node;
  }
  return Level::intra_node;
}

const AlphaBeta* CollectiveConfig::find_fit(CommKind kind, Level level, std::size_t ranks) const {
  if (calibrated.empty()) return nullptr;
  if (auto it = calibrated.find(FitKey{kind, level, ranks}); it != calibrated.end()) {
    return &it->second;
  }
  if (auto it = calibrated.find(FitKey{kind, level, 0}); it != calibrated.end()) {
    return &it->second;
  }
  return nullptr;
}

double busbw_factor(CommKind kind, std::size_t n) { return traits_of(kind).bus_factor(n); }

double fit_time_us(const AlphaBeta& fit, const CommOp& op) {
  const double bus_bytes = op.bytes.as_double() * busbw_factor(op.kind, op.ranks.size());
  return fit.alpha_us + bus_bytes / (fit.beta_gbps * 1e9) * 1e6;
}

double ll_max_bps(const Topology& topo, const NcclTuning& t, std::size_t nodes) {
  return t.ll_max_bps(nccl_gpu_generation(topo.gpu_model()), nodes,
                      topo.cpu_vendor() == CpuVendor::amd);
}

SimTime ll_min_transfer(const Topology& topo, const NcclTuning& t, Protocol protocol,
                        std::size_t nodes, double bus_bytes) {
  return t.protocol_min_transfer(protocol, nccl_gpu_generation(topo.gpu_model()), nodes,
                                 topo.cpu_vendor() == CpuVendor::amd, bus_bytes);
}

}  // namespace moesim::network
