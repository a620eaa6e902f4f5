#include "sim/network/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <limits>
#include <map>
#include <set>

#include "sim/core/errors.hpp"

namespace moesim::network {

namespace {

// Route weight of one link traversal, compared as one integer so that ties are exact (and ECMP
// among equal-cost spines is therefore well defined):
//   kHop                    every hop counts first (fewest switches wins),
//   + 1e6 / line rate GB/s  then slower links cost more (NVLink beats a PCIe path of equal hops),
//   + latency in ns         then lower latency;
//   + kHop / 2 per link touching a CPU: NCCL ranks paths through the host bridge or across
//     sockets (PHB, SYS) below PCIe-switch and NVLink paths (src/graph/paths.cc path types), so a
//     GPU reaches another rail's NIC over the fabric rather than through the CPU.
// kHop exceeds any sum of the bandwidth and latency terms over a path of realistic length.
constexpr std::int64_t kHop = std::int64_t{1} << 40;

std::int64_t link_weight(const LinkSpec& s, bool touches_cpu) {
  const double gbps = std::max(s.bandwidth.gbps(), 1e-3);
  const auto slow = static_cast<std::int64_t>(std::llround(std::min(1e6 / gbps, 1e9)));
  const auto lat_ns = static_cast<std::int64_t>(std::llround(s.latency.ns()));
  return kHop + (touches_cpu ? kHop / 2 : 0) + slow + lat_ns;
}

struct EdgeProps {
  std::int64_t weight = 0;
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                    EdgeProps>;

// Search from the destination outwards (weights are symmetric, links full duplex): a vertex that
// is a GPU other than the destination is reached but never expanded, so no route passes through
// a GPU.
struct NoGpuTransit {
  const std::vector<char>* is_gpu = nullptr;
  std::size_t destination = 0;
  template <class Edge>
  bool operator()(const Edge& e) const {
    const std::size_t from = e.m_source;
    return from == destination || !(*is_gpu)[from];
  }
};

}  // namespace

// Next hops toward every destination GPU: for destination g, device u's candidate directed
// links are next[g][offsets[g][u] .. offsets[g][u+1]), in directed-link order.
struct Topology::Routes {
  std::vector<std::vector<std::uint32_t>> offsets;
  std::vector<std::vector<DirectedLinkId>> next;
};

std::string_view to_string(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::gpu:
      return "gpu";
    case DeviceKind::nvswitch:
      return "nvswitch";
    case DeviceKind::pcie_switch:
      return "pcie_switch";
    case DeviceKind::cpu:
      return "cpu";
    case DeviceKind::nic:
      return "nic";
    case DeviceKind::leaf_switch:
      return "leaf_switch";
    case DeviceKind::spine_switch:
      return "spine_switch";
  }
  return "?";
}

std::optional<DeviceKind> parse_device_kind(std::string_view name) {
  for (auto k : {DeviceKind::gpu, DeviceKind::nvswitch, DeviceKind::pcie_switch, DeviceKind::cpu,
                 DeviceKind::nic, DeviceKind::leaf_switch, DeviceKind::spine_switch}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view to_string(LinkKind kind) {
  switch (kind) {
    case LinkKind::nvlink:
      return "nvlink";
    case LinkKind::pcie:
      return "pcie";
    case LinkKind::cpu:
      return "cpu";
    case LinkKind::network:
      return "network";
  }
  return "?";
}

std::optional<LinkKind> parse_link_kind(std::string_view name) {
  for (auto k : {LinkKind::nvlink, LinkKind::pcie, LinkKind::cpu, LinkKind::network}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

Topology::Topology(std::string name, std::string gpu_model)
    : name_(std::move(name)), gpu_model_(std::move(gpu_model)) {}
Topology::~Topology() = default;
Topology::Topology(Topology&&) noexcept = default;
Topology& Topology::operator=(Topology&&) noexcept = default;
Topology::Topology(const Topology& o)
    : name_(o.name_),
      gpu_model_(o.gpu_model_),
      description_(o.description_),
      sources_(o.sources_),
      devices_(o.devices_),
      links_(o.links_),
      gpus_(o.gpus_),
      local_rank_(o.local_rank_),
      node_count_(o.node_count_),
      routes_(o.routes_ ? std::make_unique<Routes>(*o.routes_) : nullptr) {}
Topology& Topology::operator=(const Topology& o) {
  if (this != &o) *this = Topology(o);
  return *this;
}

DeviceIndex Topology::add_device(Device device) {
  MOESIM_CHECK(!finalized(), "add_device after finalize");
  MOESIM_CHECK(!find_device(device.name), "duplicate device name {}", device.name);
  devices_.push_back(std::move(device));
  return static_cast<DeviceIndex>(devices_.size() - 1);
}

LinkIndex Topology::add_link(DeviceIndex a, DeviceIndex b, LinkSpec spec) {
  MOESIM_CHECK(!finalized(), "add_link after finalize");
  MOESIM_CHECK(a < devices_.size() && b < devices_.size() && a != b, "bad link {} - {}", a, b);
  MOESIM_CHECK(spec.bandwidth.bytes_per_s > 0 && spec.efficiency > 0 && spec.efficiency <= 1,
               "bad link spec");
  links_.push_back(Link{a, b, spec});
  return static_cast<LinkIndex>(links_.size() - 1);
}

void Topology::add_source(std::string key, std::string text) {
  sources_.emplace_back(std::move(key), std::move(text));
}

std::optional<DeviceIndex> Topology::find_device(std::string_view name) const {
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i].name == name) return static_cast<DeviceIndex>(i);
  }
  return std::nullopt;
}

DeviceIndex Topology::head_of(DirectedLinkId d) const {
  const Link& l = links_[d / 2];
  return d % 2 == 0 ? l.b : l.a;
}

DeviceIndex Topology::tail_of(DirectedLinkId d) const {
  const Link& l = links_[d / 2];
  return d % 2 == 0 ? l.a : l.b;
}

bool Topology::node_has_nvswitch(int node) const {
  return std::any_of(devices_.begin(), devices_.end(), [&](const Device& d) {
    return d.kind == DeviceKind::nvswitch && d.node == node;
  });
}

void Topology::finalize(std::string_view origin) {
  MOESIM_CHECK(!finalized(), "finalize twice");
  gpus_.clear();
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    const Device& d = devices_[i];
    if (d.kind != DeviceKind::gpu) continue;
    if (d.node < 0) {
      throw input_error(origin, fmt::format("/devices/{}", i), "GPU outside any node",
                        fmt::format("node {}", d.node), "node >= 0");
    }
    gpus_.push_back(static_cast<DeviceIndex>(i));
  }
  if (gpus_.empty()) {
    throw input_error(origin, "/devices", "no GPU", "0 devices of kind \"gpu\"", "at least one");
  }
  // Nodes: dense 0..k-1, same GPU count each.
  std::map<int, std::size_t> per_node;
  for (DeviceIndex g : gpus_) ++per_node[devices_[g].node];
  node_count_ = per_node.size();
  if (per_node.rbegin()->first != static_cast<int>(node_count_) - 1) {
    throw input_error(
        origin, "/devices", "node numbers are not dense",
        fmt::format("{} nodes numbered up to {}", node_count_, per_node.rbegin()->first),
        fmt::format("nodes 0..{}", node_count_ - 1));
  }
  const std::size_t per = per_node.begin()->second;
  for (const auto& [node, count] : per_node) {
    if (count != per) {
      throw input_error(origin, "/devices", fmt::format("node {} has a different GPU count", node),
                        fmt::format("{}", count), fmt::format("{} as node 0", per));
    }
  }
  local_rank_.assign(gpus_.size(), 0);
  std::map<int, std::uint32_t> seen;
  for (std::size_t r = 0; r < gpus_.size(); ++r) local_rank_[r] = seen[devices_[gpus_[r]].node]++;

  // Out-links per device, in directed-link order (the ECMP candidates' order).
  const std::size_t n = devices_.size();
  std::vector<std::vector<DirectedLinkId>> out(n);
  Graph g(n);
  std::vector<std::int64_t> weight(links_.size());
  for (std::size_t i = 0; i < links_.size(); ++i) {
    weight[i] = link_weight(links_[i].spec, devices_[links_[i].a].kind == DeviceKind::cpu ||
                                                devices_[links_[i].b].kind == DeviceKind::cpu);
    const auto w = weight[i];
    out[links_[i].a].push_back(static_cast<DirectedLinkId>(2 * i));
    out[links_[i].b].push_back(static_cast<DirectedLinkId>(2 * i + 1));
    boost::add_edge(links_[i].a, links_[i].b, EdgeProps{w}, g);
    boost::add_edge(links_[i].b, links_[i].a, EdgeProps{w}, g);
  }
  std::vector<char> is_gpu(n, 0);
  for (DeviceIndex gi : gpus_) is_gpu[gi] = 1;

  auto routes = std::make_unique<Routes>();
  routes->offsets.resize(gpus_.size());
  routes->next.resize(gpus_.size());
  constexpr auto kInf = std::numeric_limits<std::int64_t>::max();
  std::vector<std::int64_t> dist(n);
  for (std::size_t dst_rank = 0; dst_rank < gpus_.size(); ++dst_rank) {
    const DeviceIndex dst = gpus_[dst_rank];
    NoGpuTransit keep{&is_gpu, dst};
    boost::filtered_graph<Graph, NoGpuTransit> fg(g, keep);
    std::fill(dist.begin(), dist.end(), kInf);
    boost::dijkstra_shortest_paths(fg, dst,
                                   boost::weight_map(boost::get(&EdgeProps::weight, g))
                                       .distance_map(boost::make_iterator_property_map(
                                           dist.begin(), boost::get(boost::vertex_index, g)))
                                       .distance_inf(kInf));
    for (std::size_t src_rank = 0; src_rank < gpus_.size(); ++src_rank) {
      if (dist[gpus_[src_rank]] == kInf) {
        throw input_error(origin, fmt::format("/devices/{}", gpus_[src_rank]),
                          fmt::format("GPU \"{}\" cannot reach GPU \"{}\"",
                                      devices_[gpus_[src_rank]].name, devices_[dst].name),
                          "no path that avoids passing through other GPUs",
                          "every GPU connected to every other");
      }
    }
    auto& offsets = routes->offsets[dst_rank];
    auto& next = routes->next[dst_rank];
    offsets.assign(n + 1, 0);
    for (std::size_t u = 0; u < n; ++u) {
      offsets[u] = static_cast<std::uint32_t>(next.size());
      if (u == dst || dist[u] == kInf) continue;
      for (DirectedLinkId d : out[u]) {
        const DeviceIndex v = head_of(d);
        if (dist[v] == kInf || (is_gpu[v] && v != dst)) continue;
        if (dist[v] + weight[d / 2] == dist[u]) next.push_back(d);
      }
    }
    offsets[n] = static_cast<std::uint32_t>(next.size());
    next.shrink_to_fit();
  }
  routes_ = std::move(routes);
}

void Topology::route(RankId src, RankId dst, std::vector<DirectedLinkId>& out) const {
  MOESIM_CHECK(finalized(), "route before finalize");
  MOESIM_CHECK(src.index() < gpus_.size() && dst.index() < gpus_.size(), "rank out of range");
  const auto& offsets = routes_->offsets[dst.index()];
  const auto& next = routes_->next[dst.index()];
  const DeviceIndex target = gpus_[dst.index()];
  DeviceIndex u = gpus_[src.index()];
  // Destination-based choice among equal next hops (InfiniBand fat-tree "D-mod-K" routing, as
  // OpenSM's ftree engine programs the forwarding tables): the key is node + local rank of the
  // destination, so an all-to-all spreads evenly over the spines at every cluster size.
  const std::uint32_t dest_key =
      static_cast<std::uint32_t>(devices_[target].node) + local_rank_[dst.index()];
  while (u != target) {
    const std::uint32_t begin = offsets[u];
    const std::uint32_t count = offsets[u + 1] - begin;
    MOESIM_CHECK(count > 0, "no next hop from {} to {}", devices_[u].name, devices_[target].name);
    const std::uint32_t pick = count == 1 ? 0 : dest_key % count;
    const DirectedLinkId d = next[begin + pick];
    out.push_back(d);
    u = head_of(d);
  }
}

std::vector<DirectedLinkId> Topology::route(RankId src, RankId dst) const {
  std::vector<DirectedLinkId> out;
  route(src, dst, out);
  return out;
}

SimTime Topology::route_latency(RankId src, RankId dst) const {
  SimTime total = SimTime::zero();
  for (DirectedLinkId d : route(src, dst)) total += links_[d / 2].spec.latency;
  return total;
}

Bandwidth Topology::route_bandwidth(RankId src, RankId dst) const {
  double best = std::numeric_limits<double>::infinity();
  for (DirectedLinkId d : route(src, dst)) best = std::min(best, capacity(d));
  return {best};
}

Bandwidth Topology::gpu_injection(RankId rank) const {
  const DeviceIndex g = gpu_device(rank);
  double total = 0;
  for (const Link& l : links_) {
    if (l.a == g || l.b == g) total += l.spec.bandwidth.bytes_per_s;
  }
  return {total};
}

Bandwidth Topology::gpu_network_injection(RankId rank) const {
  const int node = node_of(rank);
  double total = 0;
  for (const Link& l : links_) {
    if (l.spec.kind != LinkKind::network) continue;
    for (DeviceIndex end : {l.a, l.b}) {
      const Device& d = devices_[end];
      if (d.kind == DeviceKind::nic && d.node == node) total += l.spec.bandwidth.bytes_per_s;
    }
  }
  return {total / static_cast<double>(gpus_per_node())};
}

Bandwidth Topology::bisection_bandwidth() const {
  if (gpus_.size() < 2) return {0.0};
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using FlowGraph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<
          boost::edge_capacity_t, std::int64_t,
          boost::property<boost::edge_residual_capacity_t, std::int64_t,
                          boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  const std::size_t n = devices_.size();
  FlowGraph fg(n + 2);
  auto cap = boost::get(boost::edge_capacity, fg);
  auto rev = boost::get(boost::edge_reverse, fg);
  // Capacities in MB/s as integers so the max flow is exact.
  auto add_pair = [&](std::size_t a, std::size_t b, std::int64_t ab, std::int64_t ba) {
    auto e1 = boost::add_edge(a, b, fg).first;
    auto e2 = boost::add_edge(b, a, fg).first;
    cap[e1] = ab;
    cap[e2] = ba;
    rev[e1] = e2;
    rev[e2] = e1;
  };
  for (const Link& l : links_) {
    const auto c = static_cast<std::int64_t>(std::llround(l.spec.bandwidth.bytes_per_s / 1e6));
    add_pair(l.a, l.b, c, c);
  }
  const std::size_t source = n;
  const std::size_t sink = n + 1;
  constexpr std::int64_t kUnbounded = std::int64_t{1} << 50;
  const std::size_t half = gpus_.size() / 2;
  for (std::size_t r = 0; r < gpus_.size(); ++r) {
    if (r < half) {
      add_pair(source, gpus_[r], kUnbounded, 0);
    } else {
      add_pair(gpus_[r], sink, kUnbounded, 0);
    }
  }
  const std::int64_t flow = boost::push_relabel_max_flow(fg, source, sink);
  return {static_cast<double>(flow) * 1e6};
}

}  // namespace moesim::network
